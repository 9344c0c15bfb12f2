// layer_norm and rms_norm (issue 21): one op each, against the composite of
// mean, square, rsqrt and the elementwise ops on random inputs, eager and
// traced; the gradients against the composite's; the errors.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <cmath>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::contains;
using duet_test::message_of;

namespace {

Tensor layer_norm_ref(const Tensor& x, const Tensor& g, const Tensor& b, double eps) {
  Tensor d = x - mean(x, {-1}, true);
  return d * rsqrt(mean(square(d), {-1}, true) + eps) * g + b;
}
Tensor rms_norm_ref(const Tensor& x, const Tensor& g, double eps) {
  return x * rsqrt(mean(square(x), {-1}, true) + eps) * g;
}

void check_close(const Tensor& got, const Tensor& want, double rtol, double atol) {
  REQUIRE(got.shape() == want.shape());
  std::vector<double> a = cast(got, DType::f64).to_vector<double>(), b = cast(want, DType::f64).to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i << ": got " << a[i] << ", want " << b[i]);
    CHECK(std::fabs(a[i] - b[i]) <= atol + rtol * std::fabs(b[i]));
  }
}

FunctionOptions signature(std::vector<TensorSpec> specs) {
  FunctionOptions o;
  o.input_signature = std::move(specs);
  return o;
}

}  // namespace

TEST_CASE("layer_norm and rms_norm match their composites, f64 and f32, over many row lengths", "[norm]") {
  for (int64_t d : {1, 3, 16, 33, 384}) {
    INFO("row length " << d);
    for (DType dt : {DType::f64, DType::f32}) {
      const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
      Tensor x = randn({2, 5, d}, uint64_t(d), dt) * 3 + 2, g = randn({d}, uint64_t(d) + 1, dt),
             b = randn({d}, uint64_t(d) + 2, dt);
      Tensor ln = layer_norm(x, g, b);
      CHECK(ln.dtype() == dt);
      check_close(ln, layer_norm_ref(cast(x, DType::f64), cast(g, DType::f64), cast(b, DType::f64), 1e-5), tol, tol);
      check_close(rms_norm(x, g, 1e-3), rms_norm_ref(cast(x, DType::f64), cast(g, DType::f64), 1e-3), tol, tol);
    }
  }
}

TEST_CASE("layer_norm keeps its digits for rows far from 0 with a small spread", "[norm]") {
  // Mean 1e4, spread 1e-2: a one-pass E[x^2] - E[x]^2 in f32 would lose everything.
  Tensor x = randn({4, 64}, 7) * 0.01f + 10000.f;
  Tensor g = ones({64}), b = zeros({64});
  Tensor y = layer_norm(x, g, b, 1e-12);
  Tensor want = layer_norm_ref(cast(x, DType::f64), cast(g, DType::f64), cast(b, DType::f64), 1e-12);
  check_close(y, want, 0, 2e-3);  // x itself is rounded to 1e-3 of its spread in f32
  std::vector<float> v = y.to_vector<float>();
  double s = 0, ss = 0;
  for (int j = 0; j < 64; ++j) s += v[j], ss += double(v[j]) * v[j];
  CHECK(std::fabs(s / 64) < 1e-3);
  CHECK(std::fabs(ss / 64 - 1) < 1e-2);
}

TEST_CASE("layer_norm and rms_norm are one op in a trace, and equal eager bit for bit", "[norm]") {
  Tensor x = randn({7, 48}, 11), g = randn({48}, 12), b = randn({48}, 13);
  auto f = function([](const Tensor& x, const Tensor& g, const Tensor& b) { return layer_norm(x, g, b) + rms_norm(x, g); },
                    signature({TensorSpec({-1, 48}), TensorSpec({48}), TensorSpec({48})}));
  CHECK(f(x, g, b).to_vector<float>() == (layer_norm(x, g, b) + rms_norm(x, g)).to_vector<float>());
  Tensor x3 = randn({3, 48}, 14);
  CHECK(f(x3, g, b).to_vector<float>() == (layer_norm(x3, g, b) + rms_norm(x3, g)).to_vector<float>());
  CHECK(f.trace_count() == 1);
  std::string traced = f.get_concrete_function(x, g, b).ir(Stage::traced);
  CHECK(contains(traced, "layer_norm("));
  CHECK(contains(traced, "rms_norm("));
  CHECK_FALSE(contains(traced, "mean("));
}

TEST_CASE("layer_norm and rms_norm gradients equal the composites' gradients, eager and traced", "[norm]") {
  Tensor x = randn({3, 4, 10}, 21, DType::f64) * 2 + 0.5, g = randn({10}, 22, DType::f64),
         b = randn({10}, 23, DType::f64), w = randn({3, 4, 10}, 24, DType::f64);
  auto grads = [&](bool one_op) {
    GradientTape tape;
    for (const Tensor* t : {&x, &g, &b}) tape.watch(*t);
    Tensor y = one_op ? layer_norm(x, g, b, 1e-3) * w + rms_norm(x, g, 1e-4)
                      : layer_norm_ref(x, g, b, 1e-3) * w + rms_norm_ref(x, g, 1e-4);
    return tape.gradient(sum(y * y), std::vector<Tensor>{x, g, b});
  };
  std::vector<Tensor> got = grads(true), want = grads(false);
  for (int k = 0; k < 3; ++k) {
    INFO("gradient " << k);
    check_close(got[k], want[k], 1e-10, 1e-12);
  }
  auto traced = function([](const Tensor& x, const Tensor& g, const Tensor& b) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(g);
    Tensor y = layer_norm(x, g, b, 1e-3);
    return tape.gradient(sum(y * y * y), std::vector<Tensor>{x, g});
  });
  std::vector<Tensor> tg = traced(x, g, b);
  GradientTape tape;
  tape.watch(x);
  tape.watch(g);
  Tensor y = layer_norm(x, g, b, 1e-3);
  std::vector<Tensor> eg = tape.gradient(sum(y * y * y), std::vector<Tensor>{x, g});
  check_close(tg[0], eg[0], 1e-12, 1e-13);
  check_close(tg[1], eg[1], 1e-12, 1e-13);
}

TEST_CASE("layer_norm and rms_norm name bad operands, eager and traced", "[norm]") {
  Tensor x = randn({2, 8});
  std::string msg = message_of<ShapeError>([&] { layer_norm(x, randn({7}), randn({8})); });
  CHECK(contains(msg, "layer_norm"));
  CHECK(contains(msg, "[8] of the input's last dim"));
  CHECK(contains(msg, "f32[2,8], f32[7], f32[8]"));
  CHECK(contains(msg, "test_norm.cpp"));
  msg = message_of<DTypeError>([&] { rms_norm(tensor({{1, 2}}), tensor({1, 2})); });
  CHECK(contains(msg, "rms_norm"));
  CHECK(contains(msg, "floating"));
  CHECK(contains(msg, "test_norm.cpp"));
  msg = message_of<DTypeError>([&] { layer_norm(x, randn({8}, 1, DType::f64), randn({8})); });
  CHECK(contains(msg, "dtypes differ"));
  msg = message_of<Error>([&] { layer_norm(x, randn({8}), randn({8}), 0.0); });
  CHECK(contains(msg, "eps must be > 0, got 0"));
  msg = message_of<ShapeError>([&] { rms_norm(scalar(1.f), scalar(1.f)); });
  CHECK(contains(msg, "rank >= 1"));
  auto f = function([](const Tensor& x, const Tensor& g) { return rms_norm(x, g); });
  msg = message_of<ShapeError>([&] { f(x, randn({2, 8})); });
  CHECK(contains(msg, "rms_norm"));
  CHECK(contains(msg, "test_norm.cpp"));
}
