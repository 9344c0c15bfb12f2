// Traced functions and state: live variables, variables made while tracing, host reads, leaks, aliasing.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <optional>
#include <string>
#include <vector>

using namespace duet;

namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The message of the TraceError that `f` throws ("" and a failure if none).
template <class F>
std::string trace_error_of(const char* what, F&& f) {
  try {
    f();
  } catch (const TraceError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK(what << ": not a TraceError: " << e.what());
    return "";
  }
  FAIL_CHECK(what << ": no error");
  return "";
}

}  // namespace

TEST_CASE("function state: a counter variable incremented in a traced function", "[function]") {
  Variable counter(scalar(0.f), "counter");
  auto step = function([counter](Tensor one) mutable { counter.assign_add(one); });
  for (int i = 0; i < 10; ++i) step(scalar(1.f));
  CHECK(counter.value().item<float>() == 10.f);
  CHECK(step.trace_count() == 1);
  // An i32 counter captured by reference, with the read returned.
  Variable steps(scalar(0), "steps");
  auto tick = function([&steps](Tensor x) {
    steps.assign_add(scalar(1));
    return x * cast(steps.value(), DType::f32);
  });
  for (int i = 1; i <= 10; ++i) CHECK(values(tick(tensor({1.f, 2.f}))) == std::vector<float>{float(i), 2.f * i});
  CHECK(steps.value().item<int>() == 10);
  CHECK(tick.trace_count() == 1);
}

TEST_CASE("function state: a traced read sees values assigned eagerly between calls", "[function]") {
  Variable w(tensor({1.f, 2.f}), "w");
  auto f = function([&w](Tensor x) { return x * w; });
  Tensor x = tensor({10.f, 10.f});
  CHECK(values(f(x)) == std::vector<float>{10, 20});
  w.assign(tensor({3.f, -1.f}));
  CHECK(values(f(x)) == std::vector<float>{30, -10});
  w.assign_add(tensor({1.f, 1.f}));
  CHECK(values(f(x)) == std::vector<float>{40, 0});
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function state: read, assign, read sees both values in order", "[function]") {
  Variable v(tensor({1.f, 2.f, 3.f}), "v");
  auto f = function([&v](Tensor x) {
    Tensor before = v.value();
    v.assign(x);
    Tensor after = v.value();
    v.assign_add(after);  // and a second assign on top of the first
    return std::make_tuple(before, after, v.value());
  });
  auto [b1, a1, c1] = f(tensor({5.f, 6.f, 7.f}));
  CHECK(values(b1) == std::vector<float>{1, 2, 3});
  CHECK(values(a1) == std::vector<float>{5, 6, 7});
  CHECK(values(c1) == std::vector<float>{10, 12, 14});
  CHECK(values(v.value()) == std::vector<float>{10, 12, 14});
  auto [b2, a2, c2] = f(tensor({0.f, 1.f, 0.f}));
  CHECK(values(b2) == std::vector<float>{10, 12, 14});
  CHECK(values(a2) == std::vector<float>{0, 1, 0});
  CHECK(values(c2) == std::vector<float>{0, 2, 0});
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function state: a variable created on the first trace lives on as state", "[function]") {
  // A lazily created accumulator, as an optimizer creates its slots.
  std::optional<Variable> acc;
  auto f = function([&acc](Tensor x) {
    if (!acc) acc.emplace(zeros({3}), "acc");
    acc->assign_add(x);
    return acc->value();
  });
  Tensor x = tensor({1.f, 2.f, 3.f});
  CHECK(values(f(x)) == std::vector<float>{1, 2, 3});
  CHECK(values(f(x)) == std::vector<float>{2, 4, 6});
  CHECK(values(f(x)) == std::vector<float>{3, 6, 9});
  REQUIRE(acc.has_value());
  CHECK(values(acc->value()) == std::vector<float>{3, 6, 9});
  CHECK(f.trace_count() == 1);

  // A function-local variable: created once, on the first trace, and kept.
  auto g = function([](Tensor y) {
    Variable total(zeros({2}), "total");
    total.assign_add(y);
    return total.value();
  });
  Tensor y = tensor({1.f, -1.f});
  CHECK(values(g(y)) == std::vector<float>{1, -1});
  CHECK(values(g(y)) == std::vector<float>{2, -2});
  CHECK(values(g(y)) == std::vector<float>{3, -3});
  CHECK(g.trace_count() == 1);
}

TEST_CASE("function state: creating a variable on a later trace is a TraceError", "[function]") {
  auto f = function([](Tensor x) {
    Variable bias(zeros({1}), "late_bias");
    return x + bias;
  });
  CHECK(values(f(tensor({1.f, 2.f}))) == std::vector<float>{1, 2});
  std::string msg = trace_error_of("a retrace creating a variable", [&] { f(tensor({1.f, 2.f, 3.f})); });
  CHECK(contains(msg, "late_bias"));
  CHECK(f.trace_count() == 1);
  CHECK(values(f(tensor({4.f, 5.f}))) == std::vector<float>{4, 5});  // the first trace still works
}

TEST_CASE("function state: host reads inside a trace are TraceErrors that point to cond and while_loop",
          "[function]") {
  Tensor x = tensor({1.f, -2.f});
  constexpr int kItemLine = __LINE__ + 1;
  auto with_item = function([](Tensor t) { return t * sum(t).item<float>(); });
  std::string item_msg = trace_error_of("with_item(x);", [&] { with_item(x); });
  CHECK(contains(item_msg, "item"));
  CHECK(contains(item_msg, "cond"));
  CHECK(contains(item_msg, "while_loop"));
  CHECK(contains(item_msg, "test_function_state.cpp:" + std::to_string(kItemLine)));

  auto with_vector = function([](Tensor t) { return t * static_cast<float>(t.to_vector<float>().size()); });
  std::string vector_msg = trace_error_of("with_vector(x);", [&] { with_vector(x); });
  CHECK(contains(vector_msg, "to_vector"));
  CHECK(contains(vector_msg, "cond"));
  CHECK(contains(vector_msg, "while_loop"));

  auto with_if = function([](Tensor t) {
    if (sum(t) > 0.f) return t;
    return -t;
  });
  std::string if_msg = trace_error_of("with_if(x);", [&] { with_if(x); });
  CHECK(contains(if_msg, "bool"));
  CHECK(contains(if_msg, "cond"));
  CHECK(contains(if_msg, "while_loop"));

  CHECK(with_item.trace_count() == 0);
  CHECK(with_vector.trace_count() == 0);
  CHECK(with_if.trace_count() == 0);
  // The failed traces left nothing behind on this thread: host reads work again.
  CHECK(sum(x).item<float>() == -1.f);
  CHECK(values(x) == std::vector<float>{1, -2});
  CHECK(static_cast<bool>(sum(x) < 0.f));
}

TEST_CASE("function state: a symbolic tensor leaked from a trace is a TraceError when used", "[function]") {
  Tensor leaked;
  auto f = function([&leaked](Tensor x) {
    leaked = x * 2.f;
    return x + 1.f;
  });
  Tensor x = tensor({1.f, 2.f});
  CHECK(values(f(x)) == std::vector<float>{2, 3});
  REQUIRE(leaked.defined());
  CHECK(leaked.shape() == Shape{2});  // its type is known, its value is not
  trace_error_of("(void)(leaked + 1.f);", [&] { (void)(leaked + 1.f); });
  trace_error_of("(void)exp(leaked);", [&] { (void)exp(leaked); });
  trace_error_of("(void)leaked.item<float>();", [&] { (void)leaked.item<float>(); });
  trace_error_of("(void)leaked.to_vector<float>();", [&] { (void)leaked.to_vector<float>(); });
  trace_error_of("(void)static_cast<bool>(leaked > 0.f);",
                 [&] { (void)static_cast<bool>(leaked > 0.f); });
  Variable v(zeros({2}), "v");
  trace_error_of("v.assign(leaked);", [&] { v.assign(leaked); });
  CHECK(values(v.value()) == std::vector<float>{0, 0});
  trace_error_of("Variable w(leaked, \"from_leaked\");", [&] { Variable w(leaked, "from_leaked"); });
  // Printing it must not crash either.
  std::string text;
  try {
    text = to_string(leaked);
  } catch (const Error&) {
  }
  // Used inside another function's trace.
  auto g = function([&leaked](Tensor y) { return y + leaked; });
  trace_error_of("g(x);", [&] { g(x); });
  CHECK(g.trace_count() == 0);
}

TEST_CASE("function state: results never alias a variable's buffer", "[function]") {
  Variable v(tensor({1.f, 2.f, 3.f}), "v");
  auto read = function([&v]() { return v.value(); });
  Tensor r = read();
  CHECK(values(r) == std::vector<float>{1, 2, 3});
  CHECK(r.data_ptr() != v.value().data_ptr());
  v.assign(tensor({7.f, 8.f, 9.f}));
  CHECK(values(r) == std::vector<float>{1, 2, 3});
  Tensor r2 = read();
  CHECK(values(r2) == std::vector<float>{7, 8, 9});
  // Through a view of the variable.
  auto view = function([&v]() { return reshape(v.value(), {3, 1}); });
  Tensor rv = view();
  CHECK(rv.data_ptr() != v.value().data_ptr());
  // A function that updates the variable in place (memory-plan's donation)
  // must not change a result handed out before.
  auto bump = function([&v](Tensor d) { v.assign_add(d); });
  bump(tensor({1.f, 1.f, 1.f}));
  CHECK(values(r2) == std::vector<float>{7, 8, 9});
  CHECK(values(rv) == std::vector<float>{7, 8, 9});
  CHECK(values(v.value()) == std::vector<float>{8, 9, 10});
  // A result that is also the variable's new value.
  auto add_and_read = function([&v](Tensor d) {
    v.assign_add(d);
    return v.value();
  });
  Tensor r3 = add_and_read(tensor({1.f, 1.f, 1.f}));
  CHECK(values(r3) == std::vector<float>{9, 10, 11});
  CHECK(r3.data_ptr() != v.value().data_ptr());
  add_and_read(tensor({1.f, 1.f, 1.f}));
  CHECK(values(r3) == std::vector<float>{9, 10, 11});
  CHECK(values(v.value()) == std::vector<float>{10, 11, 12});
}

TEST_CASE("function state: a kernel error inside a traced function is an Error on the call", "[function]") {
  Tensor table = tensor({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}});
  Variable hits(scalar(0.f), "hits");
  auto f = function([&hits](Tensor t, Tensor idx) {
    hits.assign_add(scalar(1.f));
    return gather(t, idx, 0) * 2.f;
  });
  CHECK(values(f(table, tensor({2, 0}))) == std::vector<float>{10, 12, 2, 4});
  CHECK_THROWS_AS(f(table, tensor({1, 3})), Error);
  CHECK_THROWS_AS(f(table, tensor({-1, 0})), Error);
  try {
    f(table, tensor({0, 7}));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "gather"));
    CHECK(contains(e.what(), "7"));
  }
  CHECK(f.trace_count() == 1);
  // Later valid calls still work, and their assigns still happen.
  float before = hits.value().item<float>();
  CHECK(values(f(table, tensor({1, 1}))) == std::vector<float>{6, 8, 6, 8});
  CHECK(hits.value().item<float>() == before + 1.f);
  // The eager call fails the same way.
  CHECK_THROWS_AS(gather(table, tensor({3}), 0), Error);
}
