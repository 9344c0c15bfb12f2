// Control flow in both modes: cond and while_loop, eagerly and inside duet::function (DESIGN.md §1, issue 7).
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <string>
#include <vector>

using namespace duet;

namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The message of the E that `f` throws ("" and a failure if none or another type).
template <class E, class F>
std::string error_of(const char* what, F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK(what << ": the wrong kind of error: " << e.what());
    return "";
  }
  FAIL_CHECK(what << ": no error");
  return "";
}

// The function both modes share: x * 2 when p, else -x.
Tensor double_or_negate(Tensor p, Tensor x) {
  return cond(p, [&] { return x * 2.f; }, [&] { return -x; });
}

// Collatz steps from n to 1 (the example): a cond inside a while_loop.
Tensor collatz_steps(Tensor n) {
  auto r = while_loop([](const std::vector<Tensor>& v) { return v[0] != 1; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
                        Tensor next = cond(v[0] % 2 == 0, [&] { return v[0] / 2; }, [&] { return v[0] * 3 + 1; });
                        return {next, v[1] + 1};
                      },
                      {n, scalar(0)});
  return r[1];
}

// x * 2^n with the trip count n known only at run time; also returns the counter.
std::vector<Tensor> doubling(Tensor n, Tensor x) {
  return while_loop([n](const std::vector<Tensor>& v) { return v[0] < n; },
                    [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] + 1, v[1] * 2.f}; },
                    {scalar(0), x});
}

}  // namespace

// ---------------------------------------------------------------- cond

TEST_CASE("cond picks the branch for true and false predicates", "[control_flow]") {
  Tensor x = tensor({1.f, -2.f});
  CHECK(values(double_or_negate(scalar(true), x)) == std::vector<float>{2.f, -4.f});
  CHECK(values(double_or_negate(scalar(false), x)) == std::vector<float>{-1.f, 2.f});

  auto f = function(double_or_negate);
  for (int k = 0; k < 4; ++k) {
    bool p = k % 2 == 0;
    CHECK(values(f(scalar(p), x)) == (p ? std::vector<float>{2.f, -4.f} : std::vector<float>{-1.f, 2.f}));
  }
  CHECK(f.trace_count() == 1);

  // A predicate computed inside the function from the data.
  auto g = function([](Tensor v) { return cond(sum(v) > 0.f, [&] { return v + 10.f; }, [&] { return v - 10.f; }); });
  CHECK(values(g(tensor({1.f, 2.f}))) == std::vector<float>{11.f, 12.f});
  CHECK(values(g(tensor({-1.f, -2.f}))) == std::vector<float>{-11.f, -12.f});
  CHECK(values(g(tensor({3.f, 4.f}))) == std::vector<float>{13.f, 14.f});
  CHECK(g.trace_count() == 1);
}

TEST_CASE("cond branches may return a vector of tensors of mixed dtypes", "[control_flow]") {
  auto body = [](Tensor p, Tensor x) -> std::vector<Tensor> {
    return cond(p, [&]() -> std::vector<Tensor> { return {x + 1.f, x * x, scalar(1)}; },
                [&]() -> std::vector<Tensor> { return {x - 1.f, -x, scalar(2)}; });
  };
  Tensor x = tensor({2.f, 3.f});
  auto check = [](const std::vector<Tensor>& r, bool p) {
    REQUIRE(r.size() == 3);
    CHECK(values(r[0]) == (p ? std::vector<float>{3.f, 4.f} : std::vector<float>{1.f, 2.f}));
    CHECK(values(r[1]) == (p ? std::vector<float>{4.f, 9.f} : std::vector<float>{-2.f, -3.f}));
    CHECK(r[2].dtype() == DType::i32);
    CHECK(r[2].item<int32_t>() == (p ? 1 : 2));
  };
  check(body(scalar(true), x), true);
  check(body(scalar(false), x), false);
  auto f = function(body);
  check(f(scalar(false), x), false);
  check(f(scalar(true), x), true);
  check(f(scalar(false), x), false);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("cond accepts a one-element predicate of shape 1", "[control_flow]") {
  Tensor x = tensor({5.f});
  Tensor yes = tensor({true}), no = tensor({false});
  REQUIRE(yes.shape() == Shape{1});
  CHECK(values(double_or_negate(yes, x)) == std::vector<float>{10.f});
  CHECK(values(double_or_negate(no, x)) == std::vector<float>{-5.f});
  auto f = function(double_or_negate);
  CHECK(values(f(yes, x)) == std::vector<float>{10.f});
  CHECK(values(f(no, x)) == std::vector<float>{-5.f});
  CHECK(f.trace_count() == 1);
}

TEST_CASE("cond rejects a predicate that is not one b8 element", "[control_flow]") {
  Tensor x = tensor({1.f});
  std::string m = error_of<Error>("f32 predicate", [&] { double_or_negate(scalar(1.f), x); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "b8"));
  CHECK(contains(m, "test_control_flow.cpp"));
  m = error_of<Error>("i32 predicate", [&] { double_or_negate(scalar(1), x); });
  CHECK(contains(m, "cond"));
  m = error_of<Error>("two-element predicate", [&] { double_or_negate(tensor({true, false}), x); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "one element"));

  auto f = function(double_or_negate);
  m = error_of<Error>("traced f32 predicate", [&] { f(scalar(0.f), x); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "b8"));
  m = error_of<Error>("traced two-element predicate", [&] { f(tensor({true, true}), x); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "one element"));
}

TEST_CASE("cond branches that yield different types are a TraceError", "[control_flow]") {
  // Shapes differ: the same C++ type, so only the trace can tell.
  auto f = function([](Tensor p, Tensor x) {
    return cond(p, [&] { return x; }, [&] { return concat({x, x}, 0); });
  });
  std::string m = error_of<TraceError>("shape", [&] { f(scalar(true), tensor({1.f, 2.f})); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "result 0"));
  CHECK(contains(m, "then"));
  CHECK(contains(m, "else"));
  CHECK(contains(m, "f32[2]"));
  CHECK(contains(m, "f32[4]"));
  CHECK(contains(m, "test_control_flow.cpp"));

  // The dtype of the second result differs.
  auto g = function([](Tensor p, Tensor x) -> std::vector<Tensor> {
    return cond(p, [&]() -> std::vector<Tensor> { return {x, x}; },
                [&]() -> std::vector<Tensor> { return {x, cast(x, DType::i32)}; });
  });
  m = error_of<TraceError>("dtype", [&] { g(scalar(false), tensor({1.f, 2.f})); });
  CHECK(contains(m, "result 1"));
  CHECK(contains(m, "f32[2]"));
  CHECK(contains(m, "i32[2]"));

  // Different counts of results.
  auto h = function([](Tensor p, Tensor x) -> std::vector<Tensor> {
    return cond(p, [&]() -> std::vector<Tensor> { return {x, x}; }, [&]() -> std::vector<Tensor> { return {x}; });
  });
  m = error_of<TraceError>("count", [&] { h(scalar(true), tensor({1.f})); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "2"));
  CHECK(contains(m, "1"));
}

TEST_CASE("cond branches read and assign variables: only the taken branch's assign happens", "[control_flow]") {
  const std::vector<bool> preds{true, false, true, true, false, false, true};
  for (int traced = 0; traced < 2; ++traced) {
    INFO("traced " << traced);
    Variable hits(scalar(0.f), "hits"), misses(scalar(0.f), "misses");
    // then: hits += x and returns the new hits; else: misses += 1 and returns hits unchanged.
    auto body = [hits, misses](Tensor p, Tensor x) mutable {
      return cond(p, [&] { hits.assign_add(x); return hits * 1.f; },
                  [&] { misses.assign_add(scalar(1.f)); return hits * 1.f; });
    };
    auto f = function(body);
    float h = 0.f, m = 0.f, x = 1.f;
    for (bool p : preds) {
      Tensor r = traced ? f(scalar(p), scalar(x)) : body(scalar(p), scalar(x));
      if (p) h += x;
      else m += 1.f;
      CHECK(r.item<float>() == h);
      CHECK(hits.value().item<float>() == h);
      CHECK(misses.value().item<float>() == m);
      x *= 2.f;
    }
    CHECK(hits.value().item<float>() == 1.f + 4.f + 8.f + 64.f);
    CHECK(misses.value().item<float>() == 3.f);
    if (traced) CHECK(f.trace_count() == 1);
  }
}

TEST_CASE("cond nests", "[control_flow]") {
  auto body = [](Tensor a, Tensor b, Tensor x) {
    return cond(a, [&] { return cond(b, [&] { return x + 1.f; }, [&] { return x + 2.f; }); },
                [&] { return cond(b, [&] { return x + 3.f; }, [&] { return x * 10.f; }); });
  };
  auto f = function(body);
  Tensor x = scalar(5.f);
  const float want[2][2] = {{50.f, 8.f}, {7.f, 6.f}};  // [a][b]
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      INFO("a " << a << " b " << b);
      CHECK(body(scalar(a == 1), scalar(b == 1), x).item<float>() == want[a][b]);
      CHECK(f(scalar(a == 1), scalar(b == 1), x).item<float>() == want[a][b]);
    }
  CHECK(f.trace_count() == 1);
}

// ---------------------------------------------------------------- while_loop

TEST_CASE("while_loop runs a trip count known only at run time", "[control_flow]") {
  auto f = function(doubling);
  Tensor x = tensor({1.f, 3.f});
  for (int n : {3, 5, 0, 1}) {
    INFO("n " << n);
    float scale = static_cast<float>(1 << n);
    std::vector<Tensor> eager = doubling(scalar(n), x);
    std::vector<Tensor> traced = f(scalar(n), x);
    for (const auto& r : {eager, traced}) {
      REQUIRE(r.size() == 2);
      CHECK(r[0].item<int32_t>() == n);
      CHECK(values(r[1]) == std::vector<float>{scale, 3.f * scale});
    }
  }
  CHECK(f.trace_count() == 1);

  // Collatz (issue 7): 12 takes 9 steps, 27 takes 111, one trace.
  CHECK(collatz_steps(scalar(12)).item<int32_t>() == 9);
  auto c = function(collatz_steps);
  CHECK(c(scalar(12)).item<int32_t>() == 9);
  CHECK(c(scalar(27)).item<int32_t>() == 111);
  CHECK(c(scalar(1)).item<int32_t>() == 0);
  CHECK(c.trace_count() == 1);
}

TEST_CASE("while_loop stops at maximum_iterations", "[control_flow]") {
  auto body = [](Tensor n, int64_t max) {
    return while_loop([n](const std::vector<Tensor>& v) { return v[0] < n; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] + 1}; }, {scalar(0)},
                      max)[0];
  };
  auto f = function([body](Tensor n) { return body(n, 5); });
  auto g = function([body](Tensor n) { return body(n, 0); });
  CHECK(body(scalar(100), 5).item<int32_t>() == 5);
  CHECK(body(scalar(3), 5).item<int32_t>() == 3);  // the condition ends it first
  CHECK(body(scalar(100), 0).item<int32_t>() == 0);
  CHECK(f(scalar(100)).item<int32_t>() == 5);
  CHECK(f(scalar(3)).item<int32_t>() == 3);
  CHECK(f(scalar(1000)).item<int32_t>() == 5);
  CHECK(g(scalar(100)).item<int32_t>() == 0);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("while_loop rejects a loop variable whose shape or dtype changes", "[control_flow]") {
  auto grow = [](Tensor x) {
    return while_loop([](const std::vector<Tensor>& v) { return sum(v[0]) < 100.f; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {concat({v[0], v[0]}, 0)}; },
                      {x})[0];
  };
  std::string m = error_of<ShapeError>("eager shape", [&] { grow(tensor({1.f, 2.f})); });
  CHECK(contains(m, "while_loop"));
  CHECK(contains(m, "f32[2]"));
  CHECK(contains(m, "f32[4]"));
  CHECK(contains(m, "test_control_flow.cpp"));
  auto f = function(grow);
  m = error_of<Error>("traced shape", [&] { f(tensor({1.f, 2.f})); });
  CHECK(contains(m, "while_loop"));
  CHECK(contains(m, "f32[2]"));
  CHECK(contains(m, "f32[4]"));

  auto retype = [](Tensor x) {
    return while_loop([](const std::vector<Tensor>& v) { return sum(v[0]) < 100; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {cast(v[0] * 2, DType::i64)}; },
                      {x})[0];
  };
  m = error_of<Error>("eager dtype", [&] { retype(tensor({1, 2})); });
  CHECK(contains(m, "i32[2]"));
  CHECK(contains(m, "i64[2]"));
  auto g = function(retype);
  m = error_of<Error>("traced dtype", [&] { g(tensor({1, 2})); });
  CHECK(contains(m, "i32[2]"));
  CHECK(contains(m, "i64[2]"));
}

TEST_CASE("while_loop carries a variable the body assigns across iterations", "[control_flow]") {
  for (int traced = 0; traced < 2; ++traced) {
    INFO("traced " << traced);
    Variable acc(scalar(1.f), "acc");
    // acc = acc * 2 + i for i in [0, n); returns acc read after the loop.
    auto body = [acc](Tensor n) mutable {
      while_loop([n](const std::vector<Tensor>& v) { return v[0] < n; },
                 [&acc](const std::vector<Tensor>& v) -> std::vector<Tensor> {
                   acc.assign(acc * 2.f + cast(v[0], DType::f32));
                   return {v[0] + 1};
                 },
                 {scalar(0)});
      return acc * 1.f;
    };
    auto f = function(body);
    auto call = [&](int n) { return traced ? f(scalar(n)) : body(scalar(n)); };
    float want = 1.f;
    for (int n : {3, 0, 4}) {
      INFO("n " << n);
      for (int i = 0; i < n; ++i) want = want * 2.f + static_cast<float>(i);
      CHECK(call(n).item<float>() == want);
      CHECK(acc.value().item<float>() == want);
    }
    CHECK(want == 203.f);  // 12 after n = 3 and n = 0, then 24, 49, 100, 203
    if (traced) CHECK(f.trace_count() == 1);
  }
}

TEST_CASE("while_loop swaps two loop variables", "[control_flow]") {
  auto body = [](Tensor n, Tensor a, Tensor b) {
    return while_loop([n](const std::vector<Tensor>& v) { return v[0] < n; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] + 1, v[2], v[1]}; },
                      {scalar(0), a, b});
  };
  auto f = function(body);
  Tensor a = tensor({1.f, 2.f}), b = tensor({3.f, 4.f});
  for (int n : {3, 4, 1, 0}) {
    INFO("n " << n);
    bool swapped = n % 2 == 1;
    for (const auto& r : {body(scalar(n), a, b), f(scalar(n), a, b)}) {
      REQUIRE(r.size() == 3);
      CHECK(values(r[1]) == (swapped ? std::vector<float>{3.f, 4.f} : std::vector<float>{1.f, 2.f}));
      CHECK(values(r[2]) == (swapped ? std::vector<float>{1.f, 2.f} : std::vector<float>{3.f, 4.f}));
    }
  }
  CHECK(f.trace_count() == 1);
}

TEST_CASE("while_loop with zero iterations returns the initial values", "[control_flow]") {
  auto body = [](Tensor x, Tensor k) {
    return while_loop([](const std::vector<Tensor>& v) { return sum(v[0]) > 100.f; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] - 1.f, v[1] * 3}; },
                      {x, k});
  };
  auto f = function(body);
  Tensor x = tensor({1.f, 2.f, 3.f});
  for (const auto& r : {body(x, scalar(7)), f(x, scalar(7))}) {
    REQUIRE(r.size() == 2);
    CHECK(values(r[0]) == std::vector<float>{1.f, 2.f, 3.f});
    CHECK(r[1].item<int32_t>() == 7);
  }
  // And the same trace runs a non-zero trip count.
  std::vector<Tensor> r = f(tensor({100.f, 1.f, 0.f}), scalar(1));
  CHECK(values(r[0]) == std::vector<float>{99.f, 0.f, -1.f});
  CHECK(r[1].item<int32_t>() == 3);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("a b8 tensor used as a C++ bool inside a trace points to cond", "[control_flow]") {
  auto f = function([](Tensor x) {
    if (sum(x) > 0.f) return x * 2.f;  // a host read: only cond can branch on a traced value
    return -x;
  });
  std::string m = error_of<TraceError>("bool", [&] { f(tensor({1.f})); });
  CHECK(contains(m, "cond"));
  CHECK(contains(m, "test_control_flow.cpp"));
  // Eagerly the same lambda is fine.
  auto eager = [](Tensor x) { return sum(x) > 0.f ? x * 2.f : -x; };
  CHECK(values(eager(tensor({1.f}))) == std::vector<float>{2.f});
}
