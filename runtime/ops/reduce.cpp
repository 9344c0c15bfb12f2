// Public reductions and normalizations: sum, mean, max, min, argmax,
// softmax, log_softmax, one_hot.
#include <fmt/format.h>

#include <duet/runtime/device.h>
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

Tensor var(const Tensor& a, const Axes& axes, bool keepdims, int64_t correction, Loc loc) {
  if (!a.defined()) throw Error(format_error("var", "the tensor is undefined", loc));
  if (!is_floating(a.dtype()))
    throw DTypeError(format_error("var", fmt::format("expects a floating tensor, got {}", a.type().str()), loc));
  if (correction < 0) throw Error(format_error("var", fmt::format("correction must be >= 0, got {}", correction), loc));
  Tensor d = sub(Operand(a, loc), Operand(mean(a, axes, /*keepdims=*/true, loc), loc));
  Tensor m = mean(square(d, loc), axes, keepdims, loc);
  if (correction == 0) return m;
  int64_t n = 1;
  for (int axis : reduction_axes(axes.vec(), a.rank())) {
    const int64_t dim = a.shape().dim(axis);
    if (dim < 0)
      throw ShapeError(format_error(
          "var", fmt::format("correction {} needs the reduced dims of {} to be static (dim {} is dynamic)", correction,
                             a.type().str(), axis), loc));
    n *= dim;
  }
  // n <= correction: no degrees of freedom left; inf or NaN, as numpy and PyTorch.
  return mul(Operand(m, loc), Operand(double(n) / double(n - correction), loc));
}

Tensor one_hot(const Tensor& labels, int64_t depth, Loc loc) {
  Attrs attrs{{"depth", depth}};
  return dispatch1(k_one_hot, {&labels}, attrs, loc);
}

}  // namespace duet

namespace duet {

namespace {
// g with every reduced axis back as a size-1 dim, broadcast to x's shape
// (dynamic-safe: expand_dims and broadcast_like, never a static shape).
Tensor spread(const GradContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor g = ctx.grad();
  std::vector<int> axes = reduction_axes(ctx.attrs.get_ints("axes"), x.rank());
  if (!ctx.attrs.get_bool("keepdims"))
    for (int a : axes) g = expand_dims(g, a);
  return broadcast_like(g, x);
}

std::vector<int64_t> reduced_axes(const GradContext& ctx) {
  std::vector<int64_t> out;
  for (int a : reduction_axes(ctx.attrs.get_ints("axes"), ctx.in(0).rank())) out.push_back(a);
  return out;
}

// How many elements each output reduced: a constant when the reduced dims
// are static, else counted at run time.
Tensor reduced_count(const GradContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t count = 1;
  bool dynamic = false;
  for (int64_t a : reduced_axes(ctx)) {
    if (x.shape().dim(static_cast<int>(a)) < 0) dynamic = true;
    else count *= x.shape().dim(static_cast<int>(a));
  }
  DeviceScope on(x.device());  // beside the gradient it divides
  if (!dynamic) return scalar(static_cast<double>(count), x.dtype());
  return sum(broadcast_like(scalar(1.0, x.dtype()), x), reduced_axes(ctx), /*keepdims=*/true);
}
}  // namespace

// ---- gradient rules --------------------------------------------------------------------

DUET_GRAD(sum) { return {spread(ctx)}; }                          // every element gets g
DUET_GRAD(mean) { return {spread(ctx) / reduced_count(ctx)}; }   // every element gets g / count
static std::vector<Tensor> extremum_grad(const GradContext& ctx) {  // shared evenly by the ties
  const Tensor& x = ctx.in(0);
  Tensor y = ctx.result();
  if (!ctx.attrs.get_bool("keepdims"))
    for (int64_t a : reduced_axes(ctx)) y = expand_dims(y, a);
  Tensor mask = cast(equal(x, broadcast_like(y, x)), x.dtype());
  Tensor ties = sum(mask, reduced_axes(ctx), /*keepdims=*/true);
  return {mask * spread(ctx) / ties};
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
