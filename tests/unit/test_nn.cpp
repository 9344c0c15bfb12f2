// Layers and losses (DESIGN.md §1) against simple host references.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

using namespace duet;
using namespace duet_test;

namespace {


// y[b][o] = act(sum_i x[b][i] k[i][o] + bias[o]), computed in double.
std::vector<float> dense_ref(const std::vector<float>& x, const std::vector<float>& k, const std::vector<float>& bias,
                             int64_t batch, int64_t in, int64_t out, const std::function<double(double)>& act) {
  std::vector<float> y(static_cast<size_t>(batch * out));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias.empty() ? 0.0 : bias[o];
      for (int64_t i = 0; i < in; ++i) acc += double(x[b * in + i]) * k[i * out + o];
      y[b * out + o] = float(act(acc));
    }
  return y;
}

double identity(double v) { return v; }

void check_same(const std::vector<Variable>& got, const std::vector<Variable>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("variable " << i << " " << got[i].name());
    CHECK(got[i].same_as(want[i]));
  }
}

}  // namespace

TEST_CASE("nn Dense forward is activation of x times kernel plus bias", "[nn]") {
  Tensor x = randn({5, 7}, 11);
  struct Case {
    nn::Activation a;
    std::function<double(double)> f;
  };
  std::vector<Case> cases{{nn::Activation::none, identity},
                          {nn::Activation::relu, [](double v) { return std::max(v, 0.0); }},
                          {nn::Activation::tanh, [](double v) { return std::tanh(v); }},
                          {nn::Activation::sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
                          {nn::Activation::gelu, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }}};
  for (const Case& c : cases) {
    INFO("activation " << int(c.a));
    nn::Dense d(7, 3, c.a);
    Tensor y = d(x);
    CHECK(y.shape() == Shape({5, 3}));
    check_close(f32s(y), dense_ref(f32s(x), f32s(d.kernel()), f32s(d.bias()), 5, 7, 3, c.f), 1e-5);
  }
  SECTION("use_bias false has no bias variable and computes x times kernel") {
    nn::Dense d(7, 3, nn::Activation::none, /*use_bias=*/false);
    CHECK_FALSE(d.bias().defined());
    REQUIRE(d.trainable_variables().size() == 1);
    CHECK(d.trainable_variables()[0].same_as(d.kernel()));
    check_close(f32s(d(x)), dense_ref(f32s(x), f32s(d.kernel()), {}, 5, 7, 3, identity), 1e-5);
  }
}

TEST_CASE("nn Conv2D forward matches a direct convolution with stride and padding", "[nn]") {
  const int64_t N = 2, C = 3, H = 7, W = 6, O = 4, K = 3, S = 2, P = 1;
  nn::Conv2D conv(C, O, K, S, P, nn::Activation::relu);
  std::vector<Variable> vars = conv.trainable_variables();
  REQUIRE(vars.size() == 2);
  CHECK(vars[0].shape() == Shape({O, C, K, K}));
  CHECK(vars[1].shape() == Shape({O}));
  Tensor x = randn({N, C, H, W}, 3);
  Tensor y = conv(x);
  const int64_t OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
  REQUIRE(y.shape() == Shape({N, O, OH, OW}));
  std::vector<float> xs = f32s(x), w = f32s(vars[0]), b = f32s(vars[1]), want;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = b[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ki = 0; ki < K; ++ki)
              for (int64_t kj = 0; kj < K; ++kj) {
                int64_t r = i * S - P + ki, q = j * S - P + kj;
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                acc += double(xs[((n * C + c) * H + r) * W + q]) * w[((o * C + c) * K + ki) * K + kj];
              }
          want.push_back(float(std::max(acc, 0.0)));
        }
  check_close(f32s(y), want, 1e-5);
}

TEST_CASE("nn MaxPool2D and Flatten forward", "[nn]") {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = float((i * 7) % 16);  // scrambled so the max moves around
  Tensor x = from_vector(v, {1, 1, 4, 4});
  // The reference: the max of each k x k window, windows `stride` apart, over the 4x4 image.
  auto pool_ref = [&](int k, int stride) {
    std::vector<float> out;
    for (int bi = 0; bi + k <= 4; bi += stride)
      for (int bj = 0; bj + k <= 4; bj += stride) {
        float m = -1;
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j) m = std::max(m, v[(bi + i) * 4 + bj + j]);
        out.push_back(m);
      }
    return out;
  };
  Tensor p = nn::MaxPool2D(2)(x);  // stride defaults to the kernel
  CHECK(p.shape() == Shape({1, 1, 2, 2}));
  CHECK(f32s(p) == pool_ref(2, 2));
  Tensor p3 = nn::MaxPool2D(3, 1)(x);
  CHECK(p3.shape() == Shape({1, 1, 2, 2}));
  CHECK(f32s(p3) == pool_ref(3, 1));

  Tensor t = randn({2, 3, 4, 5}, 9);
  Tensor f = nn::Flatten()(t);
  CHECK(f.shape() == Shape({2, 60}));
  CHECK(f32s(f) == f32s(t));  // row-major order kept
  CHECK(nn::Flatten()(randn({6}, 1)).shape() == Shape({6, 1}));
}

TEST_CASE("nn Sequential applies its layers in order", "[nn]") {
  nn::Dense d1(6, 5, nn::Activation::tanh), d2(5, 4, nn::Activation::relu), d3(4, 2);
  nn::Sequential model{d1, d2, d3};
  CHECK(model.size() == 3);
  Tensor x = randn({3, 6}, 5);
  check_close(f32s(model(x)), f32s(d3(d2(d1(x)))), 1e-6);
  const Variable& kernel = d1.kernel();  // a const Variable converts to Tensor (this must compile)
  CHECK(matmul(x, kernel).shape() == Shape({3, 5}));
  auto tanh_f = [](double v) { return std::tanh(v); };
  auto relu_f = [](double v) { return std::max(v, 0.0); };
  std::vector<float> h1 = dense_ref(f32s(x), f32s(d1.kernel()), f32s(d1.bias()), 3, 6, 5, tanh_f);
  std::vector<float> h2 = dense_ref(h1, f32s(d2.kernel()), f32s(d2.bias()), 3, 5, 4, relu_f);
  check_close(f32s(model(x)), dense_ref(h2, f32s(d3.kernel()), f32s(d3.bias()), 3, 4, 2, identity), 1e-5);
  // A CNN shape chain: [B,1,28,28] -> [B,10].
  nn::Sequential cnn{nn::Conv2D(1, 8, 5, 1, 0, nn::Activation::relu), nn::MaxPool2D(2),
                     nn::Conv2D(8, 16, 5, 1, 0, nn::Activation::relu), nn::MaxPool2D(2), nn::Flatten(),
                     nn::Dense(256, 10)};
  CHECK(cnn(rand({2, 1, 28, 28}, 1)).shape() == Shape({2, 10}));
}

TEST_CASE("nn a layer given the wrong input throws an error naming the caller's line", "[nn]") {
  // DESIGN.md: errors name the user's source line, not one inside the library.
  using Catch::Matchers::Contains;
  Tensor x = rand({2, 4}, 1), image = rand({1, 1, 4, 4}, 1);
  CHECK_THROWS_AS(nn::Dense(3, 2)(x), ShapeError);
  CHECK_THROWS_WITH(nn::Dense(3, 2)(x), Contains("f32[2,4]") && Contains("test_nn.cpp"));
  CHECK_THROWS_AS(nn::Conv2D(2, 1, 3)(image), ShapeError);
  CHECK_THROWS_WITH(nn::Conv2D(2, 1, 3)(image), Contains("f32[1,1,4,4]") && Contains("test_nn.cpp"));
  CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({0, 1}), rand({3, 4}, 1)), Contains("test_nn.cpp"));
}

TEST_CASE("nn copies of a layer share its variables", "[nn]") {
  nn::Dense a(3, 2);
  nn::Dense b = a;
  CHECK(b.kernel().same_as(a.kernel()));
  a.kernel().assign(full({3, 2}, 0.5f));
  b.bias().assign(tensor({1.f, -1.f}));
  CHECK(f32s(b.kernel()) == std::vector<float>(6, 0.5f));
  CHECK(f32s(a.bias()) == std::vector<float>{1.f, -1.f});
  Tensor x = tensor({{1.f, 2.f, 3.f}});
  CHECK(f32s(b(x)) == std::vector<float>{4.f, 2.f});
  // A layer handed to a Sequential, and a copy of the Sequential, are the same state.
  nn::Sequential model{a};
  nn::Sequential copy = model;
  copy.trainable_variables()[0].assign(full({3, 2}, 1.f));
  CHECK(f32s(a.kernel()) == std::vector<float>(6, 1.f));
  CHECK(f32s(model(x)) == std::vector<float>{7.f, 5.f});
  nn::Sequential grown = model;  // adding through one handle shows in the other
  grown.add(nn::Dense(2, 1));
  CHECK(model.size() == 2);
  CHECK(model.trainable_variables().size() == 4);
}

TEST_CASE("nn trainable_variables go layer by layer, kernel then bias", "[nn]") {
  nn::Dense d1(4, 3), d2(3, 2, nn::Activation::none, /*use_bias=*/false), d3(2, 5);
  nn::Conv2D c(1, 2, 3);
  nn::Sequential model{d1, nn::Sequential{d2, nn::Flatten()}, d3};
  std::vector<Variable> vars = model.trainable_variables();
  check_same(vars, {d1.kernel(), d1.bias(), d2.kernel(), d3.kernel(), d3.bias()});
  CHECK(vars[0].shape() == Shape({4, 3}));
  CHECK(vars[4].shape() == Shape({5}));
  std::vector<Variable> cv = c.trainable_variables();
  REQUIRE(cv.size() == 2);
  CHECK(cv[0].shape() == Shape({2, 1, 3, 3}));
  CHECK(cv[1].shape() == Shape({2}));
  CHECK(nn::Conv2D(1, 2, 3, 1, 0, nn::Activation::none, /*use_bias=*/false).trainable_variables().size() == 1);
}

namespace {

// A custom layer: y = scale * dense(x), with a non-trainable counter.
class ScaledDense : public nn::Module {
 public:
  ScaledDense(int64_t in, int64_t out) {
    scale_ = register_variable(Variable(full({out}, 2.f), "scaled/scale"));
    calls_ = register_variable(Variable(scalar(0.f), "scaled/calls", /*trainable=*/false));
    dense_ = register_module(nn::Dense(in, out));
  }
  Tensor forward(const Tensor& x) override {
    calls_.assign_add(scalar(1.f));
    return dense_(x) * scale_;
  }
  nn::Dense dense_{1, 1};
  Variable scale_, calls_;
};

}  // namespace

TEST_CASE("nn a custom Module lists its own variables then its sub-modules in order", "[nn]") {
  ScaledDense block(3, 2);
  check_same(block.variables(), {block.scale_, block.calls_, block.dense_.kernel(), block.dense_.bias()});
  check_same(block.trainable_variables(), {block.scale_, block.dense_.kernel(), block.dense_.bias()});
  nn::Sequential model{nn::Dense(4, 3), block};
  CHECK(model.trainable_variables().size() == 5);
  CHECK(model.trainable_variables()[2].same_as(block.scale_));
  Tensor x = randn({2, 4}, 1);
  CHECK(f32s(nn::Sequential{}(x)) == f32s(x));  // an empty Sequential is the identity
  model(x);
  CHECK(block.calls_.value().item<float>() == 1.f);  // the copy inside model shares calls_
}

TEST_CASE("nn PyTorch initialisation: uniform within 1 over sqrt fan_in, from a seed", "[nn]") {
  auto check_init = [](const Variable& v, double bound) {
    std::vector<float> xs = f32s(v);
    float lo = *std::min_element(xs.begin(), xs.end()), hi = *std::max_element(xs.begin(), xs.end());
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    CHECK(hi - lo > 1.5 * bound);  // spread over the whole range, not one value or one half
    double mean = 0;
    for (float x : xs) mean += x;
    mean /= double(xs.size());
    CHECK(std::abs(mean) < bound / 4);
  };
  nn::manual_seed(1);  // the statistics below hold for almost every seed; fix one so the test repeats
  nn::Dense d(400, 200);
  check_init(d.kernel(), 1 / 20.0);
  check_init(d.bias(), 1 / 20.0);
  std::vector<float> kernel = f32s(d.kernel());
  CHECK(f32s(d.bias()) != std::vector<float>(kernel.begin(), kernel.begin() + 200));  // not the kernel's stream
  nn::Conv2D c(3, 100, 5);
  std::vector<Variable> cv = c.trainable_variables();
  check_init(cv[0], 1 / std::sqrt(75.0));
  check_init(cv[1], 1 / std::sqrt(75.0));

  // An explicit seed repeats; another seed differs.
  nn::Dense s1(10, 4, nn::Activation::none, true, 123), s2(10, 4, nn::Activation::none, true, 123);
  nn::Dense s3(10, 4, nn::Activation::none, true, 124);
  CHECK(f32s(s1.kernel()) == f32s(s2.kernel()));
  CHECK(f32s(s1.bias()) == f32s(s2.bias()));
  CHECK(f32s(s1.kernel()) != f32s(s3.kernel()));
  CHECK(f32s(s1.bias()) != f32s(s3.bias()));

  // nn::manual_seed restarts the global sequence: the same layers in the same order start the same.
  auto build = [] { return nn::Sequential{nn::Dense(10, 6), nn::Conv2D(1, 2, 3), nn::Dense(6, 3)}; };
  nn::manual_seed(77);
  nn::Sequential m1 = build();
  nn::Sequential m2 = build();  // the sequence moved on: different
  nn::manual_seed(77);
  nn::Sequential m3 = build();
  std::vector<Variable> v1 = m1.trainable_variables(), v2 = m2.trainable_variables(), v3 = m3.trainable_variables();
  REQUIRE(v1.size() == 6);
  for (size_t i = 0; i < v1.size(); ++i) {
    INFO("variable " << i);
    CHECK(f32s(v1[i]) == f32s(v3[i]));
    CHECK(f32s(v1[i]) != f32s(v2[i]));
  }
  // Two layers of the same shape made one after the other are not alike.
  CHECK(f32s(nn::Dense(5, 5).kernel()) != f32s(nn::Dense(5, 5).kernel()));
}

TEST_CASE("losses sparse_softmax_cross_entropy matches log-sum-exp in f64 and is stable", "[nn]") {
  const int64_t B = 4, C = 5;
  Tensor logits = randn({B, C}, 21, DType::f64) * 3.0;
  std::vector<int> labels{0, 4, 2, 2};
  std::vector<double> z = f64s(logits);
  auto row_lse = [&](const std::vector<double>& zs, int64_t b) {  // log sum exp of row b, max first
    double m = *std::max_element(zs.begin() + b * C, zs.begin() + (b + 1) * C), s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(zs[b * C + c] - m);
    return m + std::log(s);
  };
  auto reference = [&](const std::vector<double>& zs) {
    double total = 0;
    for (int64_t b = 0; b < B; ++b) total += row_lse(zs, b) - zs[b * C + labels[b]];
    return total / B;
  };
  Tensor loss = losses::sparse_softmax_cross_entropy(from_vector(labels, {B}), logits);
  CHECK(loss.rank() == 0);
  CHECK(loss.dtype() == DType::f64);
  CHECK(loss.item<double>() == Approx(reference(z)).epsilon(1e-13));
  std::vector<int64_t> labels64(labels.begin(), labels.end());
  CHECK(losses::sparse_softmax_cross_entropy(from_vector(labels64, {B}), logits).item<double>() ==
        Approx(reference(z)).epsilon(1e-13));

  // Its gradient: (softmax - one_hot) / B.
  GradientTape tape;
  tape.watch(logits);
  Tensor l = losses::sparse_softmax_cross_entropy(from_vector(labels, {B}), logits);
  std::vector<double> g = f64s(tape.gradient(l, logits)), want;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) want.push_back((std::exp(z[b * C + c] - row_lse(z, b)) - (c == labels[b])) / B);
  check_close(g, want, 1e-13);

  // Logits around 1000 in f32: exp would overflow without the max subtracted.
  std::vector<double> big = f64s(randn({B, C}, 5, DType::f64));
  for (double& v : big) v += 1000;
  std::vector<float> bigf(big.begin(), big.end());
  std::vector<double> bigd(bigf.begin(), bigf.end());  // the f32 inputs, exactly
  Tensor big_logits = from_vector(bigf, {B, C});
  GradientTape tape2;
  tape2.watch(big_logits);
  Tensor big_loss = losses::sparse_softmax_cross_entropy(from_vector(labels, {B}), big_logits);
  CHECK(std::isfinite(big_loss.item<float>()));
  CHECK(big_loss.item<float>() == Approx(reference(bigd)).margin(1e-3));
  for (float v : f32s(tape2.gradient(big_loss, big_logits))) CHECK(std::isfinite(v));
  // A confident right answer costs ~0, a confident wrong one ~1000.
  Tensor sure = tensor({{1000.f, 0.f, -1000.f}});
  CHECK(losses::sparse_softmax_cross_entropy(tensor({0}), sure).item<float>() == Approx(0).margin(1e-6));
  CHECK(losses::sparse_softmax_cross_entropy(tensor({1}), sure).item<float>() == Approx(1000).epsilon(1e-6));
}

TEST_CASE("losses mean_squared_error is the mean of squared differences", "[nn]") {
  Tensor y_true = randn({3, 4}, 1, DType::f64), y_pred = randn({3, 4}, 2, DType::f64);
  std::vector<double> a = f64s(y_true), b = f64s(y_pred);
  double want = 0;
  for (size_t i = 0; i < a.size(); ++i) want += (b[i] - a[i]) * (b[i] - a[i]);
  want /= double(a.size());
  Tensor loss = losses::mean_squared_error(y_true, y_pred);
  CHECK(loss.rank() == 0);
  CHECK(loss.item<double>() == Approx(want).epsilon(1e-14));
  CHECK(losses::mean_squared_error(tensor({1.f, 2.f}), tensor({1.f, 2.f})).item<float>() == 0.f);
  CHECK(losses::mean_squared_error(tensor({0.f, 0.f}), tensor({3.f, -1.f})).item<float>() == 5.f);
}
