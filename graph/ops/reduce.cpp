// Reductions (sum, mean, max, min, argmax) and the normalizations over one
// axis (softmax, log_softmax).
#include <algorithm>

#include <fmt/format.h>

#include <duet/graph/op_def.h>
#include <duet/graph/ops/infer_util.h>

namespace duet {
namespace {

Shape reduced_shape(const Shape& in, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  for (int i = 0; i < in.rank(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) out.push_back(in.dim(i));
    else if (keepdims) out.push_back(1);
  }
  return out;
}

template <bool kFloatOnly, bool kNeedsIdentity>
void infer_reduce(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (x.dtype == DType::b8) ctx.dtype_error(fmt::format("expects numbers, got {}; cast b8 first", x.str()));
  if (kFloatOnly && !is_floating(x.dtype))
    ctx.dtype_error(fmt::format("expects a floating dtype, got {}; cast first", x.str()));
  std::vector<int> axes = reduction_axes(ctx.attrs().get_ints("axes"), x.shape.rank(), &ctx);
  if (kNeedsIdentity)
    for (int a : axes)
      if (x.shape.dim(a) == 0)
        ctx.shape_error(fmt::format("cannot reduce the empty axis {} of {}: there is no identity", a, x.str()));
  ctx.add_result(x.dtype, reduced_shape(x.shape, axes, ctx.attrs().get_bool("keepdims")));
}

void infer_argmax(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (x.dtype == DType::b8) ctx.dtype_error(fmt::format("expects numbers, got {}", x.str()));
  int axis = ctx.normalize_axis(ctx.attrs().get_int("axis"), x.shape.rank());
  if (x.shape.rank() > 0 && x.shape.dim(axis) == 0)
    ctx.shape_error(fmt::format("argmax of the empty axis {} of {}", axis, x.str()));
  Shape out;
  for (int i = 0; i < x.shape.rank(); ++i)
    if (i != axis) out.push_back(x.shape.dim(i));
  ctx.add_result(DType::i64, out);
}

void infer_softmax(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (!is_floating(x.dtype)) ctx.dtype_error(fmt::format("expects a floating dtype, got {}", x.str()));
  if (x.shape.rank() == 0) ctx.shape_error(fmt::format("expects rank >= 1, got {}", x.str()));
  ctx.normalize_axis(ctx.attrs().get_int("axis"), x.shape.rank());
  ctx.results.push_back(x);
}

}  // namespace

DUET_OP(sum).traits(kPure | kReduction).operands(1)
    .attr("axes", AttrKind::ints).attr("keepdims", AttrKind::boolean).infer(infer_reduce<false, false>);
DUET_OP(mean).traits(kPure | kReduction).operands(1)
    .attr("axes", AttrKind::ints).attr("keepdims", AttrKind::boolean).infer(infer_reduce<true, false>);
DUET_OP(max).traits(kPure | kReduction).operands(1)
    .attr("axes", AttrKind::ints).attr("keepdims", AttrKind::boolean).infer(infer_reduce<false, true>);
DUET_OP(min).traits(kPure | kReduction).operands(1)
    .attr("axes", AttrKind::ints).attr("keepdims", AttrKind::boolean).infer(infer_reduce<false, true>);
DUET_OP(argmax).traits(kPure | kReduction | kNotDifferentiable).operands(1)
    .attr("axis", AttrKind::integer).infer(infer_argmax);
DUET_OP(softmax).traits(kPure).operands(1).attr("axis", AttrKind::integer).infer(infer_softmax);
DUET_OP(log_softmax).traits(kPure).operands(1).attr("axis", AttrKind::integer).infer(infer_softmax);

}  // namespace duet
