// fuse-matmul-epilogue — a matmul followed by a bias add and an activation
// becomes one `fused_matmul` node, which the CPU backend runs as the product
// plus one pass over it while it is in cache: the product is written once
// instead of three times. A transpose of the last two dims feeding the
// matmul (autodiff's x^T g) is dropped too, when the target reads the
// operand through strides (transpose_a / transpose_b). The pass asks the
// TargetInfo what the target fuses and does nothing without one.
// Needs: a verified graph. Preserves: results; the fused node takes the
// place of the chain's last node, so every operand is defined before it. A
// value in the chain used by anything else keeps the chain apart there, and
// every matmul left alone says why (duet-opt --explain-fusion).
//
//   %0 = matmul(%x, %w) : f32[8,4]
//   %1 = add(%0, %b) : f32[8,4]       ->   %2 = fused_matmul(%x, %w, %b) {activation="relu"} : f32[8,4]
//   %2 = relu(%1) : f32[8,4]
#include <string>
#include <vector>

#include <fmt/format.h>

#include <duet/graph/printer.h>
#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

bool is_activation(const std::string& op) { return op == "relu" || op == "tanh" || op == "sigmoid" || op == "gelu"; }

// A transpose that swaps only the last two dims.
bool swaps_last_two(const Node& n) {
  if (n.name() != "transpose") return false;
  std::vector<int64_t> p = n.attrs().get_ints("perm");
  const int64_t r = static_cast<int64_t>(p.size());
  if (r < 2) return false;
  for (int64_t& a : p) a = a < 0 ? a + r : a;
  for (int64_t i = 0; i + 2 < r; ++i)
    if (p[static_cast<size_t>(i)] != i) return false;
  return p[static_cast<size_t>(r - 2)] == r - 1 && p[static_cast<size_t>(r - 1)] == r - 2;
}

// The single user of v, when v has exactly one use and is not returned.
Node* only_user(const Value* v) {
  if (v->uses().size() != 1 || !v->producer() || v->unused() || !v->region_yielders().empty()) return nullptr;
  const Graph* g = v->producer()->parent();
  for (const Value* r : g->results())
    if (r == v) return nullptr;
  Node* user = v->uses()[0].user;
  return user->parent() == g ? user : nullptr;
}

int fuse_graph(Graph& g, PassContext& ctx) {
  int fused = 0;
  std::vector<Node*> matmuls;  // collected first: fusing erases the nodes after a matmul
  for (const auto& n : g.nodes()) {
    for (int r = 0; r < n->num_regions(); ++r)
      if (n->name() != "fusion") fused += fuse_graph(*n->region(r), ctx);
    if (n->name() == "matmul") matmuls.push_back(n.get());
  }
  for (Node* n : matmuls) {
    const TensorType& out = n->result()->type().tensor;
    std::vector<Node*> chain{n};
    Value* bias = nullptr;
    std::string why;
    Node* add = only_user(n->result());
    if (add && add->name() == "add" && add->result()->type() == n->result()->type() &&
        add->operand(0) != add->operand(1)) {
      bias = add->operand(add->operand(0) == n->result() ? 1 : 0);
      chain.push_back(add);
    }
    Value* bias2 = nullptr;  // a second add of a bias the target takes (an RNN cell's + b)
    if (bias) {
      Node* add2 = only_user(chain.back()->result());
      if (add2 && add2->name() == "add" && add2->result()->type() == n->result()->type() &&
          add2->operand(0) != add2->operand(1)) {
        Value* b2 = add2->operand(add2->operand(0) == chain.back()->result() ? 1 : 0);
        if (ctx.target->fuses_epilogue(n->op(), out.dtype, out.shape, &b2->type().tensor.shape, "none")) {
          bias2 = b2;
          chain.push_back(add2);
        }
      }
    }
    Node* act = only_user(chain.back()->result());
    std::string activation = "none";
    if (act && is_activation(act->name())) {
      activation = act->name();
      chain.push_back(act);
    }
    const Shape* bias_shape = bias ? &bias->type().tensor.shape : nullptr;
    while (chain.size() > 1 && !ctx.target->fuses_epilogue(n->op(), out.dtype, out.shape, bias_shape, activation)) {
      why = fmt::format("the target ({}) does not fuse {}{} into a {} matmul", ctx.target->name(),
                        bias ? "a bias " + bias->type().str() : std::string("no bias"),
                        activation == "none" ? "" : " and " + activation, out.str());
      if (activation != "none") {  // try the bias alone
        activation = "none";
        chain.pop_back();
        if (!bias) chain = {n};
      } else {
        chain = {n};
        bias2 = nullptr;
      }
    }
    // Transposes feeding the product, read through strides instead.
    Node* transposed[2] = {nullptr, nullptr};
    for (int k = 0; k < 2; ++k) {
      Node* t = n->operand(k)->producer();
      if (t && t->parent() == &g && swaps_last_two(*t) && only_user(t->result()) == n &&
          ctx.target->reads_transposed(n->op(), out.dtype))
        transposed[k] = t;
    }
    const bool any_transposed = transposed[0] || transposed[1];
    if (chain.size() == 1 && !any_transposed) {
      if (why.empty()) {
        Node* user = only_user(n->result());
        why = user ? fmt::format("its only user, {}, is neither a bias add of its shape nor an activation", user->name())
                   : "its result has several uses or is returned";
      }
      ctx.remark(fmt::format("fuse-matmul-epilogue: {} keeps its epilogue apart: {}", print_node(*n), why));
      continue;
    }
    if (!why.empty() && chain.size() > 1)
      ctx.remark(fmt::format("fuse-matmul-epilogue: {}: partly fused: {}", print_node(*n), why));
    Node* last = chain.back();
    std::vector<Value*> operands;
    for (int k = 0; k < 2; ++k) operands.push_back(transposed[k] ? transposed[k]->operand(0) : n->operand(k));
    if (chain.size() > 1 && bias) operands.push_back(bias);
    if (chain.size() > 1 && bias2) operands.push_back(bias2);
    Attrs attrs;
    attrs.set("activation", chain.size() > 1 ? activation : std::string("none"));
    if (transposed[0]) attrs.set("transpose_a", true);
    if (transposed[1]) attrs.set("transpose_b", true);
    Node* f = g.create(op_def("fused_matmul"), operands, {last->result()->type()}, attrs, n->loc(), last);
    last->result()->replace_all_uses_with(f->result());
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) (*it)->erase();
    for (Node* t : transposed)
      if (t) t->erase();
    if (any_transposed) ctx.stat("transposes read through strides", (transposed[0] ? 1 : 0) + (transposed[1] ? 1 : 0));
    if (chain.size() > 1) ctx.stat(activation == "none" ? "bias fused" : "bias and activation fused");
    ++fused;
  }
  return fused;
}

PassResult fuse_matmul_epilogue(Graph& g, PassContext& ctx) {
  if (!ctx.target) {
    ctx.remark("fuse-matmul-epilogue: no target given, nothing fused");
    return PassResult::unchanged();
  }
  return PassResult::changed_if(fuse_graph(g, ctx) > 0);
}

}  // namespace

DUET_PASS("fuse-matmul-epilogue", fuse_matmul_epilogue,
          "matmul + bias add + activation -> fused_matmul (what the target fuses)");

}  // namespace duet::passes
