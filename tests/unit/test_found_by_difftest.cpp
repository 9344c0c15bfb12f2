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
