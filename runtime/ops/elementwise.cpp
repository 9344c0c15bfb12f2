// Public elementwise ops and the operators: promotion of operands, weakly
// typed C++ scalars (NOTE [Type promotion], docs/semantics.md).
#include <fmt/format.h>

#include <duet/graph/ops/infer_util.h>
#include <duet/runtime/device.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/gradient.h>
#include <duet/runtime/variable.h>

namespace duet {

namespace {
#define DUET_X(n) const OpDef& k_##n = op_def(#n);
DUET_UNARY_SCALAR_OPS(DUET_X)
DUET_BINARY_SCALAR_OPS(DUET_X)
DUET_COMPARE_SCALAR_OPS(DUET_X)
#undef DUET_X
const OpDef& k_where = op_def("where");
const OpDef& k_cast = op_def("cast");

// The dtype a C++ scalar has on its own (literal typing).
DType literal_dtype(const Operand& o) {
  switch (o.kind()) {
    case Operand::Kind::floating: return DType::f32;
    case Operand::Kind::integer: return o.is_int64() ? DType::i64 : DType::i32;
    case Operand::Kind::boolean: return DType::b8;
    case Operand::Kind::tensor: return o.tensor().dtype();
  }
  return DType::f32;
}

// A weak scalar takes the tensor's dtype when of the same kind; an integer
// tensor (or b8) with a floating scalar becomes f32, b8 with an integer i32.
DType with_weak_scalar(DType tensor, const Operand& s) {
  switch (s.kind()) {
    case Operand::Kind::floating: return is_floating(tensor) ? tensor : DType::f32;
    case Operand::Kind::integer: return tensor == DType::b8 ? DType::i32 : tensor;
    default: return tensor;
  }
}

DType result_dtype(const Operand& a, const Operand& b) {
  if (a.is_tensor() && b.is_tensor()) return promote_types(a.tensor().dtype(), b.tensor().dtype());
  if (a.is_tensor()) return with_weak_scalar(a.tensor().dtype(), b);
  if (b.is_tensor()) return with_weak_scalar(b.tensor().dtype(), a);
  return promote_types(literal_dtype(a), literal_dtype(b));
}

Device operand_device(const Operand& a, const Operand& b) {
  if (a.is_tensor()) return a.tensor().device();
  if (b.is_tensor()) return b.tensor().device();
  return current_device();
}

Tensor as_tensor(const Operand& o, DType dtype, Device device) {
  if (o.is_tensor()) {
    if (!o.tensor().defined()) return o.tensor();  // dispatch names the undefined operand
    return o.tensor().dtype() == dtype ? o.tensor() : cast(o.tensor(), dtype, o.loc());
  }
  DeviceScope on(device);
  if (o.kind() == Operand::Kind::floating) return scalar(o.float_value(), dtype, o.loc());
  // Integers stay exact (no trip through double) and wrap into a narrower
  // integer dtype, as NOTE [Type promotion] says.
  int64_t v = o.int_value();
  switch (dtype) {
    case DType::i64: return scalar(v, o.loc());
    case DType::i32: return scalar(static_cast<int>(static_cast<int32_t>(static_cast<uint32_t>(v))), o.loc());
    case DType::b8: return scalar(v != 0, o.loc());
    default: return scalar(static_cast<double>(v), dtype, o.loc());
  }
}

[[noreturn]] void undefined_operand(const OpDef& op, int i, const Operand& o) {
  throw Error(format_error(op.name(), fmt::format("operand {} is an undefined tensor", i), effective_location(o.loc())));
}

// Shapes are checked before promotion so the message names the operands as
// the user gave them (i32[2,3], not the promoted f32[2,3]).
void check_operands(const OpDef& op, const Operand& a, const Operand& b) {
  if (a.is_tensor() && !a.tensor().defined()) undefined_operand(op, 0, a);
  if (b.is_tensor() && !b.tensor().defined()) undefined_operand(op, 1, b);
  if (a.is_tensor() && b.is_tensor()) {
    Shape out;
    if (!broadcast_shapes(a.tensor().shape(), b.tensor().shape(), &out))
      throw ShapeError(format_error(op.name(),
                                    fmt::format("shapes do not broadcast: {}, {}", a.tensor().type().str(),
                                                b.tensor().type().str()),
                                    effective_location(a.loc())));
  }
}

Tensor binary(const OpDef& op, const Operand& a, const Operand& b) {
  // Fast path (W1): two tensors of one dtype need no promotion.
  if (a.is_tensor() && b.is_tensor() && a.tensor().defined() && b.tensor().defined() &&
      a.tensor().dtype() == b.tensor().dtype())
    return dispatch1(op, {&a.tensor(), &b.tensor()}, no_attrs(), a.loc());
  check_operands(op, a, b);
  DType dt = result_dtype(a, b);
  Device dev = operand_device(a, b);
  Tensor ta = as_tensor(a, dt, dev), tb = as_tensor(b, dt, dev);
  return dispatch1(op, {&ta, &tb}, no_attrs(), a.loc());
}

// Logical ops take b8 as they are: no promotion, so a non-b8 operand is a
// DTypeError from infer rather than a silent cast.
Tensor logical(const OpDef& op, const Operand& a, const Operand& b) {
  if (a.is_tensor() && !a.tensor().defined()) undefined_operand(op, 0, a);
  if (b.is_tensor() && !b.tensor().defined()) undefined_operand(op, 1, b);
  Device dev = operand_device(a, b);
  Tensor ta = a.is_tensor() ? a.tensor() : as_tensor(a, DType::b8, dev);
  Tensor tb = b.is_tensor() ? b.tensor() : as_tensor(b, DType::b8, dev);
  return dispatch1(op, {&ta, &tb}, no_attrs(), a.loc());
}

Tensor unary(const OpDef& op, const Tensor& x, Loc loc) { return dispatch1(op, {&x}, no_attrs(), loc); }

}  // namespace

Operand::Operand(const Tensor& t, Loc loc) : kind_(Kind::tensor), t_(t), loc_(loc) {}
Operand::Operand(const Variable& v, Loc loc) : kind_(Kind::tensor), t_(v.value()), loc_(loc) {}

Tensor add(const Operand& a, const Operand& b) { return binary(k_add, a, b); }
Tensor sub(const Operand& a, const Operand& b) { return binary(k_sub, a, b); }
Tensor mul(const Operand& a, const Operand& b) { return binary(k_mul, a, b); }
Tensor div(const Operand& a, const Operand& b) { return binary(k_div, a, b); }
Tensor mod(const Operand& a, const Operand& b) { return binary(k_mod, a, b); }
Tensor pow(const Operand& a, const Operand& b) { return binary(k_pow, a, b); }
Tensor maximum(const Operand& a, const Operand& b) { return binary(k_maximum, a, b); }
Tensor minimum(const Operand& a, const Operand& b) { return binary(k_minimum, a, b); }
Tensor less(const Operand& a, const Operand& b) { return binary(k_less, a, b); }
Tensor less_equal(const Operand& a, const Operand& b) { return binary(k_less_equal, a, b); }
Tensor greater(const Operand& a, const Operand& b) { return binary(k_greater, a, b); }
Tensor greater_equal(const Operand& a, const Operand& b) { return binary(k_greater_equal, a, b); }
Tensor equal(const Operand& a, const Operand& b) { return binary(k_equal, a, b); }
Tensor not_equal(const Operand& a, const Operand& b) { return binary(k_not_equal, a, b); }
Tensor logical_and(const Operand& a, const Operand& b) { return logical(k_logical_and, a, b); }
Tensor logical_or(const Operand& a, const Operand& b) { return logical(k_logical_or, a, b); }
Tensor logical_not(const Tensor& a, Loc loc) { return unary(k_logical_not, a, loc); }

Tensor where(const Tensor& c, const Operand& a, const Operand& b) {
  if (a.is_tensor() && !a.tensor().defined()) undefined_operand(k_where, 1, a);
  if (b.is_tensor() && !b.tensor().defined()) undefined_operand(k_where, 2, b);
  DType dt = result_dtype(a, b);
  Device dev = operand_device(a, b);
  Tensor ta = as_tensor(a, dt, dev), tb = as_tensor(b, dt, dev);
  return dispatch1(k_where, {&c, &ta, &tb}, no_attrs(), a.loc());
}

Tensor neg(const Tensor& x, Loc loc) { return unary(k_neg, x, loc); }
Tensor abs(const Tensor& x, Loc loc) { return unary(k_abs, x, loc); }
Tensor square(const Tensor& x, Loc loc) { return unary(k_square, x, loc); }
Tensor exp(const Tensor& x, Loc loc) { return unary(k_exp, x, loc); }
Tensor log(const Tensor& x, Loc loc) { return unary(k_log, x, loc); }
Tensor sqrt(const Tensor& x, Loc loc) { return unary(k_sqrt, x, loc); }
Tensor rsqrt(const Tensor& x, Loc loc) { return unary(k_rsqrt, x, loc); }
Tensor tanh(const Tensor& x, Loc loc) { return unary(k_tanh, x, loc); }
Tensor sigmoid(const Tensor& x, Loc loc) { return unary(k_sigmoid, x, loc); }
Tensor relu(const Tensor& x, Loc loc) { return unary(k_relu, x, loc); }
Tensor gelu(const Tensor& x, Loc loc) { return unary(k_gelu, x, loc); }
Tensor erf(const Tensor& x, Loc loc) { return unary(k_erf, x, loc); }
Tensor gelu(const Tensor& x, std::string_view approximate, Loc loc) {
  if (approximate == "none") return unary(k_gelu, x, loc);
  if (approximate == "tanh") return unary(k_gelu_tanh, x, loc);
  throw Error(format_error("gelu", fmt::format("approximate must be \"none\" or \"tanh\", got \"{}\"", approximate),
                                loc));
}
Tensor log1p(const Tensor& x, Loc loc) { return unary(k_log1p, x, loc); }
Tensor softplus(const Tensor& x, Loc loc) { return unary(k_softplus, x, loc); }
Tensor sign(const Tensor& x, Loc loc) { return unary(k_sign, x, loc); }
Tensor sin(const Tensor& x, Loc loc) { return unary(k_sin, x, loc); }
Tensor cos(const Tensor& x, Loc loc) { return unary(k_cos, x, loc); }
Tensor clip(const Tensor& x, const Operand& lo, const Operand& hi) {
  return minimum(maximum(Operand(x, lo.loc()), lo), hi);
}

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  if (x.defined() && x.dtype() == dtype) return x;
  Attrs attrs{{"dtype", dtype}};
  return dispatch1(k_cast, {&x}, attrs, loc);
}

Tensor operator+(const Operand& a, const Operand& b) { return add(a, b); }
Tensor operator-(const Operand& a, const Operand& b) { return sub(a, b); }
Tensor operator*(const Operand& a, const Operand& b) { return mul(a, b); }
Tensor operator/(const Operand& a, const Operand& b) { return div(a, b); }
Tensor operator%(const Operand& a, const Operand& b) { return mod(a, b); }
Tensor operator<(const Operand& a, const Operand& b) { return less(a, b); }
Tensor operator<=(const Operand& a, const Operand& b) { return less_equal(a, b); }
Tensor operator>(const Operand& a, const Operand& b) { return greater(a, b); }
Tensor operator>=(const Operand& a, const Operand& b) { return greater_equal(a, b); }
Tensor operator==(const Operand& a, const Operand& b) { return equal(a, b); }
Tensor operator!=(const Operand& a, const Operand& b) { return not_equal(a, b); }
Tensor operator&(const Operand& a, const Operand& b) { return logical_and(a, b); }
Tensor operator|(const Operand& a, const Operand& b) { return logical_or(a, b); }

static Tensor operand_tensor(const Operand& a) {
  return a.is_tensor() ? a.tensor() : as_tensor(a, literal_dtype(a), current_device());
}
Tensor operator-(const Operand& a) { return neg(operand_tensor(a), a.loc()); }
Tensor operator!(const Operand& a) { return logical_not(operand_tensor(a), a.loc()); }
Tensor operator!(const Tensor& a) { return dispatch1(k_logical_not, {&a}, no_attrs(), SrcLoc()); }

}  // namespace duet

// ---- gradient rules --------------------------------------------------------------------
// Each returns d(loss)/d(input) given g = d(loss)/d(output); broadcast operands
// get their gradient summed back to their shape (unbroadcast).

namespace duet {
namespace {
Tensor zero_like_scalar() { return Tensor(); }
}  // namespace

DUET_GRAD(neg) { return {neg(ctx.grad())}; }                          // d(-x) = -1
DUET_GRAD(abs) {                                                       // d|x| = sign(x), 0 at 0
  const Tensor &x = ctx.in(0), &g = ctx.grad();
  return {where(x > 0, g, where(x < 0, -g, 0))};
}
DUET_GRAD(square) { return {ctx.grad() * (ctx.in(0) * 2)}; }          // d x^2 = 2x
DUET_GRAD(exp) { return {ctx.grad() * ctx.result()}; }                 // d e^x = e^x
DUET_GRAD(log) { return {ctx.grad() / ctx.in(0)}; }                    // d log x = 1/x
DUET_GRAD(sqrt) { return {ctx.grad() / (ctx.result() * 2)}; }          // d sqrt x = 1/(2 sqrt x)
DUET_GRAD(rsqrt) {                                                     // d x^-1/2 = -1/2 x^-3/2
  const Tensor& y = ctx.result();
  return {ctx.grad() * (y * y * y) * -0.5};
}
DUET_GRAD(tanh) {                                                      // d tanh = 1 - tanh^2
  const Tensor& y = ctx.result();
  return {ctx.grad() * (1 - y * y)};
}
DUET_GRAD(sigmoid) {                                                   // d s = s (1 - s)
  const Tensor& y = ctx.result();
  return {ctx.grad() * y * (1 - y)};
}
DUET_GRAD(relu) { return {where(ctx.result() > 0, ctx.grad(), 0)}; }  // 1 where x > 0, i.e. relu(x) > 0
DUET_GRAD(gelu) {                                                      // d x Phi(x) = Phi(x) + x phi(x)
  const Tensor& x = ctx.in(0);
  Tensor cdf = (erf(x * 0.70710678118654752440) + 1) * 0.5;
  Tensor pdf = exp(square(x) * -0.5) * 0.39894228040143267794;
  return {ctx.grad() * (cdf + x * pdf)};
}
DUET_GRAD(erf) {                                                       // d erf = 2/sqrt(pi) e^(-x^2)
  return {ctx.grad() * exp(-square(ctx.in(0))) * 1.12837916709551257390};
}
DUET_GRAD(gelu_tanh) {  // t = tanh(u), u = k (x + c x^3): (1 + t)/2 + x/2 (1 - t^2) k (1 + 3c x^2)
  const Tensor& x = ctx.in(0);
  Tensor x2 = square(x);
  Tensor t = tanh((x + x2 * x * 0.044715) * 0.79788456080286535588);
  Tensor du = (x2 * (3 * 0.044715) + 1) * 0.79788456080286535588;
  return {ctx.grad() * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * du)};
}
DUET_GRAD(log1p) { return {ctx.grad() / (ctx.in(0) + 1)}; }           // d log(1 + x) = 1/(1 + x)
DUET_GRAD(softplus) { return {ctx.grad() * sigmoid(ctx.in(0))}; }     // d log(1 + e^x) = sigmoid(x)
DUET_GRAD(sign) {                                                      // 0 (PyTorch's, TensorFlow's)
  const Tensor& x = ctx.in(0);
  if (!is_floating(x.dtype())) return {Tensor()};
  return {zeros_like(x)};
}
DUET_GRAD(sin) { return {ctx.grad() * cos(ctx.in(0))}; }              // d sin = cos
DUET_GRAD(cos) { return {-(ctx.grad() * sin(ctx.in(0)))}; }           // d cos = -sin
DUET_GRAD(add) {
  const Tensor& g = ctx.grad();
  return {unbroadcast(g, ctx.in(0).shape()), unbroadcast(g, ctx.in(1).shape())};
}
DUET_GRAD(sub) {
  const Tensor& g = ctx.grad();
  return {unbroadcast(g, ctx.in(0).shape()), unbroadcast(neg(g), ctx.in(1).shape())};
}
DUET_GRAD(mul) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad();
  return {unbroadcast(g * b, a.shape()), unbroadcast(g * a, b.shape())};
}
DUET_GRAD(div) {                                                       // d a/b = 1/b, -a/b^2
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad();
  return {unbroadcast(g / b, a.shape()), unbroadcast(neg(g * a / (b * b)), b.shape())};
}
DUET_GRAD(mod) {                                                       // a - b trunc(a/b): 1, -trunc(a/b)
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad();
  Tensor quotient = (a - ctx.result()) / b;
  return {unbroadcast(g, a.shape()), unbroadcast(neg(g * quotient), b.shape())};
}
DUET_GRAD(pow) {                                                       // b a^(b-1), a^b log a (a > 0)
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad(), &y = ctx.result();
  Tensor da = g * b * pow(a, b - 1);
  Tensor positive = a > 0;
  Tensor db = where(positive, g * y * log(where(positive, a, 1)), 0);
  return {unbroadcast(da, a.shape()), unbroadcast(db, b.shape())};
}
DUET_GRAD(maximum) {                                                   // to the larger; ties to a
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad();
  Tensor pick_a = a >= b;
  return {unbroadcast(where(pick_a, g, 0), a.shape()), unbroadcast(where(pick_a, 0, g), b.shape())};
}
DUET_GRAD(minimum) {                                                   // to the smaller; ties to a
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad();
  Tensor pick_a = a <= b;
  return {unbroadcast(where(pick_a, g, 0), a.shape()), unbroadcast(where(pick_a, 0, g), b.shape())};
}
DUET_GRAD(where) {                                                     // to the branch each element took
  const Tensor &c = ctx.in(0), &g = ctx.grad();
  return {zero_like_scalar(), unbroadcast(where(c, g, 0), ctx.in(1).shape()),
          unbroadcast(where(c, 0, g), ctx.in(2).shape())};
}
DUET_GRAD(cast) {                                                      // back to the input's dtype
  const Tensor& x = ctx.in(0);
  if (!is_floating(x.dtype())) return {Tensor()};
  return {cast(ctx.grad(), x.dtype())};
}

}  // namespace duet
