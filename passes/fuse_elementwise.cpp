// fuse-elementwise — groups elementwise ops into `fusion` nodes whose region
// holds the body, so a code generator can emit one kernel per group: the
// lowering (codegen/lower.cpp) compiles a fusion that the generator of the
// Program's device takes (codegen/kernel_ir.h, fusion_refusal) and steps
// through the body of any other with the eager kernels. Three kinds of
// grouping:
//  - chains: an elementwise op joins the group of its latest producer
//    (broadcasts included);
//  - a trailing reduction (sum, mean, max, min) joins the group that produces
//    its operand when the operand has the group's iteration shape; the group
//    then closes (the reduction's consumers iterate over another space);
//  - siblings: groups with the same iteration shape that read a common input
//    (and end in no reduction) merge into one multi-output fusion, so the
//    input is read once.
// Needs: a verified graph. Preserves: results and side effects; a group is
// convex (no value leaves it and comes back), is placed where its last
// member was, and every value it exports is used only after that point.
// Every refusal says why (duet-opt --explain-fusion prints the reasons).
//
//   %0 = mul(%x, %a) : f32[8]          %0 = fusion(%x, %a, %b) : f32[8] {
//   %1 = add(%0, %b) : f32[8]    ->    ^(%arg0: f32[8], %arg1: f32[8], %arg2: f32[8]):
//   %2 = tanh(%1) : f32[8]               %1 = mul(%arg0, %arg1) : f32[8]
//   return %2                            %2 = add(%1, %arg2) : f32[8]
//                                        %3 = tanh(%2) : f32[8]
//                                        yield %3
//                                      }
//                                      return %0
#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include <duet/graph/printer.h>
#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

// The nodes that read v: its users, and the nodes whose regions yield it.
std::vector<Node*> readers(const Value* v) {
  std::vector<Node*> out = v->region_yielders();
  for (const Use& u : v->uses()) out.push_back(u.user);
  return out;
}

bool fusible(const Node& n) {
  if (!n.op().has(kElementwise) || !n.op().has(kPure) || n.num_regions() > 0 || n.num_results() != 1) return false;
  return !n.result()->type().is_token;
}

bool trailing_reduction(const Node& n) {
  const std::string& op = n.name();
  return n.op().has(kReduction) && (op == "sum" || op == "mean" || op == "max" || op == "min") && n.num_results() == 1;
}

// The larger iteration space of two shapes (rank first, then elements; a
// dynamic dim counts as large).
const Shape& larger(const Shape& a, const Shape& b) {
  if (a.rank() != b.rank()) return a.rank() > b.rank() ? a : b;
  auto size = [](const Shape& s) {
    double n = 1;
    for (int64_t d : s) n *= d < 0 ? 1e9 : static_cast<double>(d);
    return n;
  };
  return size(b) > size(a) ? b : a;
}

struct Group {
  std::vector<Node*> members;  // in graph order
  std::unordered_set<const Node*> set;
  Shape space;                 // the iteration shape of its elementwise members
  bool closed = false;         // ends in a reduction
  bool alive = true;           // false once merged into another group
};

struct Grouping {
  Graph& g;
  PassContext& ctx;
  std::unordered_map<const Node*, size_t> position;
  std::vector<Group> groups;
  std::unordered_map<const Node*, size_t> group_of;

  // The node of this graph that holds `user` (a use inside a region counts as its region op).
  Node* top(Node* user) const {
    while (user && user->parent() != &g) user = user->parent()->parent_node();
    return user;
  }

  // Why `n` may not join G ("" when it may): every value G exports must be
  // used only after n, and no operand of n may come from another group or a
  // non-fusible node inside G's span (convexity).
  std::string refusal(const Group& G, const Node& n) {
    for (Node* m : G.members)
      for (Node* reader : readers(m->result())) {
        Node* user = top(reader);
        if (!user || user == &n || G.set.count(user)) continue;
        if (position.at(user) < position.at(&n))
          return fmt::format("{} is used by {} before it", print_node(*m), user->name());
      }
    size_t gi = group_of.at(G.members.front());
    for (Value* v : n.operands()) {
      Node* p = v->producer();
      if (!p || p->parent() != &g || G.set.count(p) || position.at(p) < position.at(G.members.front())) continue;
      if (p->num_operands() == 0) continue;  // a constant depends on nothing
      if (group_of.count(p) && group_of.at(p) != gi)
        return fmt::format("operand {} comes from another group", print_node(*p));
      if (!group_of.count(p))
        return fmt::format("operand {} is not elementwise and sits inside the group's span", print_node(*p));
    }
    return "";
  }

  void add_to(size_t gi, Node* n) {
    groups[gi].members.push_back(n);
    groups[gi].set.insert(n);
    group_of[n] = gi;
  }

  void start(Node* n) {
    groups.push_back(Group{{n}, {n}, n->result()->type().tensor.shape});
    group_of[n] = groups.size() - 1;
  }

  void scan() {
    for (Node* n : g.nodes_snapshot()) position[n] = position.size();
    for (Node* n : g.nodes_snapshot()) {
      bool reduction = trailing_reduction(*n);
      if (!fusible(*n) && !reduction) continue;
      long best = -1;  // the latest producer's group
      for (Value* v : n->operands()) {
        Node* p = v->producer();
        if (p && p->parent() == &g && group_of.count(p)) best = std::max<long>(best, static_cast<long>(group_of[p]));
      }
      std::string why;
      if (best >= 0) {
        Group& G = groups[static_cast<size_t>(best)];
        if (G.closed) why = "the group ends in a reduction";
        else if (reduction && !(n->operand(0)->type().tensor.shape == G.space))
          why = fmt::format("its operand is {}, the group iterates over [{}]", n->operand(0)->type().str(),
                            fmt::join(G.space, ","));
        else why = refusal(G, *n);
        if (why.empty()) {
          add_to(static_cast<size_t>(best), n);
          if (reduction) G.closed = true;
          else G.space = larger(G.space, n->result()->type().tensor.shape);
          continue;
        }
      } else if (reduction) {
        continue;  // a reduction alone is no group
      }
      if (best >= 0) ctx.remark(fmt::format("fuse-elementwise: {} starts a new group: {}", print_node(*n), why));
      if (!reduction) start(n);
    }
  }

  // Why A and B may not merge as siblings ("" when they may): the merged
  // fusion sits at the later group's end, so every value either exports
  // must be used only after that point.
  std::string sibling_refusal(const Group& A, const Group& B) {
    if (!(A.space == B.space)) return "their iteration shapes differ";
    if (A.closed || B.closed) return "one ends in a reduction";
    size_t end = std::max(position.at(A.members.back()), position.at(B.members.back()));
    for (const Group* G : {&A, &B})
      for (Node* m : G->members)
        for (Node* reader : readers(m->result())) {
          Node* user = top(reader);
          if (!user || A.set.count(user) || B.set.count(user)) continue;
          if (position.at(user) < end)
            return fmt::format("{} is used by {} before the later group ends", print_node(*m), user->name());
        }
    return "";
  }

  // A value one group exports only because another group reads it, made by
  // one cheap op (add, sub, mul, ...) of values from outside its group, is
  // recomputed in the reader instead (a clone of the op, placed before its
  // user): reading two inputs again costs less than writing the value out and
  // reading it back. Layernorm's x - mean, for one.
  void duplicate_cheap_producers() {
    for (size_t h = 0; h < groups.size(); ++h) {
      Group& H = groups[h];
      if (!H.alive) continue;
      for (size_t k = 0; k < H.members.size(); ++k) {
        Node* n = H.members[k];
        for (int i = 0; i < n->num_operands(); ++i) {
          Node* m = n->operand(i)->producer();
          if (!m || m->parent() != &g || !group_of.count(m) || group_of.at(m) == h) continue;
          const Group& G = groups[group_of.at(m)];
          if (!G.alive || G.members.size() < 2 || !cheap(*m) || m == G.members.back()) continue;
          bool leaf = true;  // m's operands come from outside G
          for (Value* v : m->operands()) leaf = leaf && !(v->producer() && G.set.count(v->producer()));
          if (!leaf) continue;
          Node* clone = g.create(m->op(), m->operands(), {m->result()->type()}, m->attrs(), m->loc(), n);
          n->set_operand(i, clone->result());
          group_of[clone] = h;
          H.set.insert(clone);
          H.members.insert(H.members.begin() + static_cast<long>(k), clone);
          ++k;
          ctx.stat("cheap producers recomputed");
          ctx.remark(fmt::format("fuse-elementwise: {} is recomputed where it is read instead of exported", print_node(*m)));
        }
      }
    }
  }

  static bool cheap(const Node& n) {
    switch (n.op().scalar_op()) {
      case ScalarOp::add: case ScalarOp::sub: case ScalarOp::mul: case ScalarOp::neg: case ScalarOp::abs:
      case ScalarOp::square: case ScalarOp::maximum: case ScalarOp::minimum: case ScalarOp::relu:
        return fusible(n);
      default:
        return false;
    }
  }

  void merge_siblings() {
    std::unordered_map<const Value*, std::vector<size_t>> readers;  // input -> groups reading it, in order
    for (size_t i = 0; i < groups.size(); ++i) {
      std::unordered_set<const Value*> seen;
      for (Node* m : groups[i].members)
        for (Value* v : m->operands()) {
          bool shared = !v->type().is_token && v->type().tensor.shape.rank() > 0 &&
                        !(v->producer() && groups[i].set.count(v->producer()));
          if (shared && seen.insert(v).second) readers[v].push_back(i);
        }
    }
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!groups[i].alive) continue;
      std::vector<const Value*> inputs;
      for (Node* m : groups[i].members)
        for (Value* v : m->operands())
          if (!(v->producer() && groups[i].set.count(v->producer()))) inputs.push_back(v);
      for (const Value* v : inputs) {
        auto it = readers.find(v);
        if (it == readers.end()) continue;
        for (size_t j : it->second) {
          if (j <= i || !groups[j].alive) continue;
          Group &A = groups[i], &B = groups[j];
          std::string why = sibling_refusal(A, B);
          if (!why.empty()) {
            ctx.remark(fmt::format("fuse-elementwise: the groups of {} and {} read the same input but stay apart: {}",
                                   print_node(*A.members[0]), print_node(*B.members[0]), why));
            continue;
          }
          for (Node* m : B.members) {
            A.set.insert(m);
            group_of[m] = i;
          }
          A.members.insert(A.members.end(), B.members.begin(), B.members.end());
          std::sort(A.members.begin(), A.members.end(),
                    [&](const Node* x, const Node* y) { return position.at(x) < position.at(y); });
          B.alive = false;
          ctx.stat("sibling groups merged");
        }
      }
    }
  }
};

// Replaces a group's members by one fusion node at the last member's place.
void materialize(Graph& g, const Group& G) {
  // Inputs: values from outside the group, in first-use order.
  std::vector<Value*> inputs;
  std::unordered_map<const Value*, int> input_index;
  for (Node* m : G.members)
    for (Value* v : m->operands())
      if (!(v->producer() && G.set.count(v->producer())) && !input_index.count(v)) {
        input_index[v] = static_cast<int>(inputs.size());
        inputs.push_back(v);
      }
  // Outputs: member results used outside the group or returned.
  std::vector<Node*> exported;
  for (Node* m : G.members) {
    std::vector<Node*> r = readers(m->result());
    bool outside = std::any_of(r.begin(), r.end(), [&](Node* user) { return !G.set.count(user); });
    bool returned = std::find(g.results().begin(), g.results().end(), m->result()) != g.results().end();
    if (outside || returned) exported.push_back(m);
  }
  std::vector<ValueType> types;
  for (Node* m : exported) types.push_back(m->result()->type());
  Node* last = G.members.back();
  Node* f = g.create(op_def("fusion"), inputs, types, {}, last->loc(), last);
  Graph* body = f->add_region();
  std::unordered_map<const Value*, Value*> inside;
  for (Value* v : inputs) inside[v] = body->add_param(v->type());
  for (Node* m : G.members) {
    std::vector<Value*> ops;
    for (Value* v : m->operands()) ops.push_back(inside.at(v));
    Node* c = body->create(m->op(), ops, {m->result()->type()}, m->attrs(), m->loc());
    inside[m->result()] = c->result();
  }
  std::vector<Value*> yields;
  for (Node* m : exported) yields.push_back(inside.at(m->result()));
  body->set_results(yields);
  for (size_t k = 0; k < exported.size(); ++k) exported[k]->result()->replace_all_uses_with(f->result(static_cast<int>(k)));
  for (auto it = G.members.rbegin(); it != G.members.rend(); ++it) (*it)->erase();
}

int fuse_graph(Graph& g, PassContext& ctx) {
  for (const auto& n : g.nodes())
    for (int r = 0; r < n->num_regions(); ++r)
      if (n->name() != "fusion") fuse_graph(*n->region(r), ctx);  // a body is one group already
  Grouping grouping{g, ctx, {}, {}, {}};
  grouping.scan();
  grouping.merge_siblings();
  grouping.duplicate_cheap_producers();
  int fused = 0;
  for (const Group& G : grouping.groups) {
    if (!G.alive || G.members.size() < 2) continue;
    materialize(g, G);
    ctx.stat("fused nodes", static_cast<int64_t>(G.members.size()));
    if (G.closed) ctx.stat("reductions fused");
    ++fused;
  }
  ctx.stat("fusions", fused);
  return fused;
}

PassResult fuse_elementwise(Graph& g, PassContext& ctx) { return PassResult::changed_if(fuse_graph(g, ctx) > 0); }

}  // namespace

DUET_PASS("fuse-elementwise", fuse_elementwise, "group elementwise chains, siblings and trailing reductions into fusion nodes");

}  // namespace duet::passes
