// cse — common-subexpression elimination: a pure node equal to an earlier one
// (same op, operands, attributes and result types) is replaced by it.
// Needs: a verified graph. Preserves: node order; side-effecting nodes, nodes
// with regions and nodes with different attributes are never merged. An
// expression inside a region may reuse one from an enclosing graph (it
// dominates), never one from a sibling region.
//
//   %0 = exp(%a) : f32[4]            %0 = exp(%a) : f32[4]
//   %1 = exp(%a) : f32[4]     ->     %2 = add(%0, %0) : f32[4]
//   %2 = add(%0, %1) : f32[4]
#include <unordered_map>
#include <vector>

#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

struct Key {
  const OpDef* op;
  std::vector<Value*> operands;
  std::string attrs;
  std::vector<std::string> types;
  bool operator==(const Key& o) const {
    return op == o.op && operands == o.operands && attrs == o.attrs && types == o.types;
  }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = std::hash<const void*>()(k.op);
    for (Value* v : k.operands) h = h * 1000003u ^ std::hash<const void*>()(v);
    h = h * 1000003u ^ std::hash<std::string>()(k.attrs);
    for (const std::string& t : k.types) h = h * 1000003u ^ std::hash<std::string>()(t);
    return h;
  }
};

using Table = std::unordered_map<Key, Node*, KeyHash>;

bool eligible(const Node& n) {
  return n.op().has(kPure) && !n.is_side_effecting() && n.num_regions() == 0 && n.num_results() > 0;
}

int cse_graph(Graph& g, std::vector<Table>& scopes) {
  int merged = 0;
  scopes.emplace_back();
  for (Node* n : g.nodes_snapshot()) {
    for (int r = 0; r < n->num_regions(); ++r) merged += cse_graph(*n->region(r), scopes);
    if (!eligible(*n)) continue;
    Key key{&n->op(), n->operands(), n->attrs().str(), {}};
    for (int i = 0; i < n->num_results(); ++i) key.types.push_back(n->result(i)->type().str());
    Node* found = nullptr;
    for (auto it = scopes.rbegin(); it != scopes.rend() && !found; ++it) {
      auto f = it->find(key);
      if (f != it->end()) found = f->second;
    }
    if (!found) {
      scopes.back().emplace(std::move(key), n);
      continue;
    }
    for (int i = 0; i < n->num_results(); ++i) n->result(i)->replace_all_uses_with(found->result(i));
    n->erase();
    ++merged;
  }
  scopes.pop_back();
  return merged;
}

PassResult cse(Graph& g, PassContext& ctx) {
  std::vector<Table> scopes;
  int merged = cse_graph(g, scopes);
  ctx.stat("merged", merged);
  return PassResult::changed_if(merged > 0);
}

}  // namespace

DUET_PASS("cse", cse, "merge equal pure nodes");

}  // namespace duet::passes
