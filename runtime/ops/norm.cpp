// Public layer_norm and rms_norm, and their gradients. One op each on the
// CPU (backends/cpu/norm.cpp) and in traces; eagerly on a device with no row
// kernel yet (CUDA), the same math as duet ops (generated kernels, not the
// host path a traced call takes there: docs/cuda.md), after the op's own
// type checks.
#include <fmt/format.h>

#include <duet/runtime/dispatch.h>
#include <duet/runtime/gradient.h>
#include <duet/runtime/ops.h>

namespace duet {

namespace {
const OpDef& k_layer_norm = op_def("layer_norm");
const OpDef& k_rms_norm = op_def("rms_norm");

// Whether the op runs as one kernel here; if not, its operands are checked as
// dispatch would, so the composite fails with the op's own message.
bool as_one_op(const OpDef& op, std::initializer_list<const Tensor*> in, const Attrs& attrs, SrcLoc loc) {
  for (const Tensor* t : in)
    if (!t->defined()) return true;  // dispatch names the undefined operand
  if (current_recorder() || in.begin()[0]->device().is_cpu()) return true;
  std::vector<TensorType> types;
  for (const Tensor* t : in) types.push_back(t->type());
  std::vector<const TensorType*> ptrs;
  for (const TensorType& t : types) ptrs.push_back(&t);
  InferContext ctx(op, ptrs.data(), static_cast<int>(ptrs.size()), attrs, effective_location(loc));
  op.run_infer(ctx);
  return false;
}

// x - mean and 1 / sqrt(var + eps) over the last axis, written with duet ops:
// the composite forward and the gradient share them.
struct Centered {
  Tensor d, rstd;
};
Centered centered(const Tensor& x, double eps, Loc loc) {
  Tensor d = sub(Operand(x, loc), Operand(mean(x, {-1}, true, loc), loc));
  return {d, rsqrt(add(Operand(mean(square(d, loc), {-1}, true, loc), loc), Operand(eps, loc)), loc)};
}
// 1 / sqrt(mean(x^2) + eps) over the last axis.
Tensor inverse_rms(const Tensor& x, double eps, Loc loc) {
  return rsqrt(add(Operand(mean(square(x, loc), {-1}, true, loc), loc), Operand(eps, loc)), loc);
}

// Sum over every axis but the last: the gradient of a [D] scale or shift.
Tensor sum_rows(const Tensor& g) {
  if (g.rank() == 1) return g;
  std::vector<int64_t> axes;
  for (int64_t a = 0; a + 1 < g.rank(); ++a) axes.push_back(a);
  return sum(g, axes);
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Loc loc) {
  Attrs attrs{{"eps", eps}};
  if (as_one_op(k_layer_norm, {&x, &gamma, &beta}, attrs, loc)) return dispatch1(k_layer_norm, {&x, &gamma, &beta}, attrs, loc);
  Centered c = centered(x, eps, loc);
  return add(Operand(mul(Operand(mul(Operand(c.d, loc), Operand(c.rstd, loc)), loc), Operand(gamma, loc)), loc),
             Operand(beta, loc));
}

Tensor rms_norm(const Tensor& x, const Tensor& gamma, double eps, Loc loc) {
  Attrs attrs{{"eps", eps}};
  if (as_one_op(k_rms_norm, {&x, &gamma}, attrs, loc)) return dispatch1(k_rms_norm, {&x, &gamma}, attrs, loc);
  Tensor r = inverse_rms(x, eps, loc);
  return mul(Operand(mul(Operand(x, loc), Operand(r, loc)), loc), Operand(gamma, loc));
}

// xhat = (x - mean) rstd, y = xhat gamma + beta, gy = g gamma:
// dx = rstd (gy - mean(gy) - xhat mean(gy xhat)), dgamma = sum(g xhat), dbeta = sum(g).
DUET_GRAD(layer_norm) {
  const Tensor &x = ctx.in(0), &gamma = ctx.in(1), &g = ctx.grad();
  const double eps = ctx.attrs.get_float("eps");
  Centered c = centered(x, eps, ctx.loc);
  Tensor rstd = c.rstd, xhat = c.d * c.rstd;
  Tensor gy = g * gamma;
  Tensor dx = rstd * (gy - mean(gy, {-1}, true) - xhat * mean(gy * xhat, {-1}, true));
  return {dx, sum_rows(g * xhat), sum_rows(g)};
}

// r = rsqrt(mean(x^2) + eps), y = x r gamma, gy = g gamma:
// dx = r (gy - x r^2 mean(gy x)), dgamma = sum(g x r).
DUET_GRAD(rms_norm) {
  const Tensor &x = ctx.in(0), &gamma = ctx.in(1), &g = ctx.grad();
  const double eps = ctx.attrs.get_float("eps");
  Tensor r = inverse_rms(x, eps, ctx.loc);
  Tensor gy = g * gamma;
  Tensor dx = r * (gy - x * square(r) * mean(gy * x, {-1}, true));
  return {dx, sum_rows(g * x * r)};
}

}  // namespace duet
