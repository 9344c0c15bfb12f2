// Linear algebra and neural-network ops: matmul, conv2d, max_pool2d, dropout.
#include <limits>

#include <fmt/format.h>

#include <duet/graph/op_def.h>
#include <duet/graph/ops/infer_util.h>

namespace duet {
namespace {

void matmul_result(InferContext& ctx, const TensorType& a, const TensorType& b) {
  if (a.dtype != b.dtype) ctx.dtype_error(fmt::format("operand dtypes differ: {} x {}", a.str(), b.str()));
  if (a.dtype == DType::b8) ctx.dtype_error(fmt::format("expects numbers, got {} x {}", a.str(), b.str()));
  if (a.shape.rank() < 2 || b.shape.rank() < 2)
    ctx.shape_error(fmt::format("operands must have rank >= 2: {} x {}", a.str(), b.str()));
  int64_t k1 = a.shape[-1], k2 = b.shape[-2];
  if (k1 >= 0 && k2 >= 0 && k1 != k2) ctx.shape_error(fmt::format("inner dims differ: {} x {}", a.str(), b.str()));
  Shape batch_a(a.shape.begin(), a.shape.end() - 2), batch_b(b.shape.begin(), b.shape.end() - 2), batch;
  if (!broadcast_shapes(batch_a, batch_b, &batch))
    ctx.shape_error(fmt::format("batch dims do not broadcast: {} x {}", a.str(), b.str()));
  batch.push_back(a.shape[-2]);
  batch.push_back(b.shape[-1]);
  ctx.add_result(a.dtype, batch);
}

void infer_matmul(InferContext& ctx) { matmul_result(ctx, ctx.in(0), ctx.in(1)); }

// The operand as the product reads it: its last two dims swapped when the
// fused op reads it transposed.
TensorType maybe_transposed(const TensorType& t, bool transposed) {
  if (!transposed || t.shape.rank() < 2) return t;
  TensorType r = t;
  std::vector<int64_t> d = t.shape.vec();
  std::swap(d[d.size() - 1], d[d.size() - 2]);
  r.shape = Shape(d.begin(), d.end());
  return r;
}

bool known_activation(const std::string& a) {
  return a == "none" || a == "relu" || a == "tanh" || a == "sigmoid" || a == "gelu";
}

// fused_matmul(a, b[, bias]) {activation, transpose_a, transpose_b}:
// act(op(a) @ op(b) + bias), op transposing the last two dims when asked:
// what fuse-matmul-epilogue makes of a matmul, the transposes feeding it, a
// bias add and an activation. The bias broadcasts to the product's shape
// without changing it.
void infer_fused_matmul(InferContext& ctx) {
  if (ctx.num_inputs() < 2 || ctx.num_inputs() > 4)
    ctx.error(fmt::format("expects 2 to 4 operands (a, b, bias, bias2), got {}", ctx.num_inputs()));
  const std::string& act = ctx.attrs().get_string("activation");
  if (!known_activation(act))
    ctx.error(fmt::format("unknown activation '{}' (none, relu, tanh, sigmoid, gelu)", act));
  if (!is_floating(ctx.in(0).dtype)) ctx.dtype_error(fmt::format("expects a floating dtype, got {}", ctx.operand_types()));
  const bool ta = ctx.attrs().has("transpose_a") && ctx.attrs().get_bool("transpose_a");
  const bool tb = ctx.attrs().has("transpose_b") && ctx.attrs().get_bool("transpose_b");
  matmul_result(ctx, maybe_transposed(ctx.in(0), ta), maybe_transposed(ctx.in(1), tb));
  for (int k = 2; k < ctx.num_inputs(); ++k) {
    const TensorType& bias = ctx.in(k);
    const TensorType& out = ctx.results[0];
    Shape joined;
    if (bias.dtype != out.dtype) ctx.dtype_error(fmt::format("the bias is {}, the product {}", bias.str(), out.str()));
    if (!broadcast_shapes(out.shape, bias.shape, &joined) || !(joined == out.shape))
      ctx.shape_error(fmt::format("the bias {} does not broadcast to the product {}", bias.str(), out.str()));
  }
}

void check_window(InferContext& ctx, const char* what, int64_t v, int64_t min) {
  if (v < min) ctx.error(fmt::format("{} must be >= {}, got {} ({})", what, min, v, ctx.operand_types()));
}

void infer_conv2d(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const TensorType& w = ctx.in(1);
  if (x.dtype != w.dtype) ctx.dtype_error(fmt::format("operand dtypes differ: {}, {}", x.str(), w.str()));
  if (!is_floating(x.dtype)) ctx.dtype_error(fmt::format("expects a floating dtype, got {}, {}", x.str(), w.str()));
  if (x.shape.rank() != 4 || w.shape.rank() != 4)
    ctx.shape_error(fmt::format("expects NCHW input and OIHW weights (rank 4): {}, {}", x.str(), w.str()));
  int64_t stride = ctx.attrs().get_int("stride"), pad = ctx.attrs().get_int("padding");
  check_window(ctx, "stride", stride, 1);
  check_window(ctx, "padding", pad, 0);
  if (pad > std::numeric_limits<int64_t>::max() / 4)  // window_out adds 2 * pad to a dim
    ctx.error(fmt::format("padding {} is too large ({})", pad, ctx.operand_types()));
  if (x.shape.dim(1) >= 0 && x.shape.dim(1) != w.shape.dim(1))
    ctx.shape_error(fmt::format("input channels differ: {} has {}, weights {} expect {}", x.str(), x.shape.dim(1),
                                w.str(), w.shape.dim(1)));
  int64_t ho = window_out(x.shape.dim(2), w.shape.dim(2), stride, pad);
  int64_t wo = window_out(x.shape.dim(3), w.shape.dim(3), stride, pad);
  if ((x.shape.dim(2) >= 0 && ho <= 0) || (x.shape.dim(3) >= 0 && wo <= 0))
    ctx.shape_error(fmt::format("the kernel {} does not fit the input {} with padding {}", w.str(), x.str(), pad));
  ctx.add_result(x.dtype, Shape{x.shape.dim(0), w.shape.dim(0), ho, wo});
}

void infer_max_pool2d(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (x.dtype == DType::b8) ctx.dtype_error(fmt::format("expects numbers, got {}", x.str()));
  if (x.shape.rank() != 4) ctx.shape_error(fmt::format("expects an NCHW input (rank 4), got {}", x.str()));
  int64_t k = ctx.attrs().get_int("kernel"), s = ctx.attrs().get_int("stride");
  check_window(ctx, "kernel", k, 1);
  check_window(ctx, "stride", s, 1);
  int64_t ho = window_out(x.shape.dim(2), k, s, 0), wo = window_out(x.shape.dim(3), k, s, 0);
  if ((x.shape.dim(2) >= 0 && ho <= 0) || (x.shape.dim(3) >= 0 && wo <= 0))
    ctx.shape_error(fmt::format("the window {} does not fit the input {}", k, x.str()));
  ctx.add_result(x.dtype, Shape{x.shape.dim(0), x.shape.dim(1), ho, wo});
}

void infer_dropout(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (!is_floating(x.dtype)) ctx.dtype_error(fmt::format("expects a floating dtype, got {}", x.str()));
  double rate = ctx.attrs().get_float("rate");
  if (!(rate >= 0.0 && rate < 1.0)) ctx.error(fmt::format("rate must be in [0, 1), got {} ({})", rate, x.str()));
  ctx.results.push_back(x);
}

}  // namespace

DUET_OP(matmul).traits(kPure).operands(2).infer(infer_matmul);
DUET_OP(fused_matmul).traits(kPure | kVariadic).operands(-1)
    .attr("activation", AttrKind::string).optional_attr("transpose_a", AttrKind::boolean)
    .optional_attr("transpose_b", AttrKind::boolean).infer(infer_fused_matmul)
    .summary("act(a @ b + bias): a matmul with its epilogue (fuse-matmul-epilogue)");
DUET_OP(conv2d).traits(kPure).operands(2)
    .attr("stride", AttrKind::integer).attr("padding", AttrKind::integer).infer(infer_conv2d);
DUET_OP(max_pool2d).traits(kPure).operands(1)
    .attr("kernel", AttrKind::integer).attr("stride", AttrKind::integer).infer(infer_max_pool2d);
DUET_OP(dropout).traits(kPure).operands(1)
    .attr("rate", AttrKind::real).attr("seed", AttrKind::integer).infer(infer_dropout);

}  // namespace duet
