// In-place variable updates (NOTE [Donated variables]): memory-plan marks
// `w = w - lr*g` as computable into w's buffer, and a call donates that
// buffer when nothing but the variable references it. A user can observe
// only values, never the sharing: snapshots keep their values.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::f32s;

namespace {

// w <- w - 0.5 * g, traced.
auto sgd_step(const Variable& w) {
  return function([w](Tensor g) { w.assign(w.value() - g * 0.5f); });
}

}  // namespace

TEST_CASE("donation: an SGD update writes into the variable's own buffer", "[function][donation]") {
  Variable w(randn({64}, 11), "w");
  auto step = sgd_step(w);
  Tensor g = randn({64}, 12);
  step(g);  // the first call traces; the variable's initial tensor may be shared with nothing
  const void* before = w.value().data_ptr();
  std::vector<float> gv = f32s(g);
  std::vector<float> want = f32s(w);
  for (int i = 0; i < 3; ++i) {
    step(g);
    for (size_t k = 0; k < want.size(); ++k) want[k] = want[k] - gv[k] * 0.5f;
  }
  CHECK(w.value().data_ptr() == before);  // updated in place, no new buffer
  CHECK(f32s(w) == want);
  CHECK(duet_test::contains(step.get_concrete_function(g).ir(Stage::optimized), "plan.donate=[0, "));
}

TEST_CASE("donation: a snapshot taken before the call keeps its values", "[function][donation]") {
  Variable w(randn({32}, 21), "w");
  auto step = sgd_step(w);
  Tensor g = randn({32}, 22);
  step(g);
  Tensor snapshot = w.value();  // shares the buffer: the call must not write into it
  std::vector<float> old = f32s(snapshot);
  step(g);
  CHECK(f32s(snapshot) == old);
  CHECK(w.value().data_ptr() != snapshot.data_ptr());
  std::vector<float> now = f32s(w), gv = f32s(g);
  for (size_t k = 0; k < now.size(); ++k) CHECK(now[k] == old[k] - gv[k] * 0.5f);
}

TEST_CASE("donation: a variable read after its update is not donated", "[function][donation]") {
  Variable w(randn({16}, 31), "w");
  auto f = function([w](Tensor g) {
    Tensor old = w.value();
    w.assign(old - g);
    return sum(old);  // the old value is still needed after the update (a reduction, outside the update's loop)
  });
  Tensor g = randn({16}, 32);
  std::vector<float> before = f32s(w);
  Tensor total_old = f(g);
  std::vector<float> after = f32s(w), gv = f32s(g);
  double total = 0;
  for (size_t k = 0; k < before.size(); ++k) {
    total += before[k];
    CHECK(after[k] == before[k] - gv[k]);
  }
  CHECK(total_old.item<float>() == Approx(total).epsilon(1e-5));
  CHECK(!duet_test::contains(f.get_concrete_function(g).ir(Stage::optimized), "plan.donate"));
  // Read in the same fused loop as the update, the old value is consumed
  // element by element before it is overwritten: donated, and still right.
  auto both = function([w](Tensor g) {
    Tensor old = w.value();
    w.assign(old - g);
    return old * 2.f;
  });
  before = f32s(w);
  std::vector<float> twice = f32s(both(g));
  after = f32s(w);
  for (size_t k = 0; k < before.size(); ++k) {
    CHECK(twice[k] == before[k] * 2.f);
    CHECK(after[k] == before[k] - gv[k]);
  }
  CHECK(duet_test::contains(both.get_concrete_function(g).ir(Stage::optimized), "plan.donate"));
}

TEST_CASE("donation: concurrent readers never see a half-updated variable", "[function][donation][threads]") {
  // Every element of w stays equal to every other: a reader that saw a torn
  // update would find two different values in one snapshot.
  Variable w(full({4096}, 1.0f), "w");
  auto step = function([w](Tensor g) { w.assign(w.value() + g); });
  Tensor g = full({4096}, 1.0f);
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      std::vector<float> v = f32s(w.value());
      for (float x : v)
        if (x != v[0]) { ++torn; break; }
    }
  });
  for (int i = 0; i < 300; ++i) step(g);
  done = true;
  reader.join();
  CHECK(torn.load() == 0);
  CHECK(f32s(w)[0] == 301.0f);
}
