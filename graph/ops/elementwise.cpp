// Elementwise ops: unary math, binary arithmetic, comparisons, logic, where
// and cast. Each names its scalar semantics (graph/scalar.h).
#include <algorithm>

#include <fmt/format.h>

#include <duet/graph/op_def.h>
#include <duet/graph/ops/infer_util.h>

namespace duet {

bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  int rank = std::max(a.rank(), b.rank());
  Shape s;
  for (int i = 0; i < rank; ++i) {
    int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
    int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    if (da == db || db == 1) s.push_back(da);
    else if (da == 1) s.push_back(db);
    else if (da < 0 || db < 0) s.push_back(-1);  // dynamic vs static: decided at run time
    else return false;
  }
  *out = s;
  return true;
}

std::vector<int> reduction_axes(const std::vector<int64_t>& axes, int rank, const InferContext* ctx) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) {
      std::string what = fmt::format("axis {} is out of range for rank {}", a, rank);
      if (ctx) ctx->error(what + " (" + ctx->operand_types() + ")");
      throw Error(what);
    }
    if (std::find(out.begin(), out.end(), static_cast<int>(n)) != out.end()) {
      std::string what = fmt::format("axis {} is repeated", a);
      if (ctx) ctx->error(what + " (" + ctx->operand_types() + ")");
      throw Error(what);
    }
    out.push_back(static_cast<int>(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

enum class Accepts { any, numeric, floating, boolean };

void check_accepts(InferContext& ctx, DType t, Accepts a) {
  switch (a) {
    case Accepts::any: return;
    case Accepts::numeric:
      if (t == DType::b8) ctx.dtype_error(fmt::format("expects numbers, got {}; cast b8 first", ctx.operand_types()));
      return;
    case Accepts::floating:
      if (!is_floating(t))
        ctx.dtype_error(fmt::format("expects a floating dtype (f32, f64), got {}; cast first", ctx.operand_types()));
      return;
    case Accepts::boolean:
      if (t != DType::b8) ctx.dtype_error(fmt::format("expects b8 operands, got {}", ctx.operand_types()));
      return;
  }
}

template <Accepts A>
void infer_unary(InferContext& ctx) {
  check_accepts(ctx, ctx.in(0).dtype, A);
  ctx.results.push_back(ctx.in(0));
}

Shape broadcast_or_fail(InferContext& ctx, const Shape& a, const Shape& b) {
  Shape out;
  if (!broadcast_shapes(a, b, &out))
    ctx.shape_error(fmt::format("shapes do not broadcast: {}", ctx.operand_types()));
  return out;
}

void same_dtype(InferContext& ctx, DType a, DType b) {
  if (a != b) ctx.dtype_error(fmt::format("operand dtypes differ: {}", ctx.operand_types()));
}

// Arithmetic: same dtype in, same dtype out (the public functions promote).
template <Accepts A>
void infer_binary(InferContext& ctx) {
  same_dtype(ctx, ctx.in(0).dtype, ctx.in(1).dtype);
  check_accepts(ctx, ctx.in(0).dtype, A);
  ctx.add_result(ctx.in(0).dtype, broadcast_or_fail(ctx, ctx.in(0).shape, ctx.in(1).shape));
}

void infer_compare(InferContext& ctx) {
  same_dtype(ctx, ctx.in(0).dtype, ctx.in(1).dtype);
  ctx.add_result(DType::b8, broadcast_or_fail(ctx, ctx.in(0).shape, ctx.in(1).shape));
}

void infer_where(InferContext& ctx) {
  if (ctx.in(0).dtype != DType::b8)
    ctx.dtype_error(fmt::format("the condition must be b8, got {}", ctx.operand_types()));
  same_dtype(ctx, ctx.in(1).dtype, ctx.in(2).dtype);
  Shape s = broadcast_or_fail(ctx, ctx.in(0).shape, ctx.in(1).shape);
  ctx.add_result(ctx.in(1).dtype, broadcast_or_fail(ctx, s, ctx.in(2).shape));
}

void infer_cast(InferContext& ctx) { ctx.add_result(ctx.attrs().get_dtype("dtype"), ctx.in(0).shape); }

}  // namespace

constexpr uint32_t kEw = kPure | kElementwise;

DUET_OP(neg).traits(kEw).operands(1).infer(infer_unary<Accepts::numeric>).scalar(ScalarOp::neg);
DUET_OP(abs).traits(kEw).operands(1).infer(infer_unary<Accepts::numeric>).scalar(ScalarOp::abs);
DUET_OP(square).traits(kEw).operands(1).infer(infer_unary<Accepts::numeric>).scalar(ScalarOp::square);
DUET_OP(relu).traits(kEw).operands(1).infer(infer_unary<Accepts::numeric>).scalar(ScalarOp::relu);
DUET_OP(exp).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::exp);
DUET_OP(log).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::log);
DUET_OP(sqrt).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::sqrt);
DUET_OP(rsqrt).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::rsqrt);
DUET_OP(tanh).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::tanh);
DUET_OP(sigmoid).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::sigmoid);
DUET_OP(gelu).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::gelu);
DUET_OP(erf).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::erf);
DUET_OP(gelu_tanh).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::gelu_tanh);
DUET_OP(log1p).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::log1p);
DUET_OP(softplus).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::softplus);
DUET_OP(sign).traits(kEw).operands(1).infer(infer_unary<Accepts::numeric>).scalar(ScalarOp::sign);
DUET_OP(sin).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::sin);
DUET_OP(cos).traits(kEw).operands(1).infer(infer_unary<Accepts::floating>).scalar(ScalarOp::cos);
DUET_OP(logical_not).traits(kEw | kNotDifferentiable).operands(1)
    .infer(infer_unary<Accepts::boolean>).scalar(ScalarOp::logical_not);

DUET_OP(add).traits(kEw | kCommutative).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::add);
DUET_OP(sub).traits(kEw).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::sub);
DUET_OP(mul).traits(kEw | kCommutative).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::mul);
DUET_OP(div).traits(kEw).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::div);
DUET_OP(mod).traits(kEw).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::mod);
DUET_OP(pow).traits(kEw).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::pow);
DUET_OP(maximum).traits(kEw | kCommutative).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::maximum);
DUET_OP(minimum).traits(kEw | kCommutative).operands(2).infer(infer_binary<Accepts::numeric>).scalar(ScalarOp::minimum);
DUET_OP(logical_and).traits(kEw | kCommutative | kNotDifferentiable).operands(2)
    .infer(infer_binary<Accepts::boolean>).scalar(ScalarOp::logical_and);
DUET_OP(logical_or).traits(kEw | kCommutative | kNotDifferentiable).operands(2)
    .infer(infer_binary<Accepts::boolean>).scalar(ScalarOp::logical_or);

DUET_OP(less).traits(kEw | kNotDifferentiable).operands(2).infer(infer_compare).scalar(ScalarOp::less);
DUET_OP(less_equal).traits(kEw | kNotDifferentiable).operands(2).infer(infer_compare).scalar(ScalarOp::less_equal);
DUET_OP(greater).traits(kEw | kNotDifferentiable).operands(2).infer(infer_compare).scalar(ScalarOp::greater);
DUET_OP(greater_equal).traits(kEw | kNotDifferentiable).operands(2).infer(infer_compare).scalar(ScalarOp::greater_equal);
DUET_OP(equal).traits(kEw | kCommutative | kNotDifferentiable).operands(2).infer(infer_compare).scalar(ScalarOp::equal);
DUET_OP(not_equal).traits(kEw | kCommutative | kNotDifferentiable).operands(2).infer(infer_compare).scalar(ScalarOp::not_equal);

DUET_OP(where).traits(kEw).operands(3).infer(infer_where).scalar(ScalarOp::where);
DUET_OP(cast).traits(kEw).operands(1).attr("dtype", AttrKind::dtype).infer(infer_cast).scalar(ScalarOp::cast);

}  // namespace duet
