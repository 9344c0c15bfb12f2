// Scalar semantics of the elementwise ops: one definition that the eager CPU
// kernels instantiate and the code generators mirror (DESIGN.md §2.1).
// See NOTE [Integer arithmetic never traps] in docs/semantics.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace duet {

// X-macros: every op with scalar semantics, by arity.
#define DUET_UNARY_SCALAR_OPS(X) \
  X(neg) X(abs) X(square) X(exp) X(log) X(sqrt) X(rsqrt) X(tanh) X(sigmoid) X(relu) X(gelu) X(erf) \
  X(gelu_tanh) X(log1p) X(softplus) X(sign) X(sin) X(cos) X(logical_not)
#define DUET_BINARY_SCALAR_OPS(X) \
  X(add) X(sub) X(mul) X(div) X(mod) X(pow) X(maximum) X(minimum) X(logical_and) X(logical_or)
#define DUET_COMPARE_SCALAR_OPS(X) \
  X(less) X(less_equal) X(greater) X(greater_equal) X(equal) X(not_equal)

enum class ScalarOp : uint8_t {
  none,
#define DUET_X(n) n,
  DUET_UNARY_SCALAR_OPS(DUET_X) DUET_BINARY_SCALAR_OPS(DUET_X) DUET_COMPARE_SCALAR_OPS(DUET_X)
#undef DUET_X
  where,
  cast,
  count_
};

namespace scalar_math {

template <class T>
using Unsigned = std::make_unsigned_t<T>;

// Integer + - * wrap around (two's complement), as the hardware does, instead
// of being undefined behaviour.
template <class T> inline T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) return T(Unsigned<T>(a) + Unsigned<T>(b));
  else return a + b;
}
template <class T> inline T sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) return T(Unsigned<T>(a) - Unsigned<T>(b));
  else return a - b;
}
template <class T> inline T mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) return T(Unsigned<T>(a) * Unsigned<T>(b));
  else return a * b;
}
// Integer division truncates toward zero; x / 0 == 0 and MIN / -1 == MIN.
template <class T> inline T div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;
    if (b == -1) return T(Unsigned<T>(0) - Unsigned<T>(a));
    return a / b;
  } else {
    return a / b;
  }
}
// Remainder has the sign of the dividend (C++'s % and std::fmod); x % 0 == 0.
template <class T> inline T mod(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0 || b == -1) return 0;
    return a % b;
  } else {
    return std::fmod(a, b);
  }
}
// Integer pow by squaring (wrapping); a negative exponent gives 0 unless the
// base is 1 or -1.
template <class T> inline T pow(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
    Unsigned<T> result = 1, base = Unsigned<T>(a);
    for (auto e = b; e > 0; e >>= 1) {
      if (e & 1) result *= base;
      base *= base;
    }
    return T(result);
  } else {
    return std::pow(a, b);
  }
}
// maximum/minimum propagate NaN (as numpy and PyTorch do).
template <class T> inline T maximum(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) { if (a != a) return a; if (b != b) return b; }
  return a > b ? a : b;
}
template <class T> inline T minimum(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) { if (a != a) return a; if (b != b) return b; }
  return a < b ? a : b;
}
template <class T> inline T logical_and(T a, T b) { return a && b; }
template <class T> inline T logical_or(T a, T b) { return a || b; }

template <class T> inline T neg(T a) { return sub(T(0), a); }
template <class T> inline T abs(T a) {
  if constexpr (std::is_integral_v<T>) return a < 0 ? neg(a) : a;
  else return std::fabs(a);
}
template <class T> inline T square(T a) { return mul(a, a); }
// f32 exp, log and tanh are duet's own polynomials (NOTE [f32 transcendentals]),
// step for step the IR that codegen/emit/math.cpp emits.
namespace poly {
// ((k0 x + k1) x + k2) ...: unrolled at compile time, so loops of it vectorize.
// Each step is one fused multiply-add (std::fma, one rounding), the
// llvm.fma the JIT emits: an instruction where the CPU has FMA, a correctly
// rounded libm call where it does not, the same bits either way.
template <class... K>
inline float horner(float x, float k0, K... ks) {
  float acc = k0;
  ((acc = std::fma(acc, x, static_cast<float>(ks))), ...);
  return acc;
}
inline float pow2i(int32_t k) {
  uint32_t bits = static_cast<uint32_t>(k + 127) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline float exp(float x0) {
  const bool nan = x0 != x0;  // branch-free, so loops of it vectorize
  float x = x0 < -104.0f ? -104.0f : x0;
  x = x > 89.0f ? 89.0f : x;
  x = nan ? 0.0f : x;
  // n = x / ln2 rounded to nearest by the 1.5 * 2^23 trick (|n| < 2^22 here),
  // not std::floor, which GCC does not vectorize
  float fx = std::fma(x, float(1.44269504088896341), 12582912.0f) - 12582912.0f;
  float r = std::fma(fx, -0.693359375f, x);
  r = std::fma(fx, float(2.12194440e-4), r);
  float z = r * r;
  float p = horner(r, float(1.9875691500E-4), float(1.3981999507E-3), float(8.3334519073E-3), float(4.1665795894E-2),
                       float(1.6666665459E-1), float(5.0000001201E-1));
  float y = std::fma(p, z, r) + 1.0f;
  int32_t n = static_cast<int32_t>(fx);
  int32_t n1 = n >> 1, n2 = n - n1;
  y = y * pow2i(n1) * pow2i(n2);
  return nan ? x0 : y;
}
inline float log(float x0) {
  const bool tiny = x0 < 1.17549435e-38f;
  float x = tiny ? x0 * 8388608.0f : x0;
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  int32_t e = static_cast<int32_t>(bits >> 23) - 126 + (tiny ? -23 : 0);
  uint32_t mbits = (bits & 0x807fffffu) | 0x3f000000u;
  float m;
  std::memcpy(&m, &mbits, 4);
  const bool small = m < float(0.707106781186547524);
  float ef = static_cast<float>(e - (small ? 1 : 0));
  float f = (small ? m + m : m) - 1.0f;
  float z = f * f;
  float y = horner(f, float(7.0376836292E-2), float(-1.1514610310E-1), float(1.1676998740E-1), float(-1.2420140846E-1),
                       float(1.4249322787E-1), float(-1.6668057665E-1), float(2.0000714765E-1),
                       float(-2.4999993993E-1), float(3.3333331174E-1));
  y = (y * f) * z;
  y = std::fma(ef, float(-2.12194440e-4), y);
  y = std::fma(z, -0.5f, y);
  float r = std::fma(ef, 0.693359375f, f + y);
  if (x0 == 0.0f) r = -std::numeric_limits<float>::infinity();
  if (x0 < 0.0f) r = std::numeric_limits<float>::quiet_NaN();
  if (x0 == std::numeric_limits<float>::infinity()) r = x0;
  return x0 != x0 ? x0 : r;
}
inline float tanh(float x) {
  float z = std::fabs(x);
  float s = exp(z + z);
  float big = std::copysign(1.0f - 2.0f / (s + 1.0f), x);
  float x2 = x * x;
  float p = horner(x2, float(-5.70498872745E-3), float(2.06390887954E-2), float(-5.37397155531E-2),
                        float(1.33314422036E-1), float(-3.33332819422E-1));
  float small = std::copysign(std::fma(p * x2, x, x), x);  // tanh is odd: keeps -0
  return z > 0.625f ? big : small;
}
// erf: |x| < 1: x P(x^2); 1 <= |x| < 4: 1 - e^(-x^2) Q((|x| - 2.5) / 1.5)
// (Q fits erfc(x) e^(x^2)); beyond: 1; the sign of x. P and Q are Chebyshev
// fits made with mpmath for duet (relative errors 3e-11 and 7e-8 on their
// ranges); e^(-x^2) inherits x^2's rounding: a few ulp at worst.
inline float erf(float x) {
  float a = std::fabs(x);
  float t = a * a;
  float small = a * horner(t, float(-9.667044571486996e-06), float(0.00011265959025606609), float(-0.0008484080405535107), float(0.005221031807858023), float(-0.026865430727670243), float(0.11283782495236845), float(-0.3761263846802871), float(1.1283791670615435));
  float u = (a - 2.5f) * float(0.66666666666666667);
  float q = horner(u, float(-3.566417876899525e-05), float(9.629120195463984e-05), float(-0.00014741614293549128), float(0.000368151097857375), float(-0.0010136625981274393), float(0.0024256389379578133), float(-0.005568837645570178), float(0.012484123148533609), float(-0.027005458212834586), float(0.05611094755697202), float(-0.11152101793723113), float(0.21080635774313639));
  float large = std::fma(-exp(-t), q, 1.0f);
  float r = a < 1.0f ? small : (a < 4.0f ? large : 1.0f);
  r = std::copysign(r, x);
  return x != x ? x : r;
}
}  // namespace poly

template <class T> inline T exp(T a) {
  if constexpr (std::is_same_v<T, float>) return poly::exp(a);
  else return std::exp(a);
}
template <class T> inline T log(T a) {
  if constexpr (std::is_same_v<T, float>) return poly::log(a);
  else return std::log(a);
}
template <class T> inline T sqrt(T a) { return std::sqrt(a); }
template <class T> inline T rsqrt(T a) { return T(1) / std::sqrt(a); }
template <class T> inline T tanh(T a) {
  if constexpr (std::is_same_v<T, float>) return poly::tanh(a);
  else return std::tanh(a);
}
template <class T> inline T sigmoid(T a) { return T(1) / (T(1) + exp(-a)); }
template <class T> inline T relu(T a) { return a < T(0) ? T(0) : a; }  // relu(NaN) = NaN
// The exact (erf) form, as PyTorch's default.
template <class T> inline T erf(T a) {
  if constexpr (std::is_same_v<T, float>) return poly::erf(a);
  else return std::erf(a);
}
template <class T> inline T gelu(T a) { return T(0.5) * a * (T(1) + erf(a * T(0.70710678118654752440))); }
// The tanh approximation (PyTorch's approximate='tanh', GPT-2's):
// x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in this order of operations
// (codegen/emit/emitter.h mirrors it).
template <class T> inline T gelu_tanh(T a) {
  T cube = a * a * a;
  T inner = (a + cube * T(0.044715)) * T(0.79788456080286535588);
  return (T(0.5) * a) * (T(1) + tanh(inner));
}
// log(1 + x), accurate for small x: log(u) * (x / (u - 1)) with u = 1 + x
// rounded (the rounding error of u cancels); x where u rounds to 1; +inf at +inf.
template <class T> inline T log1p(T a) {
  if constexpr (std::is_same_v<T, float>) {
    float u = 1.0f + a;
    float d = u - 1.0f;
    float r = poly::log(u) * (a / d);
    r = d == 0.0f ? a : r;
    return a == std::numeric_limits<float>::infinity() ? a : r;
  } else {
    return std::log1p(a);
  }
}
// log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
template <class T> inline T softplus(T a) {
  T m = a > T(0) ? a : T(0);
  T r = m + log1p(exp(-std::fabs(a)));
  return a != a ? a : r;
}
// sin and cos are libm's, in f64 for f32 too (rounded once to f32), on both
// the eager and the compiled side: the same bits.
template <class T> inline T sin(T a) {
  if constexpr (std::is_same_v<T, float>) return static_cast<float>(std::sin(static_cast<double>(a)));
  else return std::sin(a);
}
template <class T> inline T cos(T a) {
  if constexpr (std::is_same_v<T, float>) return static_cast<float>(std::cos(static_cast<double>(a)));
  else return std::cos(a);
}
// -1, 0 or 1; the sign of zero and NaN are kept (numpy's sign).
template <class T> inline T sign(T a) { return a > T(0) ? T(1) : (a < T(0) ? T(-1) : a); }
template <class T> inline T logical_not(T a) { return !a; }

template <class T> inline bool less(T a, T b) { return a < b; }
template <class T> inline bool less_equal(T a, T b) { return a <= b; }
template <class T> inline bool greater(T a, T b) { return a > b; }
template <class T> inline bool greater_equal(T a, T b) { return a >= b; }
template <class T> inline bool equal(T a, T b) { return a == b; }
template <class T> inline bool not_equal(T a, T b) { return a != b; }

template <class T> inline T where(bool c, T a, T b) { return c ? a : b; }

// Casts never trap: float -> int saturates and NaN -> 0; anything -> b8 is != 0.
template <class To, class From> inline To cast(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    if (v != v) return 0;
    if (v <= From(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
    if (v >= From(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return To(v);
  } else {
    return To(v);
  }
}

}  // namespace scalar_math
}  // namespace duet
