// Ops that gradients need and users rarely call: stop_gradient, scatter_add
// (the gradient of gather), and the backward passes of conv2d and max_pool2d.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <duet/graph/op_def.h>
#include <duet/graph/ops/infer_util.h>

namespace duet {
namespace {

void infer_identity(InferContext& ctx) { ctx.results.push_back(ctx.in(0)); }

// scatter_add(base, indices, updates) {axis}: base with updates added at the
// indices along axis; updates has gather's result shape.
void infer_scatter_add(InferContext& ctx) {
  const TensorType& base = ctx.in(0);
  const TensorType& idx = ctx.in(1);
  const TensorType& upd = ctx.in(2);
  if (!is_integral(idx.dtype)) ctx.dtype_error(fmt::format("indices must be i32 or i64, got {}", ctx.operand_types()));
  if (base.dtype != upd.dtype) ctx.dtype_error(fmt::format("base and updates differ: {}", ctx.operand_types()));
  if (base.shape.rank() == 0) ctx.shape_error(fmt::format("cannot scatter into a rank-0 tensor ({})", ctx.operand_types()));
  int axis = ctx.normalize_axis(ctx.attrs().get_int("axis"), base.shape.rank());
  Shape want;
  for (int i = 0; i < axis; ++i) want.push_back(base.shape.dim(i));
  for (int64_t d : idx.shape) want.push_back(d);
  for (int i = axis + 1; i < base.shape.rank(); ++i) want.push_back(base.shape.dim(i));
  if (!(want == upd.shape))
    ctx.shape_error(fmt::format("updates must be {} for these indices, got {}", want.str(), upd.shape.str()));
  ctx.results.push_back(base);
}

void infer_conv2d_backward_input(InferContext& ctx) {
  const TensorType& dy = ctx.in(0);
  const TensorType& w = ctx.in(1);
  if (dy.dtype != w.dtype || !is_floating(dy.dtype))
    ctx.dtype_error(fmt::format("expects floating operands of one dtype, got {}", ctx.operand_types()));
  Shape x(ctx.attrs().get_ints("input_shape"));
  if (x.rank() != 4 || dy.shape.rank() != 4 || w.shape.rank() != 4)
    ctx.shape_error(fmt::format("expects rank-4 operands and input_shape, got {} and {}", ctx.operand_types(), x.str()));
  x.at(0) = dy.shape.dim(0);  // the batch follows dy (it may be dynamic in the attribute)
  ctx.add_result(dy.dtype, x);
}

void infer_conv2d_backward_filter(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const TensorType& dy = ctx.in(1);
  if (dy.dtype != x.dtype || !is_floating(x.dtype))
    ctx.dtype_error(fmt::format("expects floating operands of one dtype, got {}", ctx.operand_types()));
  Shape w(ctx.attrs().get_ints("filter_shape"));
  if (w.rank() != 4 || dy.shape.rank() != 4 || x.shape.rank() != 4)
    ctx.shape_error(fmt::format("expects rank-4 operands and filter_shape, got {} and {}", ctx.operand_types(), w.str()));
  ctx.add_result(x.dtype, w);
}

void infer_max_pool2d_backward(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const TensorType& dy = ctx.in(1);
  if (x.dtype != dy.dtype) ctx.dtype_error(fmt::format("operand dtypes differ: {}", ctx.operand_types()));
  if (x.shape.rank() != 4 || dy.shape.rank() != 4)
    ctx.shape_error(fmt::format("expects rank-4 operands, got {}", ctx.operand_types()));
  ctx.results.push_back(x);
}

void infer_max_pool2d_pick(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const TensorType& g = ctx.in(1);
  if (x.dtype != g.dtype) ctx.dtype_error(fmt::format("operand dtypes differ: {}", ctx.operand_types()));
  if (x.shape.rank() != 4 || !(x.shape == g.shape))
    ctx.shape_error(fmt::format("expects two rank-4 operands of one shape, got {}", ctx.operand_types()));
  int64_t k = ctx.attrs().get_int("kernel"), s = ctx.attrs().get_int("stride");
  ctx.add_result(x.dtype, Shape{x.shape.dim(0), x.shape.dim(1), window_out(x.shape.dim(2), k, s, 0),
                                window_out(x.shape.dim(3), k, s, 0)});
}

}  // namespace

DUET_OP(stop_gradient).traits(kPure | kView | kNotDifferentiable).operands(1).infer(infer_identity);
DUET_OP(scatter_add).traits(kPure).operands(3).attr("axis", AttrKind::integer).infer(infer_scatter_add);
DUET_OP(conv2d_backward_input).traits(kPure).operands(2)
    .attr("stride", AttrKind::integer).attr("padding", AttrKind::integer).attr("input_shape", AttrKind::ints)
    .infer(infer_conv2d_backward_input);
DUET_OP(conv2d_backward_filter).traits(kPure).operands(2)
    .attr("stride", AttrKind::integer).attr("padding", AttrKind::integer).attr("filter_shape", AttrKind::ints)
    .infer(infer_conv2d_backward_filter);
DUET_OP(max_pool2d_backward).traits(kPure).operands(2)
    .attr("kernel", AttrKind::integer).attr("stride", AttrKind::integer).infer(infer_max_pool2d_backward);
// max_pool2d_pick(x, g): g [N,C,H,W] read at each window's first maximum of x
// -> [N,C,HO,WO] (the transpose of max_pool2d_backward in its gradient).
DUET_OP(max_pool2d_pick).traits(kPure).operands(2)
    .attr("kernel", AttrKind::integer).attr("stride", AttrKind::integer).infer(infer_max_pool2d_pick);

}  // namespace duet
