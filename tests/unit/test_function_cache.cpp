// duet::function's signature cache (DESIGN.md §2.6): retraces and reasons, signatures, locks, the IR stages.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace duet;

namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

// Catches what the library writes on stderr between construction and text().
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = dup(2);
    dup2(fileno(file_), 2);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::string s;
    std::rewind(file_);
    for (int c; (c = std::fgetc(file_)) != EOF;) s += static_cast<char>(c);
    return s;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }
  std::FILE* file_ = nullptr;
  int saved_ = -1;
};

// Lines of IR text that define a value ("%3 = add(...)").
int count_nodes(const std::string& ir) {
  int n = 0;
  for (size_t at = 0; (at = ir.find(" = ", at)) != std::string::npos; ++at) ++n;
  return n;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("function cache: the same shapes never retrace", "[function]") {
  auto f = function([](Tensor x, Tensor y) { return x * y + 1.f; });
  for (int i = 0; i < 4; ++i) {
    Tensor x = randn({2, 3}, 10 + i), y = randn({2, 3}, 20 + i);
    CHECK(values(f(x, y)) == values(x * y + 1.f));
  }
  CHECK(f.trace_count() == 1);
  CHECK(f.retrace_reasons().empty());
}

TEST_CASE("function cache: a new shape retraces once and says why", "[function]") {
  auto f = function([](Tensor x) { return sum(x * 2.f, {1}); });
  Tensor a = randn({2, 3}, 1), b = randn({5, 3}, 2);
  CHECK(values(f(a)) == values(sum(a * 2.f, {1})));
  CHECK(values(f(b)) == values(sum(b * 2.f, {1})));
  CHECK(f(b).shape() == Shape{5});
  CHECK(values(f(a)) == values(sum(a * 2.f, {1})));  // the first trace is still cached
  CHECK(f.trace_count() == 2);
  std::vector<std::string> reasons = f.retrace_reasons();
  REQUIRE(reasons.size() == 1);
  CHECK(reasons[0] == "arg 0: shape [2,3] -> [5,3]");
  // A dtype change names the argument and both dtypes.
  Tensor c = randn({2, 3}, 3, DType::f64);
  CHECK(f(c).dtype() == DType::f64);
  CHECK(f.trace_count() == 3);
  REQUIRE(f.retrace_reasons().size() == 2);
  CHECK(contains(f.retrace_reasons()[1], "arg 0"));
  CHECK(contains(f.retrace_reasons()[1], "f64"));
}

TEST_CASE("function cache: an input_signature with -1 serves every batch size with one trace", "[function]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 3}, DType::f32), TensorSpec({3}, DType::f32)};
  auto f = function([](Tensor x, Tensor b) { return relu(x + b) * 2.f; }, o);
  Tensor b = randn({3}, 7);
  for (int64_t batch : {1, 7, 128}) {
    INFO("batch " << batch);
    Tensor x = randn({batch, 3}, static_cast<uint64_t>(batch));
    Tensor y = f(x, b);
    CHECK(y.shape() == Shape{batch, 3});
    CHECK(values(y) == values(relu(x + b) * 2.f));
  }
  CHECK(f.trace_count() == 1);
  CHECK(contains(f.get_concrete_function(randn({4, 3}), b).ir(Stage::traced), "f32[?,3]"));
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function cache: a call that does not fit the input_signature is an Error naming the argument",
          "[function]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 3}, DType::f32), TensorSpec({-1, 3}, DType::f32)};
  auto f = function([](Tensor x, Tensor y) { return x - y; }, o);
  Tensor ok = randn({4, 3}, 1);
  CHECK(values(f(ok, ok)) == std::vector<float>(12, 0.f));
  auto expect_error = [&](const Tensor& bad, const char* what) {
    INFO(what);
    try {
      f(ok, bad);
      FAIL("no error");
    } catch (const Error& e) {
      std::string msg = e.what();
      CHECK(contains(msg, "arg 1"));
      CHECK_FALSE(contains(msg, "arg 0"));
      CHECK(contains(msg, bad.type().str()));
    }
  };
  expect_error(randn({4, 3}, 2, DType::f64), "wrong dtype");
  expect_error(randn({4, 2}, 2), "wrong static dim");
  expect_error(randn({3}, 2), "wrong rank");
  expect_error(randn({2, 4, 3}, 2), "wrong rank");
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function cache: by-value arguments retrace per value and are baked into the graph", "[function]") {
  int calls = 0;
  auto f = function([&calls](Tensor x, int n, bool negate, float scale, std::string mode) {
    ++calls;
    Tensor y = x * static_cast<float>(n) * scale;
    if (negate) y = -y;
    if (mode == "square") y = square(y);
    return y;
  });
  Tensor x = tensor({1.f, -2.f, 3.f});
  CHECK(values(f(x, 2, false, 1.f, "id")) == std::vector<float>{2, -4, 6});
  CHECK(values(f(x, 2, false, 1.f, "id")) == std::vector<float>{2, -4, 6});
  CHECK(f.trace_count() == 1);
  CHECK(values(f(x, 3, false, 1.f, "id")) == std::vector<float>{3, -6, 9});
  CHECK(values(f(x, 3, true, 1.f, "id")) == std::vector<float>{-3, 6, -9});
  CHECK(values(f(x, 3, true, 0.5f, "id")) == std::vector<float>{-1.5f, 3, -4.5f});
  CHECK(values(f(x, 3, true, 0.5f, "square")) == std::vector<float>{2.25f, 9, 20.25f});
  CHECK(f.trace_count() == 5);
  CHECK(calls == 5);
  // Every earlier value is still cached.
  CHECK(values(f(x, 2, false, 1.f, "id")) == std::vector<float>{2, -4, 6});
  CHECK(values(f(x, 3, true, 1.f, "id")) == std::vector<float>{-3, 6, -9});
  CHECK(f.trace_count() == 5);
  std::vector<std::string> reasons = f.retrace_reasons();
  REQUIRE(reasons.size() == 4);
  CHECK(contains(reasons[0], "arg 1"));
  CHECK(contains(reasons[0], "2 -> 3"));
  CHECK(contains(reasons[1], "arg 2"));
  CHECK(contains(reasons[2], "arg 3"));
  CHECK(contains(reasons[3], "arg 4"));
  CHECK(contains(reasons[3], "square"));
  // The value is in the graph, not a parameter: one tensor parameter only.
  std::string ir = f.get_concrete_function(x, 7, false, 1.f, "id").ir(Stage::traced);
  CHECK(contains(ir, "dense<7.0>"));
  CHECK(contains(ir, "(%arg0: f32[3]) ->"));
}

TEST_CASE("function cache: max_traces = 1 locks the function", "[function]") {
  FunctionOptions o;
  o.max_traces = 1;
  auto f = function([](Tensor x, Tensor y) { return x + y; }, o);
  Tensor a = randn({2}, 1);
  CHECK(values(f(a, a)) == values(a + a));
  try {
    f(a, randn({3}, 2));
    FAIL("no error");
  } catch (const TraceError& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(contains(msg, "arg 1"));
    CHECK(contains(msg, "[2]"));
    CHECK(contains(msg, "[3]"));
    CHECK(contains(msg, "max_traces"));
  }
  CHECK_THROWS_AS(f(randn({2}, 3, DType::f64), randn({2}, 3, DType::f64)), TraceError);
  CHECK(f.trace_count() == 1);
  CHECK(values(f(a, a)) == values(a + a));  // the locked trace still runs
}

TEST_CASE("function cache: reduce_retracing makes the changed dim dynamic after one retrace", "[function]") {
  FunctionOptions o;
  o.reduce_retracing = true;
  auto f = function([](Tensor x) { return softmax(x * 2.f); }, o);
  for (int64_t batch : {2, 5, 9, 1, 64}) {
    INFO("batch " << batch);
    Tensor x = randn({batch, 3}, static_cast<uint64_t>(batch));
    Tensor y = f(x);
    CHECK(y.shape() == Shape{batch, 3});
    CHECK(values(y) == values(softmax(x * 2.f)));
  }
  CHECK(f.trace_count() == 2);
  REQUIRE(f.retrace_reasons().size() == 1);
  CHECK(f.retrace_reasons()[0] == "arg 0: shape [2,3] -> [5,3]");
  std::string ir = f.get_concrete_function(randn({9, 3})).ir(Stage::traced);
  CHECK(contains(ir, "f32[?,3]"));
  CHECK(f.trace_count() == 2);
}

TEST_CASE("function cache: the cache is bounded and drops the least recently used trace", "[function]") {
  FunctionOptions o;
  o.cache_size = 2;
  auto f = function([](Tensor x) { return x + 1.f; }, o);
  Tensor a = randn({1}, 1), b = randn({2}, 2), c = randn({3}, 3);
  f(a);
  f(b);
  f(a);  // a is now the most recently used
  CHECK(f.trace_count() == 2);
  f(c);  // evicts b
  CHECK(f.trace_count() == 3);
  f(a);
  CHECK(f.trace_count() == 3);
  CHECK(values(f(b)) == values(b + 1.f));  // b was dropped: traced again
  CHECK(f.trace_count() == 4);
}

TEST_CASE("function cache: run_functions_eagerly runs the callable on every call", "[function]") {
  struct Reset {
    ~Reset() { run_functions_eagerly(false); }
  } reset;
  int calls = 0;
  auto f = function([&calls](Tensor x) {
    ++calls;
    return x * 3.f;
  });
  run_functions_eagerly(true);
  CHECK(functions_run_eagerly());
  Tensor x = tensor({1.f, 2.f});
  for (int i = 0; i < 3; ++i) CHECK(values(f(x)) == std::vector<float>{3, 6});
  CHECK(calls == 3);
  CHECK(f.trace_count() == 0);
  // Host reads work when eager: that is what the switch is for.
  auto g = function([](Tensor t) { return t * t.sum().item<float>(); });
  CHECK(values(g(x)) == std::vector<float>{3, 6});
  run_functions_eagerly(false);
  CHECK(values(f(x)) == std::vector<float>{3, 6});
  CHECK(values(f(x)) == std::vector<float>{3, 6});
  CHECK(calls == 4);  // traced once, then compiled
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function cache: the fifth trace warns on stderr", "[function]") {
  auto f = function([](Tensor x) { return x * 2.f; });
  {
    StderrCapture capture;
    for (int64_t n = 1; n <= 4; ++n) f(ones({n}));
    CHECK(capture.text().empty());
  }
  CHECK(f.trace_count() == 4);
  StderrCapture capture;
  CHECK(values(f(ones({5}))) == std::vector<float>(5, 2.f));
  std::string err = capture.text();
  CHECK(f.trace_count() == 5);
  CHECK(contains(err, "warning"));
  CHECK(contains(err, "5"));
}

TEST_CASE("function cache: get_concrete_function traces without running and is callable", "[function]") {
  int calls = 0;
  auto f = function([&calls](Tensor x) {
    ++calls;
    return exp(x);
  });
  Tensor x = randn({4}, 5);
  ConcreteFunction cf = f.get_concrete_function(x);
  CHECK(f.trace_count() == 1);
  CHECK(calls == 1);
  std::vector<Tensor> out = cf({x});
  REQUIRE(out.size() == 1);
  CHECK(values(out[0]) == values(exp(x)));
  CHECK(values(f(x)) == values(exp(x)));
  CHECK(f.trace_count() == 1);
  CHECK(calls == 1);
  CHECK_THROWS_AS(cf({randn({5}, 1)}), Error);
  CHECK_THROWS_AS(cf({x, x}), Error);
}

TEST_CASE("function IR: traced names ops and source lines, optimized drops duplicates, lowered lists steps",
          "[function]") {
  constexpr int kLine = __LINE__ + 3;
  auto f = function([](Tensor x) {
    Tensor a = tanh(x) * 3.f;
    Tensor b = tanh(x) * 3.f;  // the same expression again: cse merges it
    Tensor unused = exp(x);    // dead: dce drops it
    (void)unused;
    return a + b;
  });
  Tensor x = randn({2, 3}, 1);
  CHECK(values(f(x)) == values(tanh(x) * 3.f + tanh(x) * 3.f));
  ConcreteFunction cf = f.get_concrete_function(x);
  std::string traced = cf.ir(Stage::traced);
  INFO(traced);
  CHECK(contains(traced, "tanh("));
  CHECK(contains(traced, "mul("));
  CHECK(contains(traced, "exp("));
  CHECK(contains(traced, "add("));
  CHECK(contains(traced, "loc(\"test_function_cache.cpp\":" + std::to_string(kLine) + ")"));
  CHECK(contains(traced, "loc(\"test_function_cache.cpp\":" + std::to_string(kLine + 1) + ")"));
  CHECK(contains(traced, "%arg0: f32[2,3]"));
  std::string optimized = cf.ir(Stage::optimized);
  INFO(optimized);
  CHECK(count_nodes(optimized) < count_nodes(traced));
  CHECK_FALSE(contains(optimized, "exp("));
  CHECK(contains(optimized, "tanh("));
  std::string lowered = cf.ir(Stage::lowered);
  INFO(lowered);
  CHECK(contains(lowered, "step"));
  CHECK(contains(lowered, "tanh"));
  CHECK(contains(lowered, "mul"));
  CHECK(contains(lowered, "add"));
  CHECK_FALSE(contains(lowered, "exp"));
}

TEST_CASE("function IR: a captured eager tensor becomes a constant", "[function]") {
  Tensor c = tensor({1.5f, -2.f, 4.f});
  auto f = function([c](Tensor x) { return x * c; });
  Tensor x = tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  CHECK(values(f(x)) == std::vector<float>{1.5f, -4, 12, 6, -10, 24});
  std::string ir = f.get_concrete_function(x).ir(Stage::traced);
  INFO(ir);
  CHECK(contains(ir, "constant() {value=dense<1.5, -2.0, 4.0>} : f32[3]"));
  CHECK(contains(ir, "(%arg0: f32[2,3]) ->"));  // not a parameter
  CHECK(f.trace_count() == 1);
}

TEST_CASE("function cache: rank-0 and empty tensors, and a signature of the wrong length", "[function]") {
  auto f = function([](Tensor s, Tensor m) { return std::make_pair(s * 2.f, sum(m, {0}) + s); });
  auto [a, b] = f(scalar(1.5f), zeros({0, 3}));
  CHECK(a.rank() == 0);
  CHECK(a.item<float>() == 3.f);
  CHECK(b.shape() == Shape{3});
  CHECK(values(b) == std::vector<float>{1.5f, 1.5f, 1.5f});
  auto [c, d] = f(scalar(-1.f), ones({2, 3}));
  CHECK(c.item<float>() == -2.f);
  CHECK(values(d) == std::vector<float>{1, 1, 1});
  CHECK(f.trace_count() == 2);
  auto g = function([](Tensor m) { return m * 2.f; });
  CHECK(g(zeros({0, 4})).shape() == Shape{0, 4});

  FunctionOptions o;
  o.input_signature = {TensorSpec({-1}, DType::f32), TensorSpec({-1}, DType::f32)};
  auto h = function([](Tensor x) { return x + 1.f; }, o);
  CHECK_THROWS_AS(h(ones({3})), Error);
  CHECK(h.trace_count() == 0);
}
