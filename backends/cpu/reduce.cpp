// CPU kernels of the reductions (sum, mean, max, min, argmax) and of the
// normalizations along one axis (softmax, log_softmax), plus one_hot.
//
// A reduction over any set of axes is done as a sequence of reductions of
// the form [outer, r, inner] -> [outer, inner], each over a run of adjacent
// reduced dims, last run first. Floating sums accumulate in f64; integer sums
// wrap in their own type.
#include <cstring>
#include <limits>
#include <vector>

#include <duet/backends/cpu/loops.h>
#include <duet/graph/ops/infer_util.h>
#include <duet/graph/scalar.h>

namespace duet::cpu {
namespace {

enum class Reduce { sum, max, min };

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;

template <Reduce R, class T>
inline T combine(T a, T b) {
  if constexpr (R == Reduce::sum) return scalar_math::add(a, b);
  else if constexpr (R == Reduce::max) return scalar_math::maximum(a, b);
  else return scalar_math::minimum(a, b);
}

template <Reduce R, class T>
constexpr T identity() {
  if constexpr (R == Reduce::sum) return T(0);
  else if constexpr (R == Reduce::max) return std::numeric_limits<T>::lowest();
  else return std::numeric_limits<T>::max();
}

// out[o, i] = reduce_r in[o, r, i]
template <Reduce R, class T>
void reduce3(const T* in, T* out, int64_t outer, int64_t n, int64_t inner) {
  using A = std::conditional_t<R == Reduce::sum, Acc<T>, T>;
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const T* row = in + o * n;
        A acc = identity<R, A>();
        if constexpr (R == Reduce::sum && std::is_floating_point_v<T>) {
#pragma omp simd reduction(+ : acc)
          for (int64_t j = 0; j < n; ++j) acc += A(row[j]);
        } else {
          for (int64_t j = 0; j < n; ++j) acc = combine<R, A>(acc, A(row[j]));
        }
        out[o] = T(acc);
      }
    });
    return;
  }
  parallel_for(outer * inner, kParallelGrain, [&](int64_t lo, int64_t hi) {
    // Split [lo, hi) of the output into per-outer blocks of the inner dim.
    std::vector<A> acc;
    for (int64_t pos = lo; pos < hi;) {
      int64_t o = pos / inner, i0 = pos % inner;
      int64_t i1 = std::min(inner, i0 + (hi - pos));
      acc.assign(static_cast<size_t>(i1 - i0), identity<R, A>());
      for (int64_t j = 0; j < n; ++j) {
        const T* row = in + (o * n + j) * inner;
        for (int64_t i = i0; i < i1; ++i) acc[i - i0] = combine<R, A>(acc[i - i0], A(row[i]));
      }
      for (int64_t i = i0; i < i1; ++i) out[o * inner + i] = T(acc[i - i0]);
      pos += i1 - i0;
    }
  });
}

template <Reduce R, class T>
void reduce_axes(const KernelContext& ctx, bool mean) {
  const Shape& in_shape = *ctx.in(0).shape;
  std::vector<int> axes = reduction_axes(ctx.attrs.get_ints("axes"), in_shape.rank());
  std::vector<int64_t> dims(in_shape.begin(), in_shape.end());
  std::vector<bool> reduced(dims.size(), false);
  int64_t count = 1;
  for (int a : axes) {
    reduced[a] = true;
    count *= dims[a];
  }
  const T* src = ctx.in(0).ptr<T>();
  T* dst = ctx.out(0).ptr<T>();
  std::vector<T> tmp_a, tmp_b;
  bool any = false;
  // Reduce runs of adjacent reduced dims, last run first.
  int d = static_cast<int>(dims.size()) - 1;
  while (d >= 0) {
    if (!reduced[d]) { --d; continue; }
    int end = d;
    while (d >= 0 && reduced[d]) --d;
    int begin = d + 1;
    int64_t outer = 1, n = 1, inner = 1;
    for (int i = 0; i < begin; ++i) outer *= dims[i];
    for (int i = begin; i <= end; ++i) n *= dims[i];
    for (size_t i = end + 1; i < dims.size(); ++i) inner *= dims[i];
    bool last = true;
    for (int i = 0; i < begin; ++i) if (reduced[i]) last = false;
    T* target;
    if (last) {
      target = dst;
    } else {
      std::vector<T>& buf = (src == tmp_a.data() && any) ? tmp_b : tmp_a;
      buf.resize(static_cast<size_t>(outer * inner));
      target = buf.data();
    }
    reduce3<R, T>(src, target, outer, n, inner);
    any = true;
    src = target;
    for (int i = begin; i <= end; ++i) dims[i] = 1;
  }
  int64_t out_n = ctx.out(0).numel();
  if (!any) std::memcpy(dst, src, static_cast<size_t>(out_n) * sizeof(T));  // no axis reduced
  if (mean) {
    if constexpr (std::is_floating_point_v<T>) {
      double scale = 1.0 / static_cast<double>(count);
      for (int64_t i = 0; i < out_n; ++i) dst[i] = T(double(dst[i]) * scale);
    }
  }
}

template <Reduce R>
void reduce_kernel(KernelContext& ctx, bool mean) {
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) ctx.error("no CPU kernel for b8");
    else reduce_axes<R, T>(ctx, mean);
  });
}

void sum_kernel(KernelContext& ctx) { reduce_kernel<Reduce::sum>(ctx, false); }
void mean_kernel(KernelContext& ctx) { reduce_kernel<Reduce::sum>(ctx, true); }
void max_kernel(KernelContext& ctx) { reduce_kernel<Reduce::max>(ctx, false); }
void min_kernel(KernelContext& ctx) { reduce_kernel<Reduce::min>(ctx, false); }

// [outer, n, inner] around one axis.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisSplit split_at(const Shape& s, int64_t axis_attr) {
  int r = s.rank();
  int axis = static_cast<int>(axis_attr < 0 ? axis_attr + r : axis_attr);
  AxisSplit a;
  for (int i = 0; i < r; ++i) {
    if (i < axis) a.outer *= s.dim(i);
    else if (i == axis) a.n = s.dim(i);
    else a.inner *= s.dim(i);
  }
  return a;
}

void argmax_kernel(KernelContext& ctx) {
  AxisSplit a = split_at(*ctx.in(0).shape, ctx.attrs.get_int("axis"));
  int64_t* out = ctx.out(0).ptr<int64_t>();
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    const T* in = ctx.in(0).ptr<T>();
    parallel_for(a.outer * a.inner, kParallelGrain / std::max<int64_t>(a.n, 1) + 1, [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        int64_t o = p / a.inner, i = p % a.inner;
        const T* base = in + o * a.n * a.inner + i;
        int64_t best = 0;
        T bv = base[0];
        for (int64_t j = 1; j < a.n; ++j) {
          T v = base[j * a.inner];
          if constexpr (std::is_floating_point_v<T>) {
            if (bv != bv) break;  // the first NaN wins, as numpy's argmax
            if (v != v || v > bv) { bv = v; best = j; }
          } else {
            if (v > bv) { bv = v; best = j; }
          }
        }
        out[p] = best;
      }
    });
  });
}

// NOTE [Softmax sum order]
// A softmax row's sum of exponentials, in f64, in one fixed order whatever
// the vector width: 16 lanes, lane l adding the elements j = l (mod 16) in
// turn, then lanes l and l + w added for w = 8, 4, 2, 1. The compiled softmax
// kernel (codegen/llvm/generate.cpp) sums in this order too, with two
// <8 x double> accumulators, so compiled and eager softmax agree to the bit.
template <class T>
double softmax_row_sum(const T* y, int64_t n) {
  constexpr int kLanes = 16;
  double lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) lane[l] += double(y[j + l]);
  for (int l = 0; j + l < n; ++l) lane[l] += double(y[j + l]);
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
  return lane[0];
}

// Contiguous rows [0, rows) of length n: each row's max (NaN propagates),
// then exp(x - max) over the whole block at once (so the polynomial exp
// vectorizes even when rows are short: W5's [128,10] logits), then each row's
// sum in f64, then the scale (softmax) or x - max - log(sum) (log_softmax).
template <bool kLog, class T>
void contiguous_softmax_tile(const T* x, T* y, int64_t rows, int64_t n) {
  std::vector<T> shift(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    T mx = -std::numeric_limits<T>::infinity();
    int nan = 0;
#pragma omp simd reduction(max : mx) reduction(| : nan)
    for (int64_t j = 0; j < n; ++j) {
      mx = xr[j] > mx ? xr[j] : mx;
      nan |= xr[j] != xr[j];
    }
    T m = nan ? std::numeric_limits<T>::quiet_NaN() : mx;
    if (m == -std::numeric_limits<T>::infinity()) m = 0;  // all -inf: avoid inf - inf
    shift[static_cast<size_t>(r)] = m;
    T* yr = y + r * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - m;
  }
  const int64_t total_n = rows * n;
#pragma omp simd
  for (int64_t i = 0; i < total_n; ++i) y[i] = scalar_math::exp(y[i]);
  for (int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * n;
    const double total = softmax_row_sum(yr, n);
    if (kLog) {
      const T* xr = x + r * n;
      const T m = shift[static_cast<size_t>(r)], lse = T(std::log(total));
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] - m - lse;
    } else {
      const T inv = T(1.0 / total);
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
    }
  }
}

// Tiles of about 32 KB of rows, so the passes over a tile stay in L1/L2.
template <bool kLog, class T>
void contiguous_softmax(const T* x, T* y, int64_t rows, int64_t n) {
  const int64_t tile = std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1));
  for (int64_t r = 0; r < rows; r += tile)
    contiguous_softmax_tile<kLog>(x + r * n, y + r * n, std::min(tile, rows - r), n);
}

template <bool kLog>
void softmax_kernel(KernelContext& ctx) {
  AxisSplit a = split_at(*ctx.in(0).shape, ctx.attrs.get_int("axis"));
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) {
      const T* in = ctx.in(0).ptr<T>();
      T* out = ctx.out(0).ptr<T>();
      if (a.inner == 1) {  // contiguous rows: blocks of rows, vectorized passes
        parallel_for(a.outer, kParallelGrain / std::max<int64_t>(a.n, 1) + 1, [&](int64_t lo, int64_t hi) {
          contiguous_softmax<kLog>(in + lo * a.n, out + lo * a.n, hi - lo, a.n);
        });
        return;
      }
      parallel_for(a.outer * a.inner, kParallelGrain / std::max<int64_t>(a.n, 1) + 1, [&](int64_t lo, int64_t hi) {
        for (int64_t p = lo; p < hi; ++p) {
          int64_t o = p / a.inner, i = p % a.inner;
          const T* x = in + o * a.n * a.inner + i;
          T* y = out + o * a.n * a.inner + i;
          const int64_t s = a.inner;
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t j = 0; j < a.n; ++j) m = scalar_math::maximum(m, x[j * s]);
          if (m == -std::numeric_limits<T>::infinity()) m = 0;  // all -inf: avoid inf - inf
          double total = 0;
          if (kLog) {
            for (int64_t j = 0; j < a.n; ++j) total += std::exp(double(x[j * s] - m));
            T lse = T(std::log(total));
            for (int64_t j = 0; j < a.n; ++j) y[j * s] = x[j * s] - m - lse;
          } else {
            for (int64_t j = 0; j < a.n; ++j) {
              T e = std::exp(x[j * s] - m);
              y[j * s] = e;
              total += e;
            }
            T inv = T(1.0 / total);
            for (int64_t j = 0; j < a.n; ++j) y[j * s] *= inv;
          }
        }
      });
    } else {
      ctx.error("expects a floating dtype");
    }
  });
}

// NOTE [Labels are checked]: a label outside [0, depth) is the op's
// IndexError, read in the same pass that writes the rows (traced calls run
// this kernel too, so they check at no extra pass), never a silent row of
// zeros (TensorFlow's rule, which turns a bad label into a wrong loss).
void one_hot_kernel(KernelContext& ctx) {
  int64_t depth = ctx.attrs.get_int("depth");
  int64_t n = ctx.in(0).numel();
  float* out = ctx.out(0).ptr<float>();
  std::memset(out, 0, static_cast<size_t>(n * depth) * sizeof(float));
  bool bad = false;
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    const T* labels = ctx.in(0).ptr<T>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t l = static_cast<int64_t>(labels[i]);
      if (l >= 0 && l < depth) out[i * depth + l] = 1.0f;
      else bad = true;
    }
  });
  if (bad) check_labels(ctx, ctx.in(0), depth);  // names the first bad label
}

DUET_REGISTER_KERNEL(sum, cpu, sum_kernel);
DUET_REGISTER_KERNEL(mean, cpu, mean_kernel);
DUET_REGISTER_KERNEL(max, cpu, max_kernel);
DUET_REGISTER_KERNEL(min, cpu, min_kernel);
DUET_REGISTER_KERNEL(argmax, cpu, argmax_kernel);
DUET_REGISTER_KERNEL(softmax, cpu, softmax_kernel<false>);
DUET_REGISTER_KERNEL(log_softmax, cpu, softmax_kernel<true>);
DUET_REGISTER_KERNEL(one_hot, cpu, one_hot_kernel);

}  // namespace
}  // namespace duet::cpu
