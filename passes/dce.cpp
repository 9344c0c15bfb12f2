// dce — dead-code elimination: erases pure nodes whose results nobody uses,
// inside regions too. Needs: a verified graph. Preserves: the order of the
// remaining nodes; never removes a side effect (or a node whose regions hold
// one).
//
//   %0 = exp(%a) : f32[4]
//   %1 = neg(%a) : f32[4]     ->     %1 = neg(%a) : f32[4]
//   return %1                        return %1
#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

int dce_graph(Graph& g) {
  int removed = 0;
  std::vector<Node*> nodes = g.nodes_snapshot();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* n = *it;
    for (int r = 0; r < n->num_regions(); ++r) removed += dce_graph(*n->region(r));
    if (n->unused() && n->is_removable()) {
      n->erase();
      ++removed;
    }
  }
  return removed;
}

PassResult dce(Graph& g, PassContext& ctx) {
  int removed = dce_graph(g);
  ctx.stat("erased", removed);
  return PassResult::changed_if(removed > 0);
}

}  // namespace

DUET_PASS("dce", dce, "erase unused pure nodes");

}  // namespace duet::passes
