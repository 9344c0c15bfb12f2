// The eager CPU kernels of every op with scalar semantics: one generic loop
// per arity, instantiated from graph/scalar.h, with fast paths for
// contiguous operands and broadcast scalars, parallel for large tensors.
#include <duet/backends/cpu/loops.h>
#include <duet/graph/scalar.h>

namespace duet::cpu {
namespace {

template <class R, class A, class F>
void unary_loop(KernelContext& ctx, F f) {
  const A* __restrict a = ctx.in(0).ptr<A>();
  R* __restrict o = ctx.out(0).ptr<R>();
  int64_t n = ctx.out(0).numel();
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(a[i]);
  });
}

// The inner run of a binary op, specialized on the common stride patterns so
// the compiler vectorizes them.
template <class R, class A, class B, class F>
inline void binary_run(R* __restrict o, const A* __restrict a, const B* __restrict b, int64_t n, int64_t sa,
                       int64_t sb, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const B bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const A av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i * sa], b[i * sb]);
  }
}

template <class R, class A, class B, class F>
void binary_loop(KernelContext& ctx, F f) {
  const A* a = ctx.in(0).ptr<A>();
  const B* b = ctx.in(1).ptr<B>();
  R* o = ctx.out(0).ptr<R>();
  const Shape& out = *ctx.out(0).shape;
  int64_t n = out.numel();
  const Shape* shapes[2] = {ctx.in(0).shape, ctx.in(1).shape};
  if (*shapes[0] == out && *shapes[1] == out) {  // the common case: no broadcasting
    parallel_for(n, kParallelGrain, [&](int64_t lo, int64_t hi) { binary_run(o + lo, a + lo, b + lo, hi - lo, 1, 1, f); });
    return;
  }
  StridedPlan p = make_plan(out, shapes, 2);
  int last = p.rank - 1;
  parallel_for(n, kParallelGrain, [&](int64_t lo, int64_t hi) {
    for_each_run(p, lo, hi, [&](int64_t pos, const int64_t* off, int64_t count) {
      binary_run(o + pos, a + off[0], b + off[1], count, p.strides[0][last], p.strides[1][last], f);
    });
  });
}

template <class T>
void where_loop(KernelContext& ctx) {
  const bool* c = ctx.in(0).ptr<bool>();
  const T* a = ctx.in(1).ptr<T>();
  const T* b = ctx.in(2).ptr<T>();
  T* o = ctx.out(0).ptr<T>();
  const Shape& out = *ctx.out(0).shape;
  const Shape* shapes[3] = {ctx.in(0).shape, ctx.in(1).shape, ctx.in(2).shape};
  StridedPlan p = make_plan(out, shapes, 3);
  int last = p.rank - 1;
  int64_t sc = p.strides[0][last], sa = p.strides[1][last], sb = p.strides[2][last];
  parallel_for(out.numel(), kParallelGrain, [&](int64_t lo, int64_t hi) {
    for_each_run(p, lo, hi, [&](int64_t pos, const int64_t* off, int64_t count) {
      const bool* cc = c + off[0];
      const T* aa = a + off[1];
      const T* bb = b + off[2];
      T* oo = o + pos;
      for (int64_t i = 0; i < count; ++i) oo[i] = cc[i * sc] ? aa[i * sa] : bb[i * sb];
    });
  });
}

template <class To>
void cast_to(KernelContext& ctx) {
  visit_dtype(ctx.in(0).dtype, [&](auto from) {
    using From = decltype(from);
    unary_loop<To, From>(ctx, [](From v) { return scalar_math::cast<To>(v); });
  });
}

void cast_kernel(KernelContext& ctx) {
  visit_dtype(ctx.out(0).dtype, [&](auto to) { cast_to<decltype(to)>(ctx); });
}

void where_kernel(KernelContext& ctx) {
  visit_dtype(ctx.in(1).dtype, [&](auto t) { where_loop<decltype(t)>(ctx); });
}

// Which dtypes each op's kernel is instantiated for (infer rejects the rest).
enum class Domain { floating, numeric, boolean };

template <Domain D, class F>
void visit_domain(KernelContext& ctx, DType t, F&& f) {
  switch (t) {
    case DType::f32: if constexpr (D != Domain::boolean) return f(float{}); break;
    case DType::f64: if constexpr (D != Domain::boolean) return f(double{}); break;
    case DType::i32: if constexpr (D == Domain::numeric) return f(int32_t{}); break;
    case DType::i64: if constexpr (D == Domain::numeric) return f(int64_t{}); break;
    case DType::b8: if constexpr (D == Domain::boolean) return f(bool{}); break;
  }
  ctx.error(std::string("no CPU kernel for dtype ") + dtype_name(t));
}

#define DUET_UNARY_KERNEL(name, domain)                                                    \
  void name##_kernel(KernelContext& ctx) {                                                 \
    visit_domain<Domain::domain>(ctx, ctx.in(0).dtype, [&](auto t) {                       \
      using T = decltype(t);                                                               \
      unary_loop<T, T>(ctx, [](T x) { return scalar_math::name(x); });                          \
    });                                                                                    \
  }                                                                                        \
  DUET_REGISTER_KERNEL(name, cpu, name##_kernel);

#define DUET_BINARY_KERNEL(name, domain)                                                   \
  void name##_kernel(KernelContext& ctx) {                                                 \
    visit_domain<Domain::domain>(ctx, ctx.in(0).dtype, [&](auto t) {                       \
      using T = decltype(t);                                                               \
      binary_loop<T, T, T>(ctx, [](T x, T y) { return scalar_math::name(x, y); });              \
    });                                                                                    \
  }                                                                                        \
  DUET_REGISTER_KERNEL(name, cpu, name##_kernel);

#define DUET_COMPARE_KERNEL(name)                                                          \
  void name##_kernel(KernelContext& ctx) {                                                 \
    visit_dtype(ctx.in(0).dtype, [&](auto t) {                                             \
      using T = decltype(t);                                                               \
      binary_loop<bool, T, T>(ctx, [](T x, T y) { return scalar_math::name(x, y); });           \
    });                                                                                    \
  }                                                                                        \
  DUET_REGISTER_KERNEL(name, cpu, name##_kernel);

DUET_UNARY_KERNEL(neg, numeric)
DUET_UNARY_KERNEL(abs, numeric)
DUET_UNARY_KERNEL(square, numeric)
DUET_UNARY_KERNEL(relu, numeric)
DUET_UNARY_KERNEL(exp, floating)
DUET_UNARY_KERNEL(log, floating)
DUET_UNARY_KERNEL(sqrt, floating)
DUET_UNARY_KERNEL(rsqrt, floating)
DUET_UNARY_KERNEL(tanh, floating)
DUET_UNARY_KERNEL(sigmoid, floating)
DUET_UNARY_KERNEL(gelu, floating)
DUET_UNARY_KERNEL(erf, floating)
DUET_UNARY_KERNEL(gelu_tanh, floating)
DUET_UNARY_KERNEL(log1p, floating)
DUET_UNARY_KERNEL(softplus, floating)
DUET_UNARY_KERNEL(sign, numeric)
DUET_UNARY_KERNEL(sin, floating)
DUET_UNARY_KERNEL(cos, floating)
DUET_UNARY_KERNEL(logical_not, boolean)

DUET_BINARY_KERNEL(add, numeric)
DUET_BINARY_KERNEL(sub, numeric)
DUET_BINARY_KERNEL(mul, numeric)
DUET_BINARY_KERNEL(div, numeric)
DUET_BINARY_KERNEL(mod, numeric)
DUET_BINARY_KERNEL(pow, numeric)
DUET_BINARY_KERNEL(maximum, numeric)
DUET_BINARY_KERNEL(minimum, numeric)
DUET_BINARY_KERNEL(logical_and, boolean)
DUET_BINARY_KERNEL(logical_or, boolean)

DUET_COMPARE_SCALAR_OPS(DUET_COMPARE_KERNEL)

DUET_REGISTER_KERNEL(where, cpu, where_kernel);
DUET_REGISTER_KERNEL(cast, cpu, cast_kernel);

}  // namespace
}  // namespace duet::cpu
