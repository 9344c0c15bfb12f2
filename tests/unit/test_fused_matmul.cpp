// fused_matmul (act(a @ b + bias)) eagerly against plain ops, its errors, the fuse-matmul-epilogue pass in
// duet::function's pipeline (f32 fused, f64 not), gradients through traced Dense-like functions, and the
// relu gradient that reads relu's result.
#include <catch2/catch.hpp>
#include <duet/duet.h>
#include <duet/graph/op_def.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::check_close;
using duet_test::contains;
using duet_test::f32s;
using duet_test::f64s;

namespace {

const std::vector<std::string> kActivations{"none", "relu", "tanh", "sigmoid", "gelu"};

Tensor fused(const Tensor& a, const Tensor& b, const Tensor* bias, const std::string& act) {
  Attrs attrs{{"activation", act}};
  if (bias) return dispatch1(op_def("fused_matmul"), {&a, &b, bias}, attrs, SrcLoc());
  return dispatch1(op_def("fused_matmul"), {&a, &b}, attrs, SrcLoc());
}

Tensor activate(const Tensor& t, const std::string& act) {
  if (act == "relu") return relu(t);
  if (act == "tanh") return tanh(t);
  if (act == "sigmoid") return sigmoid(t);
  if (act == "gelu") return gelu(t);
  return t;
}

// The same computation from plain ops.
Tensor reference(const Tensor& a, const Tensor& b, const Tensor* bias, const std::string& act) {
  Tensor p = matmul(a, b);
  return activate(bias ? p + *bias : p, act);
}

// max |got - want| / max(1, |want|).
double worst(const Tensor& got, const Tensor& want) {
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double e = 0;
  for (size_t i = 0; i < g.size(); ++i) e = std::max(e, std::abs(g[i] - w[i]) / std::max(1.0, std::abs(w[i])));
  return e;
}

void check_same(const Tensor& got, const Tensor& want, double tol) {
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  if (got.dtype() == DType::f32) check_close(f32s(got), f32s(want), tol);
  else check_close(f64s(got), f64s(want), tol);
}

}  // namespace

TEST_CASE("fused_matmul: eager result equals matmul, add and activation, for every activation and bias",
          "[fused_matmul]") {
  const std::vector<int64_t> sizes{1, 3, 7, 17};
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    std::map<std::string, double> err, err_vs_f64;
    uint64_t seed = 100;
    for (int64_t m : sizes)
      for (int64_t k : sizes)
        for (int64_t n : sizes) {
          Tensor a = randn({m, k}, ++seed, dt), b = randn({k, n}, ++seed, dt);
          std::vector<Tensor> biases{randn({n}, ++seed, dt), randn({1, n}, ++seed, dt), randn({m, n}, ++seed, dt),
                                     randn({m, 1}, ++seed, dt)};
          for (const std::string& act : kActivations)
            for (int bi = -1; bi < static_cast<int>(biases.size()); ++bi) {
              const Tensor* bias = bi < 0 ? nullptr : &biases[static_cast<size_t>(bi)];
              INFO(dtype_name(dt) << " M=" << m << " K=" << k << " N=" << n << " act=" << act << " bias "
                                  << (bias ? bias->shape().str() : std::string("none")));
              Tensor got = fused(a, b, bias, act), want = reference(a, b, bias, act);
              check_same(got, want, tol);
              err[act] = std::max(err[act], worst(got, want));
              if (dt == DType::f32) {  // against the computation in f64
                Tensor b64 = bias ? cast(*bias, DType::f64) : Tensor();
                Tensor exact = reference(cast(a, DType::f64), cast(b, DType::f64), bias ? &b64 : nullptr, act);
                err_vs_f64[act] = std::max(err_vs_f64[act], worst(got, exact));
              }
            }
        }
    for (const std::string& act : kActivations)  // DUET_FUSED_MATMUL_REPORT=1: the worst errors
      if (std::getenv("DUET_FUSED_MATMUL_REPORT"))
        std::printf("fused_matmul %s %-8s worst vs plain ops %.3g, vs f64 ops %.3g\n", dtype_name(dt), act.c_str(),
                    err[act], dt == DType::f32 ? err_vs_f64[act] : err[act]);
  }
}

TEST_CASE("fused_matmul: batched operands broadcast their batch dims and the bias", "[fused_matmul]") {
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    Tensor a = randn({2, 3, 4}, 1, dt), b = randn({4, 5}, 2, dt), bb = randn({2, 4, 5}, 3, dt);
    Tensor a1 = randn({1, 3, 4}, 4, dt);
    for (const Shape& bs :
         {Shape{5}, Shape{1, 5}, Shape{3, 5}, Shape{1, 1, 5}, Shape{2, 1, 5}, Shape{2, 3, 5}, Shape{3, 1}})
      for (const std::string& act : kActivations) {
        INFO(dtype_name(dt) << " bias " << bs.str() << " act=" << act);
        Tensor bias = randn(bs, 5, dt);
        check_same(fused(a, b, &bias, act), reference(a, b, &bias, act), tol);
        check_same(fused(a, bb, &bias, act), reference(a, bb, &bias, act), tol);
        check_same(fused(a1, bb, &bias, act), reference(a1, bb, &bias, act), tol);
      }
    for (const Shape& mkn : {Shape{3, 0, 5}, Shape{0, 4, 5}, Shape{3, 4, 0}})  // empty dims: bias and act alone
      for (const std::string& act : kActivations) {
        INFO(dtype_name(dt) << " empty M,K,N " << mkn.str() << " act=" << act);
        Tensor e = randn({mkn[0], mkn[1]}, 6, dt), f = randn({mkn[1], mkn[2]}, 7, dt), bias = randn({mkn[2]}, 8, dt);
        check_same(fused(e, f, &bias, act), reference(e, f, &bias, act), tol);
      }
  }
}

TEST_CASE("fused_matmul: bad operands are duet::Errors naming the op", "[fused_matmul]") {
  Tensor a = randn({3, 4}, 1), b = randn({4, 5}, 2), bias = randn({5}, 3);
  Tensor ia = cast(a * 4.f + 1.f, DType::i32), ib = cast(b * 4.f + 1.f, DType::i32);
  Tensor ibias = cast(bias * 4.f, DType::i32);
  auto error_of = [](auto&& f) -> std::string {  // the message of the duet::Error f throws
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    } catch (...) {
      return "<another exception>";
    }
    return "<no exception>";
  };
  auto bad = [&](const Tensor& x, const Tensor& y, const Tensor* z, const std::string& act, const std::string& part) {
    std::string what = error_of([&] { (void)fused(x, y, z, act); });
    CHECK_THAT(what, Catch::Contains("fused_matmul") && Catch::Contains(part));
  };
  bad(a, b, &bias, "swish", "swish");
  bad(a, b, nullptr, "", "activation");
  Tensor longer = randn({6}, 4), grows = randn({2, 3, 5}, 5), taller = randn({4, 5}, 6), col = randn({4, 1}, 7);
  Tensor bias64 = randn({5}, 8, DType::f64);
  bad(a, b, &longer, "relu", "f32[6]");  // [N+1]
  bad(a, b, &grows, "relu", "f32[2,3,5]");
  bad(a, b, &taller, "none", "f32[4,5]");
  bad(a, b, &col, "none", "f32[4,1]");
  bad(a, b, &bias64, "none", "f64[5]");
  bad(ia, ib, &ibias, "relu", "i32");
  bad(ia, ib, nullptr, "none", "i32");
  bad(a, randn({3, 5}, 9), &bias, "none", "f32[3,5]");
  Attrs relu_attr{{"activation", std::string("relu")}};
  CHECK_THAT(error_of([&] { (void)dispatch1(op_def("fused_matmul"), {&a}, relu_attr, SrcLoc()); }),
             Catch::Contains("fused_matmul"));
  CHECK_THAT(error_of([&] { (void)dispatch1(op_def("fused_matmul"), {&a, &b, &bias, &bias, &bias}, relu_attr, SrcLoc()); }),
             Catch::Contains("fused_matmul"));
}

TEST_CASE("fused_matmul: a traced dense layer fuses in f32, not in f64, and matches eager", "[fused_matmul]") {
  for (DType dt : {DType::f32, DType::f64}) {
    for (const char* act : {"relu", "tanh", "sigmoid", "gelu"}) {
      for (const Shape& bs : {Shape{5}, Shape{1, 5}, Shape{7, 5}}) {
        INFO(dtype_name(dt) << " act=" << act << " bias " << bs.str());
        Variable w(randn({3, 5}, 11, dt), "w");
        Tensor b = randn(bs, 12, dt);
        auto dense = [&, act](Tensor x) { return activate(matmul(x, w) + b, act); };
        auto f = function(dense);
        Tensor x = randn({7, 3}, 13, dt);
        std::string ir = f.get_concrete_function(x).ir(Stage::optimized);
        INFO(ir);
        if (dt == DType::f32) {
          CHECK(contains(ir, "fused_matmul("));
          CHECK(contains(ir, "activation=\"" + std::string(act) + "\""));
          CHECK_FALSE(contains(ir, std::string(act) + "("));
          CHECK_FALSE(contains(ir, " matmul("));
        } else {
          CHECK_FALSE(contains(ir, "fused_matmul("));
        }
        check_same(f(x), dense(x), dt == DType::f32 ? 1e-5 : 1e-12);
      }
    }
  }
}

TEST_CASE("fused_matmul: what the pass fuses besides matmul, add, activation, and what it leaves", "[fused_matmul]") {
  Variable w(randn({3, 5}, 21), "w");
  Tensor b = randn({5}, 22);
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 3})};
  auto dense = [&](Tensor x) { return relu(matmul(x, w) + b); };
  auto f = function(dense, o);
  Tensor x = randn({6, 3}, 23);
  std::string ir = f.get_concrete_function(x).ir(Stage::optimized);
  INFO(ir);
  CHECK(contains(ir, "fused_matmul("));
  for (const Tensor& in : {x, randn({2, 3}, 24)}) check_same(f(in), dense(in), 1e-5);

  Tensor col = randn({6, 1}, 25);
  const std::vector<std::pair<std::function<Tensor(Tensor)>, bool>> cases{
      {[&](Tensor in) { return relu(matmul(in, w)); }, true},                  // no bias
      {[&](Tensor in) { return sigmoid(b + matmul(in, w)); }, true},           // bias on the left
      {[&](Tensor in) { return matmul(in, w) + b; }, true},                    // no activation
      {[&](Tensor in) { return relu(matmul(in, w) + col); }, false},           // a column bias: not fused
      {[&](Tensor in) { Tensor p = matmul(in, w); return relu(p + b) + p; }, false},  // the product used twice
      {[&](Tensor in) {
         return cond(sum(in) > 0.f, [&] { return relu(matmul(in, w) + b); }, [&] { return tanh(matmul(in, w) + b); });
       }, true}};
  for (size_t i = 0; i < cases.size(); ++i) {
    auto g = function(cases[i].first);
    std::string gir = g.get_concrete_function(x).ir(Stage::optimized);
    INFO("case " << i << "\n" << gir);
    CHECK(contains(gir, "fused_matmul(") == cases[i].second);
    check_same(g(x), cases[i].first(x), 1e-5);
    check_same(g(-x), cases[i].first(-x), 1e-5);
  }
}

TEST_CASE("fused_matmul: gradients of a traced dense layer under a tape equal the eager ones", "[fused_matmul]") {
  Variable w(randn({4, 6}, 31), "w"), b(randn({6}, 32), "b");
  Tensor x = randn({5, 4}, 33);
  auto dense = [&](Tensor in) { return relu(matmul(in, w) + b); };
  auto f = function(dense);
  CHECK(contains(f.get_concrete_function(x).ir(Stage::optimized), "fused_matmul("));
  auto grads = [&](const auto& fn) {  // d sum(fn(x)) / d(w, b, x)
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(sum(fn(x)), {GradSource(w), GradSource(b), GradSource(x)});
  };
  std::vector<Tensor> eager = grads(dense), traced = grads(f);
  REQUIRE(traced.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("gradient " << i);
    REQUIRE(traced[i].defined());
    check_same(traced[i], eager[i], 1e-5);
  }

  // The tape inside the trace: the backward reads relu's result, so the forward still fuses.
  auto step = function([&](Tensor in) {
    GradientTape tape;
    Tensor loss = sum(relu(matmul(in, w) + b));
    return tape.gradient(loss, w);
  });
  std::string ir = step.get_concrete_function(x).ir(Stage::optimized);
  INFO(ir);
  CHECK(contains(ir, "fused_matmul("));
  check_same(step(x), eager[0], 1e-5);
}

TEST_CASE("fused_matmul: the relu gradient reading its result matches central differences in f64", "[fused_matmul]") {
  const Shape s{3, 4};
  Tensor r = randn(s, 41, DType::f64);
  Tensor x = where(r > 0, r + 0.1, r - 0.1);  // |x| > 0.1
  Tensor c = randn(s, 42, DType::f64);
  auto loss = [&](const Tensor& t) { return sum(relu(t) * c); };
  GradientTape tape;
  tape.watch(x);
  Tensor grad = tape.gradient(loss(x), x);
  REQUIRE(grad.defined());
  REQUIRE(grad.dtype() == DType::f64);
  std::vector<double> xv = f64s(x), numeric(xv.size());
  const double h = 1e-6;
  for (size_t i = 0; i < xv.size(); ++i) {
    std::vector<double> up = xv, down = xv;
    up[i] += h;
    down[i] -= h;
    numeric[i] = (loss(from_vector(up, s)).item<double>() - loss(from_vector(down, s)).item<double>()) / (2 * h);
  }
  check_close(f64s(grad), numeric, 1e-7);
  std::vector<double> cv = f64s(c), g = f64s(grad);
  for (size_t i = 0; i < xv.size(); ++i) CHECK(g[i] == (xv[i] > 0 ? cv[i] : 0.0));
}

TEST_CASE("fused_matmul: NaN and infinities pass through every activation as the plain ops give them",
          "[fused_matmul]") {
  // relu(NaN) is NaN in duet (oneDNN's relu post-op would give 0).
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor a = tensor({nan, 1.f, 2.f, -1.f, 0.5f, 3.f}).reshape({2, 3});
  Tensor b = tensor({1.f, -2.f, 0.5f, 1.f, 2.f, -1.f}).reshape({3, 2});
  Tensor bias = tensor({inf, -1.f});
  for (const char* act : {"relu", "tanh", "sigmoid", "gelu", "none"}) {
    INFO(act);
    std::vector<float> got = f32s(fused(a, b, &bias, act)), want = f32s(reference(a, b, &bias, act));
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("element " << i << ": " << got[i] << " vs " << want[i]);
      if (std::isnan(want[i])) CHECK(std::isnan(got[i]));
      else CHECK(got[i] == Approx(want[i]).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("fused_matmul: a transcendental epilogue runs as a compiled kernel and equals eager bit for bit",
          "[fused_matmul][codegen]") {
  const char* jit = std::getenv("DUET_JIT");
  const bool compiled = !(jit && std::string(jit) == "0");
  Variable wx(randn({6, 33}, 21) * 0.5f, "wx"), wh(randn({33, 33}, 22) * 0.3f, "wh");
  Tensor b = randn({33}, 23), x = randn({17, 6}, 24), h = randn({17, 33}, 25);
  for (const char* act : {"tanh", "sigmoid", "gelu", "relu"}) {
    INFO(act);
    // One bias (a dense layer) and two (an RNN cell: x Wx + h Wh + b).
    auto dense = [&, act](Tensor in) { return activate(matmul(in, wx) + b, act); };
    auto cell = [&, act](Tensor in, Tensor state) { return activate(matmul(in, wx) + matmul(state, wh) + b, act); };
    auto fd = function(dense);
    auto fc = function(cell);
    const std::vector<float> want_d = f32s(dense(x)), want_c = f32s(cell(x, h));
    CHECK(f32s(fd(x)) == want_d);  // exact: same bits (NaN-free inputs)
    CHECK(f32s(fc(x, h)) == want_c);
    const std::string ld = fd.get_concrete_function(x).ir(Stage::lowered);
    const std::string lc = fc.get_concrete_function(x, h).ir(Stage::lowered);
    const bool transcendental = std::string(act) != "relu";
    CHECK(contains(ld, "compiled epilogue of fused_matmul") == (compiled && transcendental));
    CHECK(contains(lc, "compiled epilogue of fused_matmul") == (compiled && transcendental));
  }
}
