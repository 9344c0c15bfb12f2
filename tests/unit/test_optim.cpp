// Optimizers (DESIGN.md §1): SGD and Adam steps against hand-computed updates, and traced training steps.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include "test_support.h"

#include <cmath>
#include <string>
#include <vector>

using namespace duet;
using namespace duet_test;

namespace {


}  // namespace

TEST_CASE("optim SGD steps match hand-computed updates in f64", "[optim]") {
  std::vector<double> w0{1.0, -2.0, 0.5}, g1{0.3, -0.7, 1.1}, g2{-0.2, 0.4, 0.9};
  const double lr = 0.1, mu = 0.9;
  auto grad = [](const std::vector<double>& g) { return from_vector(g, {3}); };
  SECTION("plain SGD: w -= lr g, no slots") {
    Variable w(from_vector(w0, {3}), "w");
    optim::SGD opt(lr);
    opt.apply_gradients({grad(g1)}, {w});
    std::vector<double> want(3);
    for (int i = 0; i < 3; ++i) want[i] = w0[i] - lr * g1[i];
    check_close(f64s(w), want, 1e-15);
    CHECK(w.dtype() == DType::f64);
    CHECK(opt.variables().empty());
  }
  SECTION("momentum: m = mu m + g; w -= lr m, the slot a Variable") {
    Variable w(from_vector(w0, {3}), "w"), untouched(tensor({5.0}, DType::f64), "u");
    optim::SGD opt(lr, mu);
    opt.apply_gradients({grad(g1), Tensor()}, {w, untouched});  // an undefined gradient leaves its variable alone
    opt.apply_gradients({grad(g2), Tensor()}, {w, untouched});
    std::vector<double> m(3), want(3);
    for (int i = 0; i < 3; ++i) {
      double w1 = w0[i] - lr * g1[i];
      m[i] = mu * g1[i] + g2[i];
      want[i] = w1 - lr * m[i];
    }
    check_close(f64s(w), want, 1e-15);
    CHECK(f64s(untouched) == std::vector<double>{5.0});
    std::vector<Variable> slots = opt.variables();
    REQUIRE(slots.size() == 1);
    CHECK_FALSE(slots[0].trainable());
    CHECK(slots[0].dtype() == DType::f64);
    check_close(f64s(slots[0]), m, 1e-15);
  }
  CHECK_THROWS_AS(optim::SGD(0.0), Error);
  CHECK_THROWS_AS(optim::SGD(0.1, -0.5), Error);
  Variable v(tensor({1.f, 2.f}));
  CHECK_THROWS_AS(optim::SGD(0.1).apply_gradients({tensor({1.f})}, {v}), ShapeError);
  CHECK_THROWS_AS(optim::SGD(0.1).apply_gradients({}, {v}), Error);
}

namespace {

// Three Adam steps on w of `dtype` against Kingma & Ba's Algorithm 1 in double.
void check_adam(DType dtype, double tol) {
  // Gradients of order 100 make epsilon negligible, whichever of the paper's two placements is used.
  std::vector<double> w0{1.0, -2.0}, grads[3] = {{300.0, -150.0}, {-100.0, 250.0}, {200.0, 120.0}};
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Variable w(cast(from_vector(w0, {2}), dtype), "w");
  optim::Adam opt(lr);
  std::vector<double> ref = w0, m(2, 0.0), v(2, 0.0);
  for (int t = 1; t <= 3; ++t) {
    opt.apply_gradients({cast(from_vector(grads[t - 1], {2}), dtype)}, {w});
    for (int i = 0; i < 2; ++i) {
      double g = grads[t - 1][i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double m_hat = m[i] / (1 - std::pow(b1, t)), v_hat = v[i] / (1 - std::pow(b2, t));
      ref[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
    INFO("step " << t);
    CHECK(w.dtype() == dtype);
    check_close(f64s(cast(w.value(), DType::f64)), ref, tol);
  }
  CHECK(opt.step().value().item<float>() == 3.f);
  std::vector<Variable> slots = opt.variables();  // the step counter, then m and v of w
  REQUIRE(slots.size() == 3);
  for (const Variable& s : slots) CHECK_FALSE(s.trainable());
  std::vector<Variable> mv;
  for (const Variable& s : slots)
    if (!s.same_as(opt.step())) mv.push_back(s);
  REQUIRE(mv.size() == 2);
  check_close(f64s(cast(mv[0].value(), DType::f64)), m, tol * 100);
  check_close(f64s(cast(mv[1].value(), DType::f64)), v, tol * 100);
}

}  // namespace

TEST_CASE("optim Adam over 3 steps matches hand-computed bias-corrected updates", "[optim]") {
  // Each step moves w by ~lr = 0.01. In f64 the bias correction must hold to f64 precision, not f32's.
  SECTION("f64") { check_adam(DType::f64, 1e-12); }
  SECTION("f32") { check_adam(DType::f32, 1e-6); }
  SECTION("hyperparameters outside PyTorch's ranges are Errors, not NaN weights later") {
    CHECK_THROWS_AS(optim::Adam(0.0), Error);
    CHECK_THROWS_AS(optim::Adam(1e-3, 1.0), Error);         // beta1 = 1: 1 - beta1^t = 0
    CHECK_THROWS_AS(optim::Adam(1e-3, 0.9, 1.5), Error);    // beta2 > 1
    CHECK_THROWS_AS(optim::Adam(1e-3, -0.1), Error);        // beta1 < 0
    CHECK_THROWS_AS(optim::Adam(1e-3, 0.9, 0.999, -1e-8), Error);
  }
}

namespace {

// Trains two copies of one model on the same batch for 3 steps, one eagerly
// and one through a traced step; the losses, the optimizers' slots and the
// variables must agree, and the traced step must trace once.
template <class Opt>
void check_traced_optimizer(Opt eager_opt, Opt traced_opt, size_t slot_count) {
  auto make = [] {
    return nn::Sequential{nn::Dense(3, 4, nn::Activation::tanh, true, 5), nn::Dense(4, 2, nn::Activation::none, true, 6)};
  };
  nn::Sequential eager_model = make(), traced_model = make();
  Tensor x = randn({6, 3}, 1);
  Tensor y = tensor({0, 1, 1, 0, 1, 0});
  auto step_of = [](nn::Sequential model, Opt opt) {
    return [model, opt](Tensor xs, Tensor ys) mutable {
      std::vector<Variable> vars = model.trainable_variables();
      GradientTape tape;
      Tensor loss = losses::sparse_softmax_cross_entropy(ys, model(xs));
      opt.apply_gradients(tape.gradient(loss, vars), vars);
      return loss;
    };
  };
  auto eager_step = step_of(eager_model, eager_opt);
  auto traced_step = function(step_of(traced_model, traced_opt));
  std::vector<float> eager_losses, traced_losses;
  for (int i = 0; i < 3; ++i) {
    Tensor eager_loss = eager_step(x, y), traced_loss = traced_step(x, y);
    eager_losses.push_back(eager_loss.item<float>());
    traced_losses.push_back(traced_loss.item<float>());
  }
  CHECK(traced_step.trace_count() == 1);
  check_close(traced_losses, eager_losses, 1e-5);
  CHECK(eager_losses[2] < eager_losses[0]);
  std::vector<Variable> ts = traced_opt.variables(), es = eager_opt.variables();
  REQUIRE(ts.size() == slot_count);
  REQUIRE(es.size() == slot_count);
  for (size_t i = 0; i < ts.size(); ++i) {
    INFO("slot " << i << " " << ts[i].name());
    CHECK(ts[i].name() == es[i].name());
    CHECK_FALSE(ts[i].trainable());
    check_close(f32s(ts[i]), f32s(es[i]), 1e-5);
  }
  std::vector<Variable> tv = traced_model.trainable_variables(), ev = eager_model.trainable_variables();
  for (size_t i = 0; i < tv.size(); ++i) check_close(f32s(tv[i]), f32s(ev[i]), 1e-5);
}

}  // namespace

TEST_CASE("optim Adam in a traced training step updates its step and slots on every call", "[optim]") {
  optim::Adam eager_opt(0.05), traced_opt(0.05);
  check_traced_optimizer(eager_opt, traced_opt, 9);  // the step, then m and v for 4 variables
  REQUIRE(traced_opt.step().defined());
  CHECK(traced_opt.step().value().item<float>() == 3.f);
  CHECK(traced_opt.variables()[0].same_as(traced_opt.step()));
}

TEST_CASE("optim SGD momentum in a traced training step updates its slots on every call", "[optim]") {
  check_traced_optimizer(optim::SGD(0.1, 0.9), optim::SGD(0.1, 0.9), 4);
}

TEST_CASE("optim warmup_cosine rises linearly, then falls by half a cosine, on the host and as ops", "[optim]") {
  auto s = optim::warmup_cosine(1e-3, 10, 110, 1e-4);
  CHECK(s->at(0) == 0.0);
  CHECK(s->at(5) == Approx(5e-4));
  CHECK(s->at(10) == Approx(1e-3));
  CHECK(s->at(60) == Approx(1e-4 + 0.5 * 9e-4));  // halfway down
  CHECK(s->at(110) == Approx(1e-4));
  CHECK(s->at(500) == Approx(1e-4));
  for (double t : {1.0, 3.0, 9.0, 10.0, 11.0, 37.0, 109.0, 110.0, 140.0}) {
    INFO("step " << t);
    CHECK((*s)(scalar(t, DType::f64)).item<double>() == Approx(s->at(t)).epsilon(1e-14));
  }
  std::string msg = message_of<Error>([] { optim::warmup_cosine(1e-3, 10, 10); });
  CHECK(contains(msg, "0 <= warmup < total"));
}

TEST_CASE("optim AdamW matches PyTorch's update rule in f64, with a schedule, eager and traced", "[optim]") {
  const std::vector<double> w0{0.8, -1.5, 0.25, 2.0};
  const double wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  auto sched = optim::warmup_cosine(0.05, 2, 6, 0.005);
  auto grad_of = [](const std::vector<double>& w, int step) {  // a fixed, step-dependent gradient
    std::vector<double> g;
    for (size_t i = 0; i < w.size(); ++i) g.push_back(std::sin(1.3 * double(i) + step) * (1 + w[i] * w[i]));
    return g;
  };
  // The reference: torch.optim.AdamW's step, written out.
  std::vector<double> w = w0, m(4, 0), v(4, 0);
  std::vector<std::vector<double>> want;
  for (int t = 1; t <= 7; ++t) {
    std::vector<double> g = grad_of(w, t);
    const double lr = sched->at(t);
    for (int i = 0; i < 4; ++i) {
      w[i] -= lr * wd * w[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      double mhat_lr = lr / (1 - std::pow(b1, t));
      w[i] -= mhat_lr * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps);
    }
    want.push_back(w);
  }
  for (bool traced : {false, true}) {
    INFO((traced ? "traced" : "eager"));
    Variable p(from_vector(w0, {4}), "p");
    optim::AdamW opt(sched, wd, b1, b2, eps);
    auto step = [&](const Tensor& g) {
      opt.apply_gradients({g}, {p});
      return p.value();
    };
    auto f = function([&](const Tensor& g) { return step(g); });
    for (int t = 1; t <= 7; ++t) {
      Tensor g = from_vector(grad_of(f64s(p), t), {4});
      if (traced) (void)f(g);
      else (void)step(g);
      check_close(f64s(p), want[static_cast<size_t>(t - 1)], 1e-13);
    }
    if (traced) CHECK(f.trace_count() == 1);
  }
  optim::AdamW plain(1e-3);
  Variable q(tensor({1.0}, DType::f64), "q");
  plain.apply_gradients({tensor({0.0}, DType::f64)}, {q});  // a zero gradient: only the decay moves it
  CHECK(f64s(q)[0] == Approx(1.0 - 1e-3 * 1e-2).epsilon(1e-15));
  CHECK(contains(message_of<Error>([] { optim::AdamW(1e-3, -1.0); }), "weight_decay must be >= 0"));
}

TEST_CASE("optim clip_by_global_norm scales every gradient by one factor, only above max_norm", "[optim]") {
  Tensor a = tensor({3.0, 0.0}, DType::f64), b = tensor({{4.0}}, DType::f64);  // norm 5
  Tensor norm;
  std::vector<Tensor> c = optim::clip_by_global_norm({a, Tensor(), b}, 2.5, &norm);
  CHECK(norm.item<double>() == Approx(5.0));
  REQUIRE(c.size() == 3);
  CHECK_FALSE(c[1].defined());
  check_close(f64s(c[0]), {1.5, 0.0}, 1e-6);
  check_close(f64s(c[2]), {2.0}, 1e-6);
  std::vector<Tensor> same = optim::clip_by_global_norm({a, b}, 10.0);
  CHECK(f64s(same[0]) == f64s(a));
  CHECK(f64s(same[1]) == f64s(b));
  Tensor f = tensor({30.f, 40.f});
  auto traced = function([](const Tensor& g) { return optim::clip_by_global_norm({g}, 1.0)[0]; });
  std::vector<float> t = f32s(traced(f));
  CHECK(t[0] == Approx(0.6f));
  CHECK(t[1] == Approx(0.8f));
  CHECK(contains(message_of<Error>([&] { optim::clip_by_global_norm({a}, 0.0); }), "max_norm must be > 0"));
}
