// duet's eager workloads (WORKLOADS.md W1, W2, plus add-2^24 and matmul-1024),
// each timed through the public API and checked against a scalar reference.
#include "workloads.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include <duet/duet.h>

namespace duet::bench {
namespace {

constexpr int kDispatchOps = 1000;

volatile double g_sink = 0;

}  // namespace

void consume(double value) { g_sink = g_sink + value; }

double check_elements(const std::string& what, int64_t n, const std::function<double(int64_t)>& got,
                      const std::function<double(int64_t)>& want, double tolerance) {
  constexpr int kSamples = 16;
  double sum = 0;
  for (int k = 0; k < kSamples; ++k) {
    int64_t i = k == kSamples - 1 ? n - 1 : (int64_t(k) * 1048573) % n;  // 1048573 is prime
    double g = got(i), w = want(i);
    if (!(std::fabs(g - w) <= tolerance * (1 + std::fabs(w))))
      throw Error(fmt::format("{}: wrong result at element {}: got {}, expected {}", what, i, g, w));
    sum += g;
  }
  return sum;
}

double matmul_reference(const float* a, const float* b, int64_t n, int64_t i) {
  double dot = 0;
  for (int64_t k = 0; k < n; ++k) dot += double(a[i / n * n + k]) * b[k * n + i % n];
  return dot;
}

Summary dispatch_eager(const Repeats& r) {
  Tensor x = randn({8}, /*seed=*/1);
  const float* xs = floats(x);
  auto body = [&] {
    Tensor y = x;
    for (int i = 0; i < kDispatchOps; ++i) y = y + x;
    return y;
  };
  auto check = [&](const Tensor& y) {
    std::vector<float> ys = y.to_vector<float>();
    consume(check_elements(
        "W1 eager", 8, [&](int64_t i) { return ys[i]; },
        [&](int64_t i) { return (kDispatchOps + 1) * double(xs[i]); }, 1e-4));
  };
  auto seconds = time_repeats(r, body, check);
  return summarize_as(seconds, [](double s) { return s * 1e6 / kDispatchOps; });
}

// The same chain as one traced function: fuse-elementwise makes the 1,000
// adds one fusion, so a call is one compiled kernel's run plus the
// function's call overhead, reported per add.
Summary dispatch_traced(const Repeats& r) {
  Tensor x = randn({8}, /*seed=*/1);
  const float* xs = floats(x);
  FunctionOptions options;
  options.name = "w1_chain";
  auto chain = function(
      [](Tensor y, Tensor x) {
        for (int i = 0; i < kDispatchOps; ++i) y = y + x;
        return y;
      },
      options);
  auto body = [&] { return chain(x, x); };
  auto check = [&](const Tensor& y) {
    std::vector<float> ys = y.to_vector<float>();
    consume(check_elements(
        "W1 traced", 8, [&](int64_t i) { return ys[i]; },
        [&](int64_t i) { return (kDispatchOps + 1) * double(xs[i]); }, 1e-4));
  };
  auto seconds = time_repeats(r, body, check);
  if (chain.trace_count() != 1) throw Error("W1 traced: the chain was traced more than once");
  return summarize_as(seconds, [](double s) { return s * 1e6 / kDispatchOps; });
}

Summary ew_chain_eager(const Repeats& r) {
  const Shape shape{kStreamElements};
  Tensor x = randn(shape, /*seed=*/1), a = randn(shape, /*seed=*/2), b = randn(shape, /*seed=*/3);
  const float *xs = floats(x), *as = floats(a), *bs = floats(b);
  auto body = [&] { return tanh(x * a + b) * sigmoid(x) - 0.5 * x; };
  auto check = [&](const Tensor& y) {
    const float* ys = floats(y);
    consume(check_elements(
        "W2 eager", kStreamElements, [&](int64_t i) { return ys[i]; },
        [&](int64_t i) {
          double xv = xs[i];
          return std::tanh(xv * as[i] + bs[i]) / (1 + std::exp(-xv)) - 0.5 * xv;
        },
        1e-4));
  };
  auto seconds = time_repeats(r, body, check);
  const double bytes = 4.0 * kStreamElements * sizeof(float);  // read x, a, b; write y
  return summarize_as(seconds, [&](double s) { return gbps(bytes, s); });
}

Summary ew_chain_traced(const Repeats& r) {
  const Shape shape{kStreamElements};
  Tensor x = randn(shape, /*seed=*/1), a = randn(shape, /*seed=*/2), b = randn(shape, /*seed=*/3);
  const float *xs = floats(x), *as = floats(a), *bs = floats(b);
  FunctionOptions options;
  options.name = "w2_chain";
  auto chain = function([](Tensor x, Tensor a, Tensor b) { return tanh(x * a + b) * sigmoid(x) - 0.5 * x; }, options);
  auto body = [&] { return chain(x, a, b); };
  auto check = [&](const Tensor& y) {
    const float* ys = floats(y);
    consume(check_elements(
        "W2 traced", kStreamElements, [&](int64_t i) { return ys[i]; },
        [&](int64_t i) {
          double xv = xs[i];
          return std::tanh(xv * as[i] + bs[i]) / (1 + std::exp(-xv)) - 0.5 * xv;
        },
        1e-4));
  };
  auto seconds = time_repeats(r, body, check);
  const double bytes = 4.0 * kStreamElements * sizeof(float);
  return summarize_as(seconds, [&](double s) { return gbps(bytes, s); });
}

Summary add_eager(const Repeats& r) {
  const Shape shape{kStreamElements};
  Tensor x = randn(shape, /*seed=*/4), y = randn(shape, /*seed=*/5);
  const float *xs = floats(x), *ys = floats(y);
  auto body = [&] { return x + y; };
  auto check = [&](const Tensor& z) {
    const float* zs = floats(z);
    consume(check_elements(
        "add-2^24 eager", kStreamElements, [&](int64_t i) { return zs[i]; },
        [&](int64_t i) { return double(xs[i] + ys[i]); }, 1e-6));
  };
  auto seconds = time_repeats(r, body, check);
  const double bytes = 3.0 * kStreamElements * sizeof(float);  // read x, y; write the sum
  return summarize_as(seconds, [&](double s) { return gbps(bytes, s); });
}

Summary matmul_eager(const Repeats& r) {
  const int64_t n = kMatmulSize;
  Tensor a = randn({n, n}, /*seed=*/6), b = randn({n, n}, /*seed=*/7);
  const float *as = floats(a), *bs = floats(b);
  auto body = [&] { return matmul(a, b); };
  auto check = [&](const Tensor& c) {
    const float* cs = floats(c);
    consume(check_elements(
        "matmul-1024 eager", n * n, [&](int64_t i) { return cs[i]; },
        [&](int64_t i) { return matmul_reference(as, bs, n, i); }, 1e-3));
  };
  auto seconds = time_repeats(r, body, check);
  return summarize_as(seconds, [](double s) { return s * 1e3; });
}

}  // namespace duet::bench
