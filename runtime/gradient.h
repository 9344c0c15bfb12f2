// Gradient rules (DESIGN.md §2.1): each differentiable op's rule lives beside
// its public function in runtime/ops/<family>.cpp, written with duet ops, so
// the same rule runs eagerly, is recorded into a trace, and can be
// differentiated again. Registered by op name with DUET_GRAD.
#pragma once

#include <vector>

#include <duet/graph/op_def.h>
#include <duet/runtime/tensor.h>

namespace duet {

// What a rule sees: the op's inputs, outputs and attributes, and the
// gradient of each output (undefined for an output nothing depends on).
struct GradContext {
  const OpDef& op;
  const std::vector<Tensor>& inputs;
  const std::vector<Tensor>& outputs;
  const Attrs& attrs;
  const std::vector<Tensor>& output_grads;
  Loc loc;
  const Tensor& in(int i) const { return inputs[i]; }
  const Tensor& result() const { return outputs[0]; }
  const Tensor& grad() const { return output_grads[0]; }
};

// Returns one gradient per input; an undefined Tensor for an input that gets
// none (an index, a condition).
using GradFn = std::vector<Tensor> (*)(const GradContext&);

void register_gradient(const char* op_name, GradFn fn);
GradFn find_gradient(const OpDef& op);

// Sums `g` over the dims that broadcasting added or stretched, so it has
// `shape` (the gradient of a broadcast operand).
Tensor unbroadcast(const Tensor& g, const Shape& shape, Loc loc = Loc::current());

}  // namespace duet

#define DUET_GRAD_CONCAT2(a, b) a##b
#define DUET_GRAD_CONCAT(a, b) DUET_GRAD_CONCAT2(a, b)
// DUET_GRAD(exp) { return {ctx.grad() * ctx.result()}; }
#define DUET_GRAD(op)                                                                       \
  static std::vector<::duet::Tensor> DUET_GRAD_CONCAT(duet_grad_, op)(const ::duet::GradContext& ctx); \
  static const bool DUET_GRAD_CONCAT(duet_grad_reg_, op) =                                 \
      (::duet::register_gradient(#op, DUET_GRAD_CONCAT(duet_grad_, op)), true);           \
  static std::vector<::duet::Tensor> DUET_GRAD_CONCAT(duet_grad_, op)(const ::duet::GradContext& ctx)
