// Regressions found by duet-difftest (docs/reliability.md), each as the
// smallest program through the public API that showed it.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <vector>

using namespace duet;

namespace {

void require_same(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  CHECK(a.to_vector<float>() == b.to_vector<float>());
}

}  // namespace

// A cond branch that computes an expression the enclosing function already
// has yields, after cse, the outer value itself. Passes that found a value's
// readers through uses() alone missed that yield: memory-plan let neg write
// into the product's buffer while the cond still returned it (a wrong
// answer, seeds 1071 and 9153), fuse-elementwise erased a fused value the
// branch returned (an internal error, 10 seeds of 10,000), and
// fuse-matmul-epilogue could fold the product away.
TEST_CASE("a cond branch that returns a value of the enclosing function (after cse)", "[control_flow][passes]") {
  auto program = [](Tensor x, Tensor p) {
    Tensor product = matmul(x, x);
    Tensor negated = neg(product);  // may run in place only if product is dead
    Tensor r = cond(greater(sum(p), 0.0), [&] { return matmul(x, x); }, [&] { return x; });
    return add(r, negated);
  };
  auto chain = [](Tensor x, Tensor p) {
    Tensor e = exp(x);
    Tensor n = neg(e);  // exp and neg fuse; the branch returns exp's value
    Tensor r = cond(greater(sum(p), 0.0), [&] { return exp(x); }, [&] { return x; });
    return add(r, n);
  };
  auto epilogue = [](Tensor x, Tensor b, Tensor p) {
    Tensor product = matmul(x, x);
    Tensor biased = add(product, b);
    return cond(greater(sum(p), 0.0), [&] { return matmul(x, x); }, [&] { return biased; });
  };
  Tensor x = randn({4, 4}, 7), b = randn({4}, 8);
  auto traced = function(program);
  auto traced_chain = function(chain);
  auto traced_epilogue = function(epilogue);
  for (double sign : {1.0, -1.0}) {
    Tensor p = scalar(sign);
    require_same(program(x, p), traced(x, p));
    require_same(chain(x, p), traced_chain(x, p));
    require_same(epilogue(x, b, p), traced_epilogue(x, b, p));
  }
  // The taken branch returned the product: r + (-product) is zero.
  CHECK(max(abs(traced(x, scalar(1.0)))).item<float>() == 0.0f);
}

// A traced gradient through control flow whose region yields an outer value
// as it is: a loop body assigning a captured tensor to a variable (the
// variable is an extra loop variable; its replay found no value for the
// capture: "the body returns an undefined loop variable", seeds 6 and 294),
// and a cond branch returning a captured input (whose gradient must reach it).
TEST_CASE("traced gradients through regions that yield captured values", "[control_flow][autodiff]") {
  Variable v(zeros({3}), "v");
  auto loop_grad = function([v](Tensor x) {
    GradientTape tape;
    tape.watch(x);
    Tensor t = tanh(x);
    std::vector<Tensor> out = while_loop([](const std::vector<Tensor>& s) { return less(s[0], 2); },
                                         [&](const std::vector<Tensor>& s) {
                                           v.assign(t);  // a value from outside the loop
                                           return std::vector<Tensor>{add(s[0], 1), mul(s[1], s[1])};
                                         },
                                         {scalar(int64_t{0}), x});
    return tape.gradient(sum(out[1]), x);
  });
  Tensor x = from_vector(std::vector<float>{0.5f, -0.75f, 1.25f}, Shape{3});
  // x -> x^2 -> x^4: 4 x^3.
  std::vector<float> g = loop_grad(x).to_vector<float>(), xs = x.to_vector<float>();
  for (size_t i = 0; i < 3; ++i) CHECK(g[i] == Approx(4 * xs[i] * xs[i] * xs[i]).epsilon(1e-5));
  CHECK(v.value().to_vector<float>() == tanh(x).to_vector<float>());

  auto cond_grad = function([](Tensor x, Tensor y, Tensor p) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    Tensor r = cond(greater(sum(p), 0.0), [&] { return x; }, [&] { return mul(y, 2.0f); });
    return tape.gradient(sum(mul(r, 3.0f)), std::vector<Tensor>{x, y});
  });
  Tensor y = from_vector(std::vector<float>{1, 2, 3}, Shape{3});
  std::vector<Tensor> taken = cond_grad(x, y, scalar(1.0)), other = cond_grad(x, y, scalar(-1.0));
  CHECK(taken[0].to_vector<float>() == std::vector<float>{3, 3, 3});
  CHECK(other[1].to_vector<float>() == std::vector<float>{6, 6, 6});
}
