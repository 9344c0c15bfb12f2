// GradientTape as DESIGN.md §1 pins it: the examples, watching, persistence, sources, targets,
// stop_gradient, custom_gradient, and tapes with traced functions (inside them and around them).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <duet/duet.h>

using namespace duet;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Element-by-element closeness of two tensors of one shape.
void check_close(const Tensor& got, const Tensor& want, double margin = 1e-10) {
  REQUIRE(got.defined());
  REQUIRE(want.defined());
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i);
    CHECK(g[i] == Approx(w[i]).margin(margin).epsilon(margin));
  }
}

void check_values(const Tensor& got, const std::vector<double>& want) {
  REQUIRE(got.defined());
  std::vector<double> g = values(got);
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i);
    CHECK(g[i] == Approx(want[i]).margin(1e-12));
  }
}

}  // namespace

TEST_CASE("autodiff: with a persistent tape y = w2 @ (w1^2) gives dy/dw1 = 12 and dy/dw2 = 4", "[autodiff]") {
  Variable w1(tensor({{2.f}}), "w1"), w2(tensor({{3.f}}), "w2");
  GradientTape tape(/*persistent=*/true);
  Tensor y = matmul(w2, pow(w1, 2));
  Tensor dw1 = tape.gradient(y, w1);
  Tensor dw2 = tape.gradient(y, w2);
  REQUIRE(dw1.defined());
  REQUIRE(dw2.defined());
  CHECK(dw1.shape() == Shape{1, 1});
  CHECK(dw1.dtype() == DType::f32);
  CHECK(dw1.item<float>() == 12.f);
  CHECK(dw2.item<float>() == 4.f);
}

TEST_CASE("autodiff: d2/dx2 of x^3 at x = 2 is 12 through nested tapes, eagerly and traced", "[autodiff]") {
  auto derivatives = [](Tensor x) {
    GradientTape outer;
    outer.watch(x);
    Tensor dy, dy_pow;
    {
      GradientTape inner(/*persistent=*/true);
      inner.watch(x);
      dy = inner.gradient(x * x * x, x);
      dy_pow = inner.gradient(pow(x, 3.f), x);
    }
    std::vector<Tensor> d2 = outer.gradient(dy + dy_pow, {x});
    return std::make_pair(dy, d2[0] / 2.f);
  };
  auto [dy, d2] = derivatives(scalar(2.f));
  CHECK(dy.item<float>() == Approx(12.f));
  CHECK(d2.item<float>() == Approx(12.f));

  auto traced = function(derivatives);
  for (float x : {2.f, 3.f, -1.5f}) {
    INFO("x = " << x);
    auto [tdy, td2] = traced(scalar(x));
    CHECK(tdy.item<float>() == Approx(3 * x * x));
    CHECK(td2.item<float>() == Approx(6 * x));
  }
  CHECK(traced.trace_count() == 1);
}

TEST_CASE("autodiff: trainable variables are watched automatically, non-trainable ones only after watch", "[autodiff]") {
  Variable t(tensor({1.0, 2.0}, DType::f64), "t");
  Variable n(tensor({3.0, 4.0}, DType::f64), "n", /*trainable=*/false);
  Tensor x = tensor({5.0, 6.0}, DType::f64);
  {
    GradientTape tape;
    std::vector<Tensor> g = tape.gradient(sum(t * n * x), {t, n, x});
    check_values(g[0], {15, 24});  // n * x
    CHECK_FALSE(g[1].defined());
    CHECK_FALSE(g[2].defined());
  }
  {
    GradientTape tape;
    tape.watch(n);
    tape.watch(x);
    std::vector<Tensor> g = tape.gradient(sum(t * n * x), {t, n, x});
    check_values(g[0], {15, 24});
    check_values(g[1], {5, 12});  // t * x
    check_values(g[2], {3, 8});   // t * n
  }
}

TEST_CASE("autodiff: a variable read several times gets the sum over its reads, eagerly and traced", "[autodiff]") {
  Variable w(tensor({1.0, 2.0}, DType::f64), "w");
  Tensor x = tensor({3.0, -4.0}, DType::f64);
  std::vector<double> wh = values(w), xh = values(x);
  std::vector<double> want;  // d/dw sum(w w + x w + w) = 2w + x + 1
  for (size_t i = 0; i < 2; ++i) want.push_back(2 * wh[i] + xh[i] + 1);
  auto grad = [w](Tensor x) {
    GradientTape tape;
    Tensor loss = sum(w * w + x * w + w);
    Tensor logged = w.value();  // one more read after the forward, as a logging line would do
    return tape.gradient(loss, w) + logged * 0.0;
  };
  check_values(grad(x), want);
  auto traced = function(grad);
  check_values(traced(x), want);
}

TEST_CASE("autodiff: a source the target does not reach gets an undefined tensor", "[autodiff]") {
  Tensor x = tensor({1.f, 2.f}), z = tensor({3.f, 4.f});
  Variable unread(tensor({1.f}), "unread");
  GradientTape tape;
  tape.watch(x);
  tape.watch(z);
  Tensor unused = z * 3.f;
  std::vector<Tensor> g = tape.gradient(sum(x * 2.f), {x, z, unread});
  REQUIRE(g.size() == 3);
  check_values(g[0], {2, 2});
  CHECK_FALSE(g[1].defined());
  CHECK_FALSE(g[2].defined());
}

TEST_CASE("autodiff: the target as its own source gets ones, and tapes are per thread", "[autodiff]") {
  Tensor x = tensor({1.f, 2.f, 3.f});
  GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  check_values(tape.gradient(x, x), {1, 1, 1});
  Tensor elsewhere;
  std::thread other([&] { elsewhere = x * x; });  // this thread's tape does not see that thread's ops
  other.join();
  check_values(elsewhere, {1, 4, 9});
  CHECK_FALSE(tape.gradient(elsewhere, x).defined());
  check_values(tape.gradient(x * x, x), {2, 4, 6});
}

TEST_CASE("autodiff: a second gradient on a non-persistent tape is an Error, a persistent tape allows several",
          "[autodiff]") {
  Tensor x = tensor({1.f, -2.f});
  {
    GradientTape tape;
    tape.watch(x);
    Tensor y = sum(x * x);
    check_values(tape.gradient(y, x), {2, -4});
    try {
      tape.gradient(y, x);
      FAIL("no error");
    } catch (const Error& e) {
      std::string msg = e.what();
      CHECK(contains(msg, "gradient"));
      CHECK(contains(msg, "persistent"));
      CHECK(contains(msg, "test_autodiff.cpp"));
    }
  }
  {
    GradientTape tape(/*persistent=*/true);
    tape.watch(x);
    Tensor y = sum(x * x), z = sum(x * x * x);
    check_values(tape.gradient(y, x), {2, -4});
    check_values(tape.gradient(z, x), {3, 12});
    check_values(tape.gradient(y, x), {2, -4});
  }
}

TEST_CASE("autodiff: sources as a Tensor, a Variable, a braced list of both and std::vectors of either",
          "[autodiff]") {
  Tensor x = tensor({1.0, 2.0, 3.0}, DType::f64);
  Variable v(tensor({0.5, -1.0, 4.0}, DType::f64), "v");
  Variable u(tensor({2.0, 2.0, 2.0}, DType::f64), "u");
  std::vector<double> xh = values(x), vh = values(v), uh = values(u);  // read before the tape records
  GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  Tensor loss = sum(x * v + square(x) * u);  // each variable read once
  std::vector<double> dx, dv, du;
  for (size_t i = 0; i < 3; ++i) {
    dx.push_back(vh[i] + 2 * xh[i] * uh[i]);
    dv.push_back(xh[i]);
    du.push_back(xh[i] * xh[i]);
  }
  check_values(tape.gradient(loss, x), dx);
  check_values(tape.gradient(loss, v), dv);
  std::vector<Tensor> mixed = tape.gradient(loss, {x, v, u});
  REQUIRE(mixed.size() == 3);
  check_values(mixed[0], dx);
  check_values(mixed[1], dv);
  check_values(mixed[2], du);
  std::vector<Tensor> tensors = tape.gradient(loss, std::vector<Tensor>{x, x});
  REQUIRE(tensors.size() == 2);
  check_values(tensors[1], dx);
  std::vector<Tensor> variables = tape.gradient(loss, std::vector<Variable>{u, v});
  REQUIRE(variables.size() == 2);
  check_values(variables[0], du);
  check_values(variables[1], dv);
}

TEST_CASE("autodiff: a multi-element target is differentiated as the sum of its elements, output_gradient weights them",
          "[autodiff]") {
  Tensor x = tensor({1.0, -2.0, 3.0}, DType::f64);
  Tensor a = tensor({{1.0, 2.0, 3.0}, {-1.0, 0.5, 2.0}}, DType::f64);
  Tensor weights = tensor({0.5, -1.0, 2.0}, DType::f64);
  GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  Tensor y = x * x;  // [3]
  Tensor m = matmul(a, reshape(x, {3, 1}));  // [2,1]
  Tensor total = sum(y);
  check_close(tape.gradient(y, x), tape.gradient(total, x));
  std::vector<double> xh = values(x), wh = values(weights), ah = values(a);
  check_values(tape.gradient(y, x), {2 * xh[0], 2 * xh[1], 2 * xh[2]});
  check_values(tape.gradient(m, x), {ah[0] + ah[3], ah[1] + ah[4], ah[2] + ah[5]});
  check_values(tape.gradient(y, x, weights), {2 * xh[0] * wh[0], 2 * xh[1] * wh[1], 2 * xh[2] * wh[2]});
  std::vector<Tensor> g = tape.gradient(y, std::vector<GradSource>{x}, weights);
  REQUIRE(g.size() == 1);
  check_close(g[0], tape.gradient(y, x, weights));
  CHECK_THROWS_AS(tape.gradient(y, x, tensor({1.0, 2.0}, DType::f64)), ShapeError);
}

TEST_CASE("autodiff: stop_gradient blocks flow and stop() ends recording", "[autodiff]") {
  Tensor x = tensor({1.5, -2.0, 3.0}, DType::f64);
  {
    GradientTape tape(/*persistent=*/true);
    tape.watch(x);
    Tensor stopped = stop_gradient(x);
    check_close(stopped, x);
    check_close(tape.gradient(sum(stopped * x), x), x);  // d/dx of c * x with c = x held constant
    CHECK_FALSE(tape.gradient(sum(stopped), x).defined());
  }
  {
    GradientTape tape(/*persistent=*/true);
    tape.watch(x);
    Tensor y = x * 3.0;
    tape.stop();
    Tensor z = y * y;
    CHECK_FALSE(tape.gradient(z, x).defined());
    check_values(tape.gradient(y, x), {3, 3, 3});
  }
}

TEST_CASE("autodiff: custom_gradient with a clipped gradient, eagerly, traced and under an outer tape",
          "[autodiff]") {
  auto clip = custom_gradient([](const std::vector<Tensor>& x) { return x[0] * 1.0; },
                              [](const std::vector<Tensor>&, const Tensor&, const Tensor& dy) {
                                return std::vector<Tensor>{minimum(maximum(dy, -1.0), 1.0)};
                              });
  Tensor x = tensor({0.5, -1.0, 2.0, 3.0}, DType::f64);
  Tensor c = tensor({0.5, 3.0, -4.0, -0.25}, DType::f64);
  std::vector<double> clipped;
  for (double v : values(c)) clipped.push_back(std::clamp(v, -1.0, 1.0));
  {
    GradientTape tape;
    tape.watch(x);
    Tensor y = clip({x});
    check_close(y, x);
    check_values(tape.gradient(sum(y * c), x), clipped);
  }
  auto traced = function([clip, c](Tensor x) {
    GradientTape tape;
    tape.watch(x);
    Tensor y = clip({x});
    return std::make_pair(y, tape.gradient(sum(y * c), x));
  });
  for (int call = 0; call < 2; ++call) {
    auto [y, g] = traced(x);
    check_close(y, x);
    check_values(g, clipped);
  }
  CHECK(traced.trace_count() == 1);
  // The backward is written with duet ops, so an outer tape differentiates it: d/dx (dy * 2x) = 2.
  auto square_op = custom_gradient([](const std::vector<Tensor>& v) { return v[0] * v[0]; },
                                   [](const std::vector<Tensor>& v, const Tensor&, const Tensor& dy) {
                                     return std::vector<Tensor>{dy * v[0] * 2.0};
                                   });
  GradientTape outer;
  outer.watch(x);
  Tensor first;
  {
    GradientTape inner;
    inner.watch(x);
    first = inner.gradient(sum(square_op({x})), x);
  }
  check_values(first, {1, -2, 4, 6});
  check_values(outer.gradient(first, x), {2, 2, 2, 2});
}

TEST_CASE("autodiff: a traced function under an eager tape is differentiable like any op", "[autodiff]") {
  Variable w(randn({3, 2}, 11, DType::f64), "w");
  auto body = [w](Tensor x) {
    Tensor h = tanh(matmul(x, w.value()));  // value(): matmul(x, w) with a const Variable is ambiguous
    return sum(h * h, {1}) + sum(x * x * x, {1});
  };
  auto f = function(body);
  Tensor c = tensor({1.0, -2.0, 0.5, 3.0}, DType::f64);
  for (uint64_t seed : {1, 2, 3}) {  // the first call traces under the tape; later ones reuse trace and backward
    INFO("seed " << seed);
    Tensor x = randn({4, 3}, seed, DType::f64);
    Tensor eager_y = body(x);
    std::vector<Tensor> want, got;
    {
      GradientTape tape;
      tape.watch(x);
      want = tape.gradient(sum(body(x) * c), {x, w});
    }
    {
      GradientTape tape;
      tape.watch(x);
      Tensor y = f(x);
      check_close(y, eager_y);
      got = tape.gradient(sum(y * c), {x, w});
    }
    REQUIRE(got.size() == 2);
    check_close(got[0], want[0]);
    check_close(got[1], want[1]);
  }
  CHECK(f.trace_count() == 1);
}

TEST_CASE("autodiff: a traced function with two results under a tape, one of them unused", "[autodiff]") {
  auto body = [](Tensor x) { return std::make_pair(exp(x) * 2.0, sum(x)); };
  auto f = function(body);
  Tensor x = tensor({0.5, -1.0, 2.0}, DType::f64);
  GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  auto [a, b] = f(x);
  std::vector<double> want;
  for (double v : values(x)) want.push_back(2 * std::exp(v));
  check_values(tape.gradient(a, x), want);
  check_values(tape.gradient(b, x), {1, 1, 1});
}

TEST_CASE("autodiff: traced functions with integer labels and with Variable arguments under a tape", "[autodiff]") {
  auto loss_body = [](Tensor logits, Tensor labels) { return losses::sparse_softmax_cross_entropy(labels, logits); };
  auto traced_loss = function(loss_body);
  Tensor labels = tensor({2, 0, 1});
  for (uint64_t seed : {5, 6}) {
    Tensor logits = randn({3, 4}, seed, DType::f64);
    Tensor want, got;
    {
      GradientTape tape;
      tape.watch(logits);
      want = tape.gradient(loss_body(logits, labels), logits);
    }
    {
      GradientTape tape;
      tape.watch(logits);
      got = tape.gradient(traced_loss(logits, labels), logits);
    }
    check_close(got, want);
  }
  CHECK(traced_loss.trace_count() == 1);

  Variable v(tensor({1.5, -2.0}, DType::f64), "v");
  auto scaled = function([](Tensor x, Variable v) { return x * square(v.value()); });
  Tensor x = tensor({3.0, 4.0}, DType::f64);
  GradientTape tape;
  tape.watch(x);
  std::vector<Tensor> g = tape.gradient(sum(scaled(x, v)), {x, v});
  std::vector<double> vh = {1.5, -2.0};
  check_values(g[0], {vh[0] * vh[0], vh[1] * vh[1]});
  check_values(g[1], {2 * 3.0 * vh[0], 2 * 4.0 * vh[1]});
}

TEST_CASE("autodiff: a watched non-trainable variable captured by a traced function gets its gradient",
          "[autodiff]") {
  Variable n(tensor({2.0, -3.0}, DType::f64), "n", /*trainable=*/false);
  Tensor x = tensor({4.0, 5.0}, DType::f64);
  auto body = [n](Tensor x) { return x * square(n.value()); };  // one read of n
  auto f = function(body);
  std::vector<double> want;  // d/dn sum(x n^2) = 2 x n
  for (size_t i = 0; i < 2; ++i) want.push_back(2 * values(x)[i] * values(n)[i]);
  {
    GradientTape tape;
    tape.watch(n);
    check_values(tape.gradient(sum(body(x)), n), want);
  }
  {
    GradientTape tape;
    tape.watch(n);
    check_values(tape.gradient(sum(f(x)), n), want);
  }
}

TEST_CASE("autodiff: second derivatives through a traced function called under nested eager tapes",
          "[autodiff]") {
  auto f = function([](Tensor x) { return x * x * x; });
  Tensor x = tensor({2.0, -1.0, 0.5}, DType::f64);
  GradientTape outer;
  outer.watch(x);
  Tensor first;
  {
    GradientTape inner;
    inner.watch(x);
    first = inner.gradient(f(x), x);
  }
  std::vector<double> d1, d2;
  for (double v : values(x)) {
    d1.push_back(3 * v * v);
    d2.push_back(6 * v);
  }
  check_values(first, d1);
  check_values(outer.gradient(first, x), d2);
}

TEST_CASE("autodiff: a whole training step as one traced function updates variables as the eager step does",
          "[autodiff]") {
  Variable wt(randn({3, 2}, 21, DType::f64), "w"), bt(zeros({2}, DType::f64), "b");
  Variable we(wt.value(), "w_eager"), be(bt.value(), "b_eager");
  auto make_step = [](Variable w, Variable b) {
    return [w, b](Tensor x, Tensor y) mutable {
      GradientTape tape;
      Tensor loss = mean(square(matmul(x, w) + b - y));
      std::vector<Tensor> g = tape.gradient(loss, {w, b});
      w.assign_sub(0.1 * g[0]);
      b.assign_sub(0.1 * g[1]);
      return loss;
    };
  };
  auto eager_step = make_step(we, be);
  auto traced_step = function(make_step(wt, bt));
  Tensor initial = wt.value();
  for (uint64_t i = 0; i < 5; ++i) {
    INFO("step " << i);
    Tensor x = randn({8, 3}, 100 + i, DType::f64), y = randn({8, 2}, 200 + i, DType::f64);
    Tensor lt = traced_step(x, y);
    Tensor le = eager_step(x, y);
    CHECK(lt.item<double>() == Approx(le.item<double>()).epsilon(1e-12));
    check_close(wt.value(), we.value());
    check_close(bt.value(), be.value());
  }
  CHECK(traced_step.trace_count() == 1);
  std::vector<double> before = values(initial), after = values(wt.value());
  CHECK(before != after);
}

TEST_CASE("autodiff: the gradient of an integer target is a DTypeError", "[autodiff]") {
  Tensor i = tensor({1, 2, 3});
  Tensor x = tensor({1.5f, 2.5f});
  GradientTape tape(/*persistent=*/true);
  tape.watch(i);
  tape.watch(x);
  Tensor yi = i * 2;
  try {
    tape.gradient(yi, i);
    FAIL("no error");
  } catch (const DTypeError& e) {
    std::string msg = e.what();
    CHECK(contains(msg, "gradient"));
    CHECK(contains(msg, "i32"));
  }
  CHECK_THROWS_AS(tape.gradient(cast(x, DType::i32), x), DTypeError);
  check_values(tape.gradient(x * 2.f, x), {2, 2});  // the tape still works after the errors
}
