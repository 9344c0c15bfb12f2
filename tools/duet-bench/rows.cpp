// W3a softmax and W3b layernorm: normalizations along the rows of
// f32[4096,1024], eager and traced, checked against an f64 reference of the
// sampled rows. Both are memory-bound: judged in GB/s against the triad.
#include "workloads.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <duet/duet.h>

#include "modes.h"

namespace duet::bench {
namespace {

constexpr int64_t kRows = 4096, kCols = 1024;
constexpr double kEps = 1e-5;
// One read of x and one write of y; gamma and beta (8 KB) stay in cache.
constexpr double kBytes = 2.0 * kRows * kCols * sizeof(float);

Tensor layernorm(Tensor x, Tensor gamma, Tensor beta) { return layer_norm(x, gamma, beta, kEps); }

// Element i of the row softmax of xs, in f64.
double softmax_reference(const float* xs, int64_t i) {
  const float* row = xs + i / kCols * kCols;
  double top = *std::max_element(row, row + kCols), sum = 0;
  for (int64_t j = 0; j < kCols; ++j) sum += std::exp(row[j] - top);
  return std::exp(xs[i] - top) / sum;
}

// Element i of the layernorm of xs, in f64 (biased variance, as mean() gives).
double layernorm_reference(const float* xs, const float* gamma, const float* beta, int64_t i) {
  const float* row = xs + i / kCols * kCols;
  double mu = 0, variance = 0;
  for (int64_t j = 0; j < kCols; ++j) mu += row[j];
  mu /= kCols;
  for (int64_t j = 0; j < kCols; ++j) variance += (row[j] - mu) * (row[j] - mu);
  variance /= kCols;
  const int64_t j = i % kCols;
  return (xs[i] - mu) / std::sqrt(variance + kEps) * gamma[j] + beta[j];
}

// y = f(inputs...) in one mode; every sample's y is checked against want(i)
// within `tolerance` (check_elements: relative to 1 + |want|).
template <class F, class Want, class... Inputs>
Summary run(const std::string& what, bool traced, const Repeats& r, double tolerance, F f, Want want,
            const Inputs&... inputs) {
  auto check = [&](const Tensor& y) {
    const float* ys = floats(y);
    consume(check_elements(what, kRows * kCols, [&](int64_t i) { return ys[i]; }, want, tolerance));
  };
  auto seconds = time_mode(what, traced, r, 1, f, check, inputs...);
  return summarize_as(seconds, [](double s) { return gbps(kBytes, s); });
}

Summary softmax_mode(const Repeats& r, bool traced) {
  Tensor x = randn({kRows, kCols}, /*seed=*/11);
  const float* xs = floats(x);
  // Softmax values are about 1/1024: an absolute 1e-7 is 1e-4 of one.
  return run(
      traced ? "W3a traced" : "W3a eager", traced, r, 1e-7, [](Tensor x) { return softmax(x, -1); },
      [&](int64_t i) { return softmax_reference(xs, i); }, x);
}

Summary layernorm_mode(const Repeats& r, bool traced) {
  Tensor x = randn({kRows, kCols}, /*seed=*/12), gamma = randn({kCols}, 13), beta = randn({kCols}, 14);
  const float *xs = floats(x), *gs = floats(gamma), *bs = floats(beta);
  return run(
      traced ? "W3b traced" : "W3b eager", traced, r, 1e-4, layernorm,
      [&](int64_t i) { return layernorm_reference(xs, gs, bs, i); }, x, gamma, beta);
}

}  // namespace

Summary softmax_eager(const Repeats& r) { return softmax_mode(r, false); }
Summary softmax_traced(const Repeats& r) { return softmax_mode(r, true); }
Summary layernorm_eager(const Repeats& r) { return layernorm_mode(r, false); }
Summary layernorm_traced(const Repeats& r) { return layernorm_mode(r, true); }

}  // namespace duet::bench
