// canonicalize — algebraic rewrites that keep every result bit, written as
// data: a pattern (the op and a test on the node) and the value that
// replaces the node's result; reshape(reshape(x)) is the one rewrite outside
// the table, since it rewires the outer node instead of replacing it.
// Needs: a verified graph. Preserves: node order; side effects and region
// ops are never touched; a rewrite applies only when the replacement has the
// node's exact type (no rewrite changes a broadcast shape or a dtype). A
// replaced node stays in the graph, unused, for dce.
//
//   %1 = mul(%x, %one) : i32[4]        (%one a constant 1)
//   %2 = neg(%1) : i32[4]        ->    return %x
//   %3 = neg(%2) : i32[4]
//   return %3
//
// The same graph in f32 keeps both negs (x*1 -> x still applies): neg is
// 0 - x, so neg(neg(-0.0)) is +0.0.
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

// The value every element of a constant holds, when they are all equal.
std::optional<double> splat(const Value* v) {
  const Node* n = v->producer();
  if (!n || n->name() != "constant") return std::nullopt;
  const DenseData& d = *n->attrs().get_dense("value").data;
  int64_t count = d.shape.numel();
  if (count <= 0) return std::nullopt;
  auto at = [&](int64_t i) -> double {
    const uint8_t* p = d.bytes.data();
    switch (d.dtype) {
      case DType::b8: return p[i];
      case DType::i32: return reinterpret_cast<const int32_t*>(p)[i];
      case DType::i64: return static_cast<double>(reinterpret_cast<const int64_t*>(p)[i]);
      case DType::f32: return reinterpret_cast<const float*>(p)[i];
      case DType::f64: return reinterpret_cast<const double*>(p)[i];
    }
    return 0;
  };
  double first = at(0);
  for (int64_t i = 1; i < count; ++i)
    if (at(i) != first || std::signbit(at(i)) != std::signbit(first)) return std::nullopt;
  return first;
}

bool is(const Value* v, double x) {
  auto s = splat(v);
  return s && *s == x && std::signbit(*s) == std::signbit(x);
}

bool same_type(const Value* a, const Node& n) { return a->type() == n.result()->type(); }

// A rule: the op it matches and what replaces the node's result (nullptr: no match).
struct Rule {
  const char* op;
  const char* text;  // the rewrite, as its one-line comment says
  std::function<Value*(Node&)> apply;
};

Value* operand_if(Node& n, int keep, bool match) { return match && same_type(n.operand(keep), n) ? n.operand(keep) : nullptr; }

std::vector<int64_t> normalized_perm(const Node& n) {
  std::vector<int64_t> p = n.attrs().get_ints("perm");
  int64_t r = static_cast<int64_t>(p.size());
  for (int64_t& a : p) a = a < 0 ? a + r : a;
  return p;
}

const std::vector<Rule>& rules() {
  static const std::vector<Rule> table = {
      // x * 1 -> x, 1 * x -> x
      {"mul", "x*1 -> x", [](Node& n) { return operand_if(n, 0, is(n.operand(1), 1)); }},
      {"mul", "1*x -> x", [](Node& n) { return operand_if(n, 1, is(n.operand(0), 1)); }},
      // x / 1 -> x
      {"div", "x/1 -> x", [](Node& n) { return operand_if(n, 0, is(n.operand(1), 1)); }},
      // x - 0 -> x (exact, -0 included)
      {"sub", "x-0 -> x", [](Node& n) { return operand_if(n, 0, is(n.operand(1), 0)); }},
      // x + 0 -> x: integers always; floats only for -0.0, since -0 + +0 is +0
      {"add", "x+0 -> x", [](Node& n) {
         bool integral = !is_floating(n.result()->type().tensor.dtype);
         Value* r = operand_if(n, 0, integral ? is(n.operand(1), 0) : is(n.operand(1), -0.0));
         return r ? r : operand_if(n, 1, integral ? is(n.operand(0), 0) : is(n.operand(0), -0.0));
       }},
      // neg(neg(x)) -> x for integers; not for floats, where neg is 0 - x and
      // neg(neg(-0.0)) is +0.0
      {"neg", "neg(neg(x)) -> x (integers)", [](Node& n) -> Value* {
         Node* inner = n.operand(0)->producer();
         if (is_floating(n.result()->type().tensor.dtype)) return nullptr;
         return inner && inner->name() == "neg" ? inner->operand(0) : nullptr;
       }},
      // transpose(transpose(x, p), q) -> x when q undoes p
      {"transpose", "transpose(transpose(x)) -> x", [](Node& n) -> Value* {
         Node* inner = n.operand(0)->producer();
         if (!inner || inner->name() != "transpose") return nullptr;
         std::vector<int64_t> p = normalized_perm(*inner), q = normalized_perm(n);
         for (size_t i = 0; i < q.size(); ++i)
           if (p[static_cast<size_t>(q[i])] != static_cast<int64_t>(i)) return nullptr;
         return inner->operand(0)->type() == n.result()->type() ? inner->operand(0) : nullptr;
       }},
      // transpose(x, identity) -> x
      {"transpose", "transpose(x, identity) -> x", [](Node& n) -> Value* {
         std::vector<int64_t> p = normalized_perm(n);
         for (size_t i = 0; i < p.size(); ++i)
           if (p[i] != static_cast<int64_t>(i)) return nullptr;
         return operand_if(n, 0, true);
       }},
      // reshape(x) to x's own static shape -> x (also expand/squeeze that change nothing)
      {"reshape", "reshape(x) -> x when the shape is x's", [](Node& n) -> Value* {
         const Shape& s = n.operand(0)->type().tensor.shape;
         return operand_if(n, 0, s.is_static());
       }},
      // broadcast_to(x, x's shape) -> x
      {"broadcast_to", "broadcast_to(x, shape of x) -> x", [](Node& n) { return operand_if(n, 0, true); }},
      // broadcast_like(x, y) -> broadcast_to(x, shape of y) when that shape is
      // known at trace time: y is no longer needed, and a constant x folds
      {"broadcast_like", "broadcast_like(x, y) -> broadcast_to(x, static shape of y)", [](Node& n) -> Value* {
         const Shape& s = n.result()->type().tensor.shape;
         if (!s.is_static()) return nullptr;
         if (n.operand(0)->type() == n.result()->type()) return n.operand(0);
         Attrs attrs;
         attrs.set("shape", s.vec());
         return n.parent()->create(op_def("broadcast_to"), {n.operand(0)}, {n.result()->type()}, attrs, n.loc(), &n)->result();
       }},
      // cast(x, x's dtype) -> x
      {"cast", "cast(x, dtype of x) -> x", [](Node& n) { return operand_if(n, 0, true); }},
  };
  return table;
}

// reshape(reshape(x, a), b) -> reshape(x, b): rewires the outer node in place.
bool fold_reshape_chain(Node& n) {
  if (n.name() != "reshape") return false;
  Node* inner = n.operand(0)->producer();
  if (!inner || inner->name() != "reshape") return false;
  n.set_operand(0, inner->operand(0));
  return true;
}

int canonicalize_graph(Graph& g, PassContext& ctx) {
  int rewrites = 0;
  for (Node* n : g.nodes_snapshot()) {
    for (int r = 0; r < n->num_regions(); ++r) rewrites += canonicalize_graph(*n->region(r), ctx);
    if (!n->op().has(kPure) || n->is_side_effecting() || n->num_regions() > 0 || n->num_results() != 1) continue;
    if (fold_reshape_chain(*n)) {
      ctx.stat("reshape(reshape(x)) -> reshape(x)");
      ++rewrites;
    }
    for (const Rule& rule : rules()) {
      if (n->name() != rule.op) continue;
      Value* replacement = rule.apply(*n);
      if (!replacement) continue;
      n->result()->replace_all_uses_with(replacement);
      ctx.stat(rule.text);
      ++rewrites;
      break;  // the node is dead now; dce erases it
    }
  }
  return rewrites;
}

PassResult canonicalize(Graph& g, PassContext& ctx) { return PassResult::changed_if(canonicalize_graph(g, ctx) > 0); }

}  // namespace

DUET_PASS("canonicalize", canonicalize, "algebraic rewrites that keep every result bit (x*1 -> x, ...)");

}  // namespace duet::passes
