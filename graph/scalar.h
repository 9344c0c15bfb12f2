// Scalar semantics of the elementwise ops: one definition that the eager CPU
// kernels instantiate and the code generators mirror (DESIGN.md §2.1).
// See NOTE [Integer arithmetic never traps] in docs/semantics.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace duet {

// X-macros: every op with scalar semantics, by arity.
#define DUET_UNARY_SCALAR_OPS(X) \
  X(neg) X(abs) X(square) X(exp) X(log) X(sqrt) X(rsqrt) X(tanh) X(sigmoid) X(relu) X(gelu) X(erf) X(logical_not)
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
template <class T> inline T exp(T a) { return std::exp(a); }
template <class T> inline T log(T a) { return std::log(a); }
template <class T> inline T sqrt(T a) { return std::sqrt(a); }
template <class T> inline T rsqrt(T a) { return T(1) / std::sqrt(a); }
template <class T> inline T tanh(T a) { return std::tanh(a); }
template <class T> inline T sigmoid(T a) { return T(1) / (T(1) + std::exp(-a)); }
template <class T> inline T relu(T a) { return a < T(0) ? T(0) : a; }  // relu(NaN) = NaN
// The exact (erf) form, as PyTorch's default.
template <class T> inline T gelu(T a) { return T(0.5) * a * (T(1) + std::erf(a * T(0.70710678118654752440))); }
template <class T> inline T erf(T a) { return std::erf(a); }
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
