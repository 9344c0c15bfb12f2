// CPU kernels of layer_norm and rms_norm: one row at a time, the row read
// from cache for each of its passes (the statistics in lanes of T summed in
// f64, then the normalized row written once), rows split over the thread team.
#include <cmath>

#include <duet/backends/cpu/loops.h>

namespace duet::cpu {
namespace {

// Rows of a [rows, d] input, so many per parallel chunk that each chunk has
// about kParallelGrain elements.
template <class T, class Row>
void for_rows(const KernelContext& ctx, Row&& row) {
  const int64_t d = ctx.in(0).shape->dim(ctx.in(0).shape->rank() - 1);
  const int64_t rows = d == 0 ? 0 : ctx.in(0).numel() / d;
  const T* x = ctx.in(0).ptr<T>();
  T* y = ctx.out(0).ptr<T>();
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(d, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) row(x + r * d, y + r * d, d);
  });
}

// sum_j f(x[j]) over a row: 16 lanes of T (vectors the width of an AVX-512
// register for f32), each lane at most d / 16 terms, then the lanes added in
// f64. For a row of 1024 f32s a lane's rounding error stays below 64 ulp of
// its terms' scale, far inside what the normalization keeps.
template <class T, class F>
double row_sum(const T* x, int64_t d, F f) {
  constexpr int kLanes = 16;
  T lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= d; j += kLanes)
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) lane[l] += f(x[j + l]);
  double total = 0;
  for (; j < d; ++j) total += double(f(x[j]));
  for (int l = 0; l < kLanes; ++l) total += double(lane[l]);
  return total;
}

template <class T>
void layer_norm_rows(KernelContext& ctx) {
  const T* gamma = ctx.in(1).ptr<T>();
  const T* beta = ctx.in(2).ptr<T>();
  const double eps = ctx.attrs.get_float("eps");
  for_rows<T>(ctx, [&](const T* x, T* y, int64_t d) {
    // Shifted by the row's first element, so the lanes sum numbers of the
    // row's spread, not of its offset (a row far from 0 keeps its digits).
    const T shift = x[0];
    const double mean = double(shift) + row_sum(x, d, [shift](T v) { return v - shift; }) / double(d);
    // The mean as two Ts, m_hi + m_lo: x - m_hi is exact for x near the mean.
    const T m_hi = T(mean), m_lo = T(mean - double(m_hi));
    const double sq = row_sum(x, d, [&](T v) {
      T c = (v - m_hi) - m_lo;
      return c * c;
    });
    const T rstd = T(1.0 / std::sqrt(sq / double(d) + eps));
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) y[j] = ((x[j] - m_hi) - m_lo) * rstd * gamma[j] + beta[j];
  });
}

template <class T>
void rms_norm_rows(KernelContext& ctx) {
  const T* gamma = ctx.in(1).ptr<T>();
  const double eps = ctx.attrs.get_float("eps");
  for_rows<T>(ctx, [&](const T* x, T* y, int64_t d) {
    const double sq = row_sum(x, d, [](T v) { return v * v; });
    const T rrms = T(1.0 / std::sqrt(sq / double(d) + eps));
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) y[j] = x[j] * rrms * gamma[j];
  });
}

void layer_norm_kernel(KernelContext& ctx) {
  if (ctx.in(0).dtype == DType::f32) layer_norm_rows<float>(ctx);
  else if (ctx.in(0).dtype == DType::f64) layer_norm_rows<double>(ctx);
  else ctx.error("expects a floating dtype");
}

void rms_norm_kernel(KernelContext& ctx) {
  if (ctx.in(0).dtype == DType::f32) rms_norm_rows<float>(ctx);
  else if (ctx.in(0).dtype == DType::f64) rms_norm_rows<double>(ctx);
  else ctx.error("expects a floating dtype");
}

DUET_REGISTER_KERNEL(layer_norm, cpu, layer_norm_kernel);
DUET_REGISTER_KERNEL(rms_norm, cpu, rms_norm_kernel);

}  // namespace
}  // namespace duet::cpu
