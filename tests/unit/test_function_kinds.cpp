// duet::function over every callable, argument and result kind of DESIGN.md §1, nesting and recursion.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace duet;

namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

Tensor free_affine(Tensor x, Tensor w) { return matmul(x, w) + 1.f; }

}  // namespace

TEST_CASE("function kinds: a free function and a function pointer", "[function]") {
  Tensor x = randn({2, 3}, 1), w = randn({3, 4}, 2);
  Tensor want = matmul(x, w) + 1.f;
  auto f = function(free_affine);
  CHECK(values(f(x, w)) == values(want));
  CHECK(values(f(x, w)) == values(want));
  CHECK(f.trace_count() == 1);
  Tensor (*fp)(Tensor, Tensor) = &free_affine;
  auto g = function(fp);
  CHECK(values(g(x, w)) == values(want));
  CHECK(g.trace_count() == 1);
}

TEST_CASE("function kinds: a std::function and a lambda with const reference parameters", "[function]") {
  std::function<Tensor(const Tensor&, const std::vector<Tensor>&)> sf = [](const Tensor& x,
                                                                         const std::vector<Tensor>& ys) {
    Tensor acc = x;
    for (const Tensor& y : ys) acc = acc + y;
    return acc;
  };
  auto f = function(sf);
  Tensor x = randn({3}, 1);
  std::vector<Tensor> ys{randn({3}, 2), randn({3}, 3)};
  CHECK(values(f(x, ys)) == values(x + ys[0] + ys[1]));
  CHECK(values(f(x, ys)) == values(x + ys[0] + ys[1]));
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function kinds: a mutable lambda's state changes only while tracing", "[function]") {
  auto f = function([n = 0](Tensor x) mutable {
    ++n;
    return x * static_cast<float>(n);
  });
  Tensor a = tensor({1.f, 2.f});
  // The host-side n is frozen at trace time: the first trace saw n == 1.
  for (int i = 0; i < 3; ++i) CHECK(values(f(a)) == std::vector<float>{1, 2});
  Tensor b = tensor({1.f, 2.f, 3.f});
  for (int i = 0; i < 3; ++i) CHECK(values(f(b)) == std::vector<float>{2, 4, 6});  // the second trace saw 2
  CHECK(values(f(a)) == std::vector<float>{1, 2});
  CHECK(f.trace_count() == 2);
}

TEST_CASE("function kinds: a host counter in a traced lambda counts traces, not calls", "[function]") {
  int host_counter = 0;
  auto f = function([&host_counter](Tensor x) {
    ++host_counter;
    return x + 1.f;
  });
  for (int i = 0; i < 5; ++i) f(ones({2}));
  CHECK(host_counter == 1);
  for (int i = 0; i < 5; ++i) f(ones({4}));
  CHECK(host_counter == 2);
  CHECK(f.trace_count() == 2);
}

TEST_CASE("function kinds: results of kind vector, tuple and pair", "[function]") {
  Tensor x = randn({2, 3}, 4);
  auto fv = function([](Tensor t) { return std::vector<Tensor>{t + 1.f, sum(t), argmax(t, 1)}; });
  std::vector<Tensor> v = fv(x);
  REQUIRE(v.size() == 3);
  CHECK(values(v[0]) == values(x + 1.f));
  CHECK(values(v[1]) == values(sum(x)));
  CHECK(v[2].dtype() == DType::i64);
  CHECK(v[2].to_vector<int64_t>() == argmax(x, 1).to_vector<int64_t>());

  auto ft = function([](Tensor t) { return std::make_tuple(t * 2.f, t > 0.f); });
  auto [doubled, positive] = ft(x);
  CHECK(values(doubled) == values(x * 2.f));
  CHECK(positive.dtype() == DType::b8);
  CHECK(positive.to_vector<bool>() == (x > 0.f).to_vector<bool>());

  auto fp = function([](Tensor t, Tensor u) { return std::make_pair(t - u, t * u); });
  auto [diff, prod] = fp(x, x);
  CHECK(values(diff) == std::vector<float>(6, 0.f));
  CHECK(values(prod) == values(x * x));

  // The same tensor returned twice: two results with equal values.
  auto ftwice = function([](Tensor t) { return std::make_pair(exp(t), exp(t)); });
  auto [e1, e2] = ftwice(x);
  CHECK(values(e1) == values(exp(x)));
  CHECK(values(e2) == values(exp(x)));
}

TEST_CASE("function kinds: a void function that only assigns a variable", "[function]") {
  Variable v(zeros({3}), "v");
  auto f = function([v](Tensor x) mutable { v.assign(x * 2.f); });
  f(tensor({1.f, 2.f, 3.f}));
  CHECK(values(v.value()) == std::vector<float>{2, 4, 6});
  f(tensor({-1.f, 0.f, 1.f}));
  CHECK(values(v.value()) == std::vector<float>{-2, 0, 2});
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function kinds: a std::vector<Tensor> argument retraces on its length", "[function]") {
  auto f = function([](std::vector<Tensor> xs) { return concat(xs, 0); });
  Tensor a = tensor({1.f}), b = tensor({2.f, 3.f}), c = tensor({4.f});
  CHECK(values(f({a, b})) == std::vector<float>{1, 2, 3});
  CHECK(values(f({b, a})) == std::vector<float>{2, 3, 1});  // other shapes: a retrace
  CHECK(values(f({c, tensor({5.f, 6.f})})) == std::vector<float>{4, 5, 6});
  CHECK(f.trace_count() == 2);
  CHECK(values(f({a, b, c})) == std::vector<float>{1, 2, 3, 4});
  CHECK(f.trace_count() == 3);
  REQUIRE(f.retrace_reasons().size() == 2);
  CHECK(f.retrace_reasons()[0].find("arg 0[0]") != std::string::npos);
  CHECK(f.retrace_reasons()[1].find("arg 0") != std::string::npos);
}

TEST_CASE("function kinds: one trace serves two Variables of the same type and updates each", "[function]") {
  auto step = function([](Variable v, Tensor x) {
    v.assign_add(x);
    return v.value() * 10.f;
  });
  Variable p(tensor({1.f, 2.f}), "p"), q(tensor({100.f, 200.f}), "q");
  Tensor one = tensor({1.f, 1.f});
  CHECK(values(step(p, one)) == std::vector<float>{20, 30});
  CHECK(values(step(q, one)) == std::vector<float>{1010, 2010});
  CHECK(values(step(p, one)) == std::vector<float>{30, 40});
  CHECK(values(p.value()) == std::vector<float>{3, 4});
  CHECK(values(q.value()) == std::vector<float>{101, 201});
  CHECK(step.trace_count() == 1);
  // A Variable of another type retraces.
  Variable r(zeros({3}), "r");
  step(r, ones({3}));
  CHECK(values(r.value()) == std::vector<float>{1, 1, 1});
  CHECK(step.trace_count() == 2);
  CHECK(values(p.value()) == std::vector<float>{3, 4});
}

TEST_CASE("function kinds: a function calling itself while tracing is a TraceError", "[function]") {
  Function<Tensor(Tensor)>* self = nullptr;
  auto f = function([&self](Tensor x) -> Tensor { return (*self)(x) + 1.f; });
  self = &f;
  Tensor x = ones({2});
  CHECK_THROWS_AS(f(x), TraceError);
  try {
    f(x);
    FAIL("no error");
  } catch (const TraceError& e) {
    CHECK(std::string(e.what()).find("itself") != std::string::npos);
  }
  CHECK(f.trace_count() == 0);
  // The thread is not left tracing: eager ops still run.
  CHECK(values(x + 1.f) == std::vector<float>{2, 2});
}

TEST_CASE("function kinds: a function calling another function", "[function]") {
  int inner_calls = 0;
  auto inner = function([&inner_calls](Tensor x) {
    ++inner_calls;
    return tanh(x) * 2.f;
  });
  auto outer = function([&inner](Tensor x, Tensor y) { return inner(x) + inner(y) * 3.f; });
  Tensor x = randn({3, 2}, 1), y = randn({3, 2}, 2);
  Tensor want = tanh(x) * 2.f + (tanh(y) * 2.f) * 3.f;
  CHECK(values(outer(x, y)) == values(want));
  CHECK(values(outer(y, x)) == values(tanh(y) * 2.f + (tanh(x) * 2.f) * 3.f));
  CHECK(outer.trace_count() == 1);
  int after_outer = inner_calls;  // inner ran while outer traced, not on outer's later calls
  CHECK(after_outer >= 1);
  CHECK(values(inner(x)) == values(tanh(x) * 2.f));
  CHECK(values(inner(x)) == values(tanh(x) * 2.f));
  CHECK(inner.trace_count() == 1);
  CHECK(values(outer(x, y)) == values(want));
  CHECK(inner_calls == after_outer + 1);
}

TEST_CASE("function kinds: Variable arguments that alias each other or a captured variable", "[function]") {
  // The same trace must not serve calls whose variables alias differently:
  // an aliased trace has one variable parameter where the other has two.
  Variable p(tensor({1.f, 2.f}), "p"), q(tensor({10.f, 20.f}), "q");
  auto add_into = function([](Variable a, Variable b) { a.assign_add(b); });
  add_into(p, p);  // p += p
  CHECK(p.value().to_vector<float>() == std::vector<float>{2, 4});
  add_into(p, q);  // p += q
  CHECK(p.value().to_vector<float>() == std::vector<float>{12, 24});
  CHECK(q.value().to_vector<float>() == std::vector<float>{10, 20});

  Variable c(tensor({100.f, 200.f}), "c");
  auto plus_captured = function([&c](Variable v, Tensor x) {
    v.assign_add(x);
    return c.value() + v.value();
  });
  Variable r(tensor({1.f, 1.f}), "r");
  Tensor one = tensor({1.f, 1.f});
  // The first call passes the captured variable itself: c += 1, then c + c.
  CHECK(plus_captured(c, one).to_vector<float>() == std::vector<float>{202, 402});
  // Another variable of the same type: r += 1, then c + r.
  CHECK(plus_captured(r, one).to_vector<float>() == std::vector<float>{103, 203});
  CHECK(c.value().to_vector<float>() == std::vector<float>{101, 201});
  CHECK(r.value().to_vector<float>() == std::vector<float>{2, 2});
  // And back to the aliased call.
  CHECK(plus_captured(c, one).to_vector<float>() == std::vector<float>{204, 404});
  CHECK(c.value().to_vector<float>() == std::vector<float>{102, 202});
}

TEST_CASE("function kinds: with run_functions_eagerly a function may call itself", "[function]") {
  struct Reset {
    ~Reset() { run_functions_eagerly(false); }
  } reset;
  Function<Tensor(int, Tensor)>* self = nullptr;
  auto power_of_two = function([&self](int n, Tensor x) -> Tensor { return n == 0 ? x : (*self)(n - 1, x) * 2.f; });
  self = &power_of_two;
  run_functions_eagerly(true);
  // Nothing is traced, so this is plain C++ recursion with a host-side base case.
  CHECK(power_of_two(3, tensor({1.f, 3.f})).to_vector<float>() == std::vector<float>{8, 24});
  run_functions_eagerly(false);
  CHECK_THROWS_AS(power_of_two(3, tensor({1.f, 3.f})), TraceError);  // traced, it is recursion
}
