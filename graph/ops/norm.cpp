// Normalizations over the last axis: layer_norm and rms_norm (one op each, so
// the tracer, the passes and the kernels see a row normalization, not the
// reductions and elementwise ops it is made of).
#include <fmt/format.h>

#include <duet/graph/op_def.h>
#include <duet/graph/ops/infer_util.h>

namespace duet {
namespace {

// x: floating, rank >= 1; each scale/shift operand: x's dtype, shape [D] with
// D x's last dim; eps > 0.
void infer_row_norm(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (!is_floating(x.dtype)) ctx.dtype_error(fmt::format("expects a floating input, got {}", ctx.operand_types()));
  if (x.shape.rank() < 1) ctx.shape_error(fmt::format("expects rank >= 1, got {}", x.str()));
  const int64_t d = x.shape[-1];
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    const TensorType& p = ctx.in(i);
    if (p.dtype != x.dtype)
      ctx.dtype_error(fmt::format("operand dtypes differ: {}", ctx.operand_types()));
    if (p.shape.rank() != 1 || (p.shape[0] >= 0 && d >= 0 && p.shape[0] != d))
      ctx.shape_error(fmt::format("operand {} must have the shape [{}] of the input's last dim, got {}", i,
                                  d >= 0 ? std::to_string(d) : std::string("?"), ctx.operand_types()));
  }
  const double eps = ctx.attrs().get_float("eps");
  if (!(eps > 0.0)) ctx.error(fmt::format("eps must be > 0, got {} ({})", eps, ctx.operand_types()));
  ctx.results.push_back(x);
}

}  // namespace

DUET_OP(layer_norm).traits(kPure).operands(3).attr("eps", AttrKind::real).infer(infer_row_norm)
    .summary("(x - mean) / sqrt(var + eps) * gamma + beta over the last axis");
DUET_OP(rms_norm).traits(kPure).operands(2).attr("eps", AttrKind::real).infer(infer_row_norm)
    .summary("x / sqrt(mean(x^2) + eps) * gamma over the last axis");

}  // namespace duet
