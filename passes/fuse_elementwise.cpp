// fuse-elementwise — groups chains of elementwise ops into `fusion` nodes
// whose region holds the body, so a code generator can emit one loop per
// group (until then the Program engine steps through the body).
// Needs: a verified graph. Preserves: results and side effects; a group is
// convex (no value leaves it and comes back), is placed where its last
// member was, and every value it exports is used only after that point. A
// node that cannot join its producer's group says why (duet-opt
// --explain-fusion prints the reasons).
//
//   %0 = mul(%x, %a) : f32[8]          %2 = fusion(%x, %a, %b) : f32[8] {
//   %1 = add(%0, %b) : f32[8]    ->    ^(%p0: f32[8], %p1: f32[8], %p2: f32[8]):
//   %2 = tanh(%1) : f32[8]               ... yield %t
//                                       }
#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include <duet/graph/printer.h>
#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

bool fusible(const Node& n) {
  if (!n.op().has(kElementwise) || !n.op().has(kPure) || n.num_regions() > 0 || n.num_results() != 1) return false;
  return !n.result()->type().is_token;
}

struct Group {
  std::vector<Node*> members;  // in graph order
  std::unordered_set<const Node*> set;
};

int fuse_graph(Graph& g, PassContext& ctx) {
  for (const auto& n : g.nodes())
    for (int r = 0; r < n->num_regions(); ++r) fuse_graph(*n->region(r), ctx);
  std::vector<Node*> order = g.nodes_snapshot();
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::vector<Group> groups;
  std::unordered_map<const Node*, size_t> group_of;
  for (Node* n : order) {
    if (!fusible(*n)) continue;
    // Join the group of the latest fusible producer if the group stays legal.
    long best = -1;
    for (Value* v : n->operands()) {
      Node* p = v->producer();
      if (!p || p->parent() != &g || !group_of.count(p)) continue;
      best = std::max<long>(best, static_cast<long>(group_of[p]));
    }
    bool joined = false;
    if (best >= 0) {
      Group& G = groups[static_cast<size_t>(best)];
      std::string why;
      // Every value the group exports so far must be used only after n.
      for (Node* m : G.members) {
        for (const Use& u : m->result()->uses()) {
          Node* user = u.user;
          while (user && user->parent() != &g) user = user->parent()->parent_node();  // a use inside a region
          if (!user || user == n || G.set.count(user)) continue;
          if (position[user] < position[n]) {
            why = fmt::format("{} is used by {} before it", print_node(*m), user->name());
            break;
          }
        }
        if (!why.empty()) break;
      }
      // Operands from another group, defined after this group began, would break convexity.
      for (Value* v : n->operands()) {
        Node* p = v->producer();
        if (!why.empty() || !p || p->parent() != &g || G.set.count(p)) continue;
        if (position[p] > position[G.members.front()] && group_of.count(p) && group_of[p] != static_cast<size_t>(best))
          why = fmt::format("operand {} comes from another group", print_node(*p));
        else if (position[p] > position[G.members.front()] && !fusible(*p))
          why = fmt::format("operand {} is not elementwise and sits inside the group's span", print_node(*p));
      }
      if (why.empty()) {
        G.members.push_back(n);
        G.set.insert(n);
        group_of[n] = static_cast<size_t>(best);
        joined = true;
      } else {
        ctx.remark(fmt::format("fuse-elementwise: {} starts a new group: {}", print_node(*n), why));
      }
    }
    if (!joined) {
      groups.push_back(Group{{n}, {n}});
      group_of[n] = groups.size() - 1;
    }
  }
  int fused = 0;
  const OpDef& fusion = op_def("fusion");
  for (Group& G : groups) {
    if (G.members.size() < 2) continue;
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
      bool outside = std::any_of(m->result()->uses().begin(), m->result()->uses().end(),
                                 [&](const Use& u) { return !G.set.count(u.user); });
      bool returned = std::find(g.results().begin(), g.results().end(), m->result()) != g.results().end();
      if (outside || returned) exported.push_back(m);
    }
    std::vector<ValueType> types;
    for (Node* m : exported) types.push_back(m->result()->type());
    Node* last = G.members.back();
    Node* f = g.create(fusion, inputs, types, {}, last->loc(), last);
    Graph* body = f->add_region();
    std::unordered_map<const Value*, Value*> inside;
    for (size_t i = 0; i < inputs.size(); ++i) inside[inputs[i]] = body->add_param(inputs[i]->type());
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
    ctx.stat("fused nodes", static_cast<int64_t>(G.members.size()));
    ++fused;
  }
  ctx.stat("fusions", fused);
  return fused;
}

PassResult fuse_elementwise(Graph& g, PassContext& ctx) { return PassResult::changed_if(fuse_graph(g, ctx) > 0); }

}  // namespace

DUET_PASS("fuse-elementwise", fuse_elementwise, "group elementwise chains into fusion nodes");

}  // namespace duet::passes
