// constant-fold — evaluates pure nodes whose operands are all constants and
// replaces their results by constants, with the same kernels that run the
// program: the target's constant evaluator (TargetInfo::constant_evaluator,
// the CPU kernels for every target backends/ offers), so folding never
// changes a result. Without a target, or with one that has no evaluator, it
// folds nothing and says so in its statistics ("no constant evaluator").
// Needs: a verified graph. Preserves: node order; never folds side
// effects, region ops, views of non-constants, or results larger than
// kMaxFoldedElements (a folded constant is embedded in the IR).
//
//   %0 = constant() {value=dense<2.0>} : f32[]
//   %1 = constant() {value=dense<3.0>} : f32[]        %3 = constant() {value=dense<5.0>} : f32[]
//   %2 = add(%0, %1) : f32[]                     ->     %4 = mul(%x, %3) : f32[4]
//   %4 = mul(%x, %2) : f32[4]
#include <memory>
#include <vector>

#include <duet/passes/pass.h>

namespace duet::passes {
namespace {

constexpr int64_t kMaxFoldedElements = int64_t(1) << 16;

bool foldable(const Node& n) {
  if (!n.op().has(kPure) || n.is_side_effecting() || n.op().has(kStructural) || n.num_regions() > 0) return false;
  if (n.num_results() == 0) return false;
  for (int i = 0; i < n.num_results(); ++i) {
    const ValueType& t = n.result(i)->type();
    if (t.is_token || !t.tensor.shape.is_static() || t.tensor.shape.numel() > kMaxFoldedElements) return false;
  }
  for (Value* v : n.operands())
    if (!v->producer() || v->producer()->name() != "constant") return false;
  return true;
}

int fold_graph(Graph& g, PassContext& ctx, ConstantEvaluator eval) {
  int folded = 0;
  const OpDef& constant = op_def("constant");
  for (Node* n : g.nodes_snapshot()) {
    for (int r = 0; r < n->num_regions(); ++r) folded += fold_graph(*n->region(r), ctx, eval);
    if (!foldable(*n)) continue;
    std::vector<const DenseData*> operands;
    for (Value* v : n->operands()) operands.push_back(v->producer()->attrs().get_dense("value").data.get());
    std::vector<TensorType> types;
    for (int i = 0; i < n->num_results(); ++i) types.push_back(n->result(i)->type().tensor);
    std::vector<DenseData> results;
    if (!eval(n->op(), operands, n->attrs(), types, &results)) {
      ctx.remark(n->name() + ": not folded (the evaluator declined)");
      continue;
    }
    for (int i = 0; i < n->num_results(); ++i) {
      Attrs attrs{{"value", Dense{std::make_shared<DenseData>(std::move(results[i]))}}};
      Node* c = g.create(constant, {}, {n->result(i)->type()}, attrs, n->loc(), n);
      n->result(i)->replace_all_uses_with(c->result());
    }
    n->erase();
    ++folded;
  }
  return folded;
}

PassResult constant_fold(Graph& g, PassContext& ctx) {
  ConstantEvaluator eval = ctx.target ? ctx.target->constant_evaluator() : nullptr;
  if (!eval) {
    ctx.stat("folded", 0);
    ctx.stat("no constant evaluator");
    ctx.remark(ctx.target ? "constant-fold: folded nothing: the target (" + ctx.target->name() +
                                ") has no constant evaluator"
                          : std::string("constant-fold: folded nothing: no target given, so no constant evaluator"));
    return PassResult::unchanged();
  }
  int folded = fold_graph(g, ctx, eval);
  ctx.stat("folded", folded);
  return PassResult::changed_if(folded > 0);
}

}  // namespace

DUET_PASS("constant-fold", constant_fold, "evaluate pure nodes of constant operands with the CPU kernels");

}  // namespace duet::passes
