// Public reductions and normalizations: sum, mean, max, min, argmax,
// softmax, log_softmax, one_hot.
#include <duet/runtime/dispatch.h>
#include <duet/graph/ops/infer_util.h>
#include <duet/runtime/gradient.h>
#include <duet/runtime/ops.h>

namespace duet {

namespace {
const OpDef& k_sum = op_def("sum");
const OpDef& k_mean = op_def("mean");
const OpDef& k_max = op_def("max");
const OpDef& k_min = op_def("min");
const OpDef& k_argmax = op_def("argmax");
const OpDef& k_softmax = op_def("softmax");
const OpDef& k_log_softmax = op_def("log_softmax");
const OpDef& k_one_hot = op_def("one_hot");

Tensor reduce(const OpDef& op, const Tensor& a, const Axes& axes, bool keepdims, Loc loc) {
  Attrs attrs{{"axes", axes.vec()}, {"keepdims", keepdims}};
  return dispatch1(op, {&a}, attrs, loc);
}

Tensor along_axis(const OpDef& op, const Tensor& a, int64_t axis, Loc loc) {
  Attrs attrs{{"axis", axis}};
  return dispatch1(op, {&a}, attrs, loc);
}
}  // namespace

Tensor sum(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_sum, a, axes, keepdims, loc); }
Tensor mean(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_mean, a, axes, keepdims, loc); }
Tensor max(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_max, a, axes, keepdims, loc); }
Tensor min(const Tensor& a, const Axes& axes, bool keepdims, Loc loc) { return reduce(k_min, a, axes, keepdims, loc); }
Tensor argmax(const Tensor& a, int64_t axis, Loc loc) { return along_axis(k_argmax, a, axis, loc); }
Tensor softmax(const Tensor& a, int64_t axis, Loc loc) { return along_axis(k_softmax, a, axis, loc); }
Tensor log_softmax(const Tensor& a, int64_t axis, Loc loc) { return along_axis(k_log_softmax, a, axis, loc); }

Tensor one_hot(const Tensor& labels, int64_t depth, Loc loc) {
  Attrs attrs{{"depth", depth}};
  return dispatch1(k_one_hot, {&labels}, attrs, loc);
}

}  // namespace duet

namespace duet {

namespace {
// The reduced input's shape with 1 at every reduced axis (keepdims).
Shape kept_shape(const Tensor& x, const Attrs& attrs, int64_t* count) {
  std::vector<int> axes = reduction_axes(attrs.get_ints("axes"), x.rank());
  Shape s = x.shape();
  *count = 1;
  for (int a : axes) {
    *count *= s.dim(a);
    s.at(a) = 1;
  }
  return s;
}
}  // namespace

// ---- gradient rules --------------------------------------------------------------------

DUET_GRAD(sum) {                                                  // every element gets g
  int64_t count;
  Shape kept = kept_shape(ctx.in(0), ctx.attrs, &count);
  return {broadcast_to(reshape(ctx.grad(), kept), ctx.in(0).shape())};
}
DUET_GRAD(mean) {                                                 // every element gets g / count
  int64_t count;
  Shape kept = kept_shape(ctx.in(0), ctx.attrs, &count);
  return {broadcast_to(reshape(ctx.grad(), kept), ctx.in(0).shape()) / static_cast<double>(count)};
}
static std::vector<Tensor> extremum_grad(const GradContext& ctx) {  // shared evenly by the ties
  const Tensor& x = ctx.in(0);
  int64_t count;
  Shape kept = kept_shape(x, ctx.attrs, &count);
  std::vector<int64_t> axes;
  for (int a : reduction_axes(ctx.attrs.get_ints("axes"), x.rank())) axes.push_back(a);
  Tensor mask = cast(equal(x, reshape(ctx.result(), kept)), x.dtype());
  Tensor ties = sum(mask, axes, /*keepdims=*/true);
  return {mask * reshape(ctx.grad(), kept) / ties};
}
DUET_GRAD(max) { return extremum_grad(ctx); }
DUET_GRAD(min) { return extremum_grad(ctx); }
DUET_GRAD(softmax) {                                              // y (g - sum(g y))
  const Tensor& y = ctx.result();
  int64_t axis = ctx.attrs.get_int("axis");
  return {y * (ctx.grad() - sum(ctx.grad() * y, {axis}, true))};
}
DUET_GRAD(log_softmax) {                                          // g - softmax sum(g)
  int64_t axis = ctx.attrs.get_int("axis");
  return {ctx.grad() - exp(ctx.result()) * sum(ctx.grad(), {axis}, true)};
}

}  // namespace duet
