// Control flow, part two: print (captured stdout), gradients through cond and while_loop, and the IR of region ops.
#include <catch2/catch.hpp>
#include <duet/duet.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

using namespace duet;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int count(const std::string& s, const std::string& part) {
  int n = 0;
  for (size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + part.size())) ++n;
  return n;
}

// Everything written to file descriptor 1 (printf, std::cout, duet::print) while `fn` runs.
// Assertions go outside `fn`: Catch2 reports to stdout too.
template <class F>
std::string capture_stdout(F&& fn) {
  std::cout.flush();
  std::fflush(stdout);
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  int saved = dup(1);
  REQUIRE(saved >= 0);
  REQUIRE(dup2(fileno(tmp), 1) >= 0);
  auto restore = [&] {
    std::cout.flush();
    std::fflush(stdout);
    dup2(saved, 1);
    close(saved);
  };
  try {
    fn();
  } catch (...) {
    restore();
    std::fclose(tmp);
    throw;
  }
  restore();
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- print

TEST_CASE("print prints strings tensors and numbers on every call eager and traced", "[control_flow]") {
  std::string out = capture_stdout([] { print("loss", tensor({1.f, 2.5f}), 3, 0.5, scalar(7)); });
  CHECK(out == "loss [1, 2.5] 3 0.5 7\n");

  auto f = function([](Tensor x) {
    print("x is", x, "step", 7);
    return x + 1.f;
  });
  std::vector<float> results;
  out = capture_stdout([&] {
    for (float v : {1.f, 2.f, 3.f}) results.push_back(f(scalar(v)).item<float>());
  });
  CHECK(results == std::vector<float>{2.f, 3.f, 4.f});
  CHECK(out == "x is 1 step 7\nx is 2 step 7\nx is 3 step 7\n");
  CHECK(f.trace_count() == 1);

  // Braces in the text are text, not placeholders.
  out = capture_stdout([] { print("{}", scalar(1)); });
  CHECK(out == "{} 1\n");
  auto g = function([](Tensor x) { print("{x}", x); });
  out = capture_stdout([&] { g(tensor({4, 5})); g(tensor({6, 7})); });
  CHECK(out == "{x} [4, 5]\n{x} [6, 7]\n");
}

TEST_CASE("print keeps program order with branches and loop bodies", "[control_flow]") {
  auto body = [](Tensor p, Tensor n) {
    print("start", n);
    Tensor r = cond(p, [&] { print("then"); return n + 1; }, [&] { print("else", n); return n - 1; });
    print("after cond", r);
    auto v = while_loop([n](const std::vector<Tensor>& s) { return s[0] < n; },
                        [](const std::vector<Tensor>& s) -> std::vector<Tensor> {
                          print("iteration", s[0]);
                          return {s[0] + 1};
                        },
                        {scalar(0)});
    print("end", v[0]);
    return r;
  };
  auto f = function(body);
  const std::string taken = "start 2\nthen\nafter cond 3\niteration 0\niteration 1\nend 2\n";
  const std::string not_taken = "start 3\nelse 3\nafter cond 2\niteration 0\niteration 1\niteration 2\nend 3\n";
  const std::string no_loop = "start 0\nthen\nafter cond 1\nend 0\n";
  CHECK(capture_stdout([&] { body(scalar(true), scalar(2)); }) == taken);
  CHECK(capture_stdout([&] { body(scalar(false), scalar(3)); }) == not_taken);
  CHECK(capture_stdout([&] { f(scalar(true), scalar(2)); }) == taken);
  CHECK(capture_stdout([&] { f(scalar(false), scalar(3)); }) == not_taken);
  CHECK(capture_stdout([&] { f(scalar(true), scalar(0)); }) == no_loop);
  CHECK(capture_stdout([&] { f(scalar(true), scalar(2)); }) == taken);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("print inside a branch that also assigns a variable keeps both effects in order", "[control_flow]") {
  Variable v(scalar(0), "v");
  auto f = function([v](Tensor p) mutable {
    cond(p, [&] { v.assign_add(scalar(1)); print("v now", v); return scalar(0); },
         [&] { print("untouched", v); return scalar(0); });
    print("read", v);
  });
  std::string out = capture_stdout([&] {
    f(scalar(true));
    f(scalar(false));
    f(scalar(true));
  });
  CHECK(out == "v now 1\nread 1\nuntouched 1\nread 1\nv now 2\nread 2\n");
  CHECK(v.value().item<int32_t>() == 2);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("std::cout inside a traced lambda prints only while tracing", "[control_flow]") {
  auto body = [](Tensor x) {
    std::cout << "host line" << std::endl;
    print("graph line");
    return x * 2.f;
  };
  auto f = function(body);
  std::string out = capture_stdout([&] {
    for (int i = 0; i < 4; ++i) f(scalar(static_cast<float>(i)));
  });
  CHECK(count(out, "host line") == 1);
  CHECK(count(out, "graph line") == 4);
  CHECK(f.trace_count() == 1);
  // Eagerly both print on every call.
  out = capture_stdout([&] {
    for (int i = 0; i < 3; ++i) body(scalar(1.f));
  });
  CHECK(count(out, "host line") == 3);
  CHECK(count(out, "graph line") == 3);
}

// ---------------------------------------------------------------- gradients

TEST_CASE("gradients flow through the taken branch of an eager cond", "[control_flow]") {
  for (bool p : {true, false}) {
    INFO("p " << p);
    Tensor x = scalar(3.0, DType::f64), z = scalar(2.0, DType::f64);
    GradientTape tape(/*persistent=*/true);
    tape.watch(x);
    tape.watch(z);
    Tensor y = cond(scalar(p), [&] { return x * x * x; }, [&] { return x * z * z; });
    Tensor dx = tape.gradient(y, x), dz = tape.gradient(y, z);
    REQUIRE(dx.defined());
    CHECK(dx.item<double>() == Approx(p ? 27.0 : 4.0));  // 3x^2 or z^2
    if (p) CHECK_FALSE(dz.defined());                    // the else branch never ran
    else CHECK(dz.item<double>() == Approx(12.0));       // 2xz
  }
}

TEST_CASE("gradients flow through an eager while_loop by repeated squaring", "[control_flow]") {
  for (int n : {0, 1, 3, 4}) {
    INFO("n " << n);
    const double x0 = 1.1;
    Tensor x = scalar(x0, DType::f64);
    GradientTape tape;
    tape.watch(x);
    Tensor nn = scalar(n);
    auto r = while_loop([nn](const std::vector<Tensor>& v) { return v[0] < nn; },
                        [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] + 1, v[1] * v[1]}; },
                        {scalar(0), x});
    const double p = std::pow(2.0, n);  // x^(2^n)
    CHECK(r[1].item<double>() == Approx(std::pow(x0, p)).epsilon(1e-12));
    Tensor dx = tape.gradient(r[1], x);
    REQUIRE(dx.defined());
    CHECK(dx.item<double>() == Approx(p * std::pow(x0, p - 1)).epsilon(1e-12));
  }
}

TEST_CASE("gradients through a traced cond or while_loop under an eager tape are right", "[control_flow]") {
  auto check = [](const char* what, auto&& fn, double want) {
    INFO(what);
    CHECK(fn() == Approx(want).epsilon(1e-12));
  };
  auto fc = function([](Tensor p, Tensor x) { return cond(p, [&] { return x * x; }, [&] { return -x; }); });
  check("cond, then", [&] {
    Tensor x = scalar(3.0, DType::f64);
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(fc(scalar(true), x), x).item<double>();
  }, 6.0);
  check("cond, else", [&] {
    Tensor x = scalar(3.0, DType::f64);
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(fc(scalar(false), x), x).item<double>();
  }, -1.0);
  auto fw = function([](Tensor n, Tensor x) {
    return while_loop([n](const std::vector<Tensor>& v) { return v[0] < n; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] + 1, v[1] * v[1]}; },
                      {scalar(0), x})[1];
  });
  check("while", [&] {
    Tensor x = scalar(1.1, DType::f64);
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(fw(scalar(2), x), x).item<double>();
  }, 4.0 * std::pow(1.1, 3.0));
}

TEST_CASE("a gradient through a while_loop nested in a traced cond is refused, naming the while", "[control_flow]") {
  auto f = function([](Tensor p, Tensor x) {
    return cond(p, [&] {
      return while_loop([](const std::vector<Tensor>& v) { return v[0] < 2; },
                        [](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] + 1, v[1] * v[1]}; },
                        {scalar(0), x})[1];
    }, [&] { return -x; });
  });
  Tensor x = scalar(1.5, DType::f64);
  CHECK(f(scalar(true), x).item<double>() == Approx(std::pow(1.5, 4.0)));
  GradientTape tape;
  tape.watch(x);
  Tensor y = f(scalar(true), x);
  try {
    tape.gradient(y, x);
    FAIL("no error");
  } catch (const TraceError& e) {
    std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("'while'") && Catch::Contains("test_control_flow_effects.cpp"));
    CHECK_THAT(m, Catch::Contains("nested in traced control flow"));
  }
}

TEST_CASE("a tape inside a traced function differentiates cond and while_loop like the eager tape", "[control_flow]") {
  // Gradients w.r.t. an argument and a captured variable, the trip count known only at run time.
  Variable w(tensor({0.5, 2.0}, DType::f64), "w");
  auto body = [&w](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] * v[0] * w, v[1] + 1}; };
  auto grads = [&](Tensor x, Tensor n, Tensor p) -> std::vector<Tensor> {
    GradientTape tape;
    tape.watch(x);
    auto r = while_loop([n](const std::vector<Tensor>& v) { return v[1] < n; }, body, {x, scalar(0)});
    Tensor y = cond(p, [&] { return r[0] * 3.0; }, [&] { return exp(r[0] * 0.1); });
    return tape.gradient(sum(y), {x, w});
  };
  auto traced = function(grads);
  Tensor x = tensor({0.9, 1.1}, DType::f64);
  for (int n : {0, 1, 3}) {
    for (bool p : {true, false}) {
      INFO("n " << n << ", p " << p);
      std::vector<Tensor> want = grads(x, scalar(n), scalar(p));
      std::vector<Tensor> got = traced(x, scalar(n), scalar(p));
      REQUIRE(got.size() == 2);
      for (int i = 0; i < 2; ++i) {
        REQUIRE(got[i].defined());
        std::vector<double> g = got[i].to_vector<double>();
        // Eagerly a variable the taken path never reads has no gradient; traced it gets zeros.
        std::vector<double> e = want[i].defined() ? want[i].to_vector<double>() : std::vector<double>(g.size(), 0.0);
        for (size_t k = 0; k < g.size(); ++k) CHECK(g[k] == Approx(e[k]).epsilon(1e-12).margin(1e-12));
      }
    }
  }
  CHECK(traced.trace_count() == 1);
}

// ---------------------------------------------------------------- IR

TEST_CASE("the IR of a function with cond while and print", "[control_flow]") {
  Variable total(scalar(0.f), "total");
  auto f = function([total](Tensor p, Tensor n, Tensor x) mutable {
    print("in", x);
    Tensor y = cond(p, [&] { print("then"); return x * 2.f; }, [&] { return x - 1.f; });
    auto r = while_loop([n](const std::vector<Tensor>& v) { return v[0] < n; },
                        [&total](const std::vector<Tensor>& v) -> std::vector<Tensor> {
                          total.assign_add(sum(v[1]));
                          print("loop", v[0]);
                          return {v[0] + 1, v[1] + 1.f};
                        },
                        {scalar(0), y});
    print("out", r[1]);
    return r[1];
  });
  Tensor x = tensor({1.f, 2.f});
  ConcreteFunction cf = f.get_concrete_function(scalar(true), scalar(2), x);
  std::string traced = cf.ir(Stage::traced);
  INFO(traced);
  CHECK(contains(traced, "cond("));
  CHECK(contains(traced, "while("));
  CHECK(count(traced, "print(") == 4);
  CHECK(contains(traced, "token"));
  CHECK(contains(traced, "after_all("));  // the else branch starts its own chain
  // Optimizing runs the verifier after the pipeline: the regions and the token chain must pass.
  std::string optimized;
  REQUIRE_NOTHROW(optimized = cf.ir(Stage::optimized));
  CHECK(contains(optimized, "cond("));
  CHECK(contains(optimized, "while("));
  CHECK(count(optimized, "print(") == 4);  // no print removed or hoisted out of its region
  // The printed IR parses back and prints the same.
  std::unique_ptr<Graph> g;
  REQUIRE_NOTHROW(g = parse_graph(traced, "control_flow"));
  CHECK(print_graph(*g) == traced);

  // And it runs: y = 2x, two iterations add 1 each; total += sum(y) + sum(y + 1).
  std::string out = capture_stdout([&] { f(scalar(true), scalar(2), x); });
  CHECK(out == "in [1, 2]\nthen\nloop 0\nloop 1\nout [4, 6]\n");
  CHECK(total.value().item<float>() == 6.f + 8.f);
  CHECK(f.trace_count() == 1);
}

// ---------------------------------------------------------------- finite differences

namespace {
// d/dx of f(x) (a scalar f64 result) at x, by central differences.
std::vector<double> numeric_gradient(const std::function<double(const Tensor&)>& f, const Tensor& x) {
  std::vector<double> v = x.to_vector<double>(), g;
  const double h = 1e-6;
  for (size_t i = 0; i < v.size(); ++i) {
    std::vector<double> up = v, down = v;
    up[i] += h;
    down[i] -= h;
    g.push_back((f(from_vector(up, x.shape())) - f(from_vector(down, x.shape()))) / (2 * h));
  }
  return g;
}
}  // namespace

TEST_CASE("control-flow gradients match finite differences eagerly and traced", "[control_flow]") {
  using Body = std::function<Tensor(Tensor, Tensor)>;  // (x, n) -> scalar f64
  Body through_cond = [](Tensor x, Tensor n) {
    return sum(cond(n > 1, [&] { return x * x * x; }, [&] { return exp(x) * 2.0; }));
  };
  Body power = [](Tensor x, Tensor n) {  // x^n by repeated multiplication
    auto r = while_loop([n](const std::vector<Tensor>& v) { return v[1] < n; },
                        [x](const std::vector<Tensor>& v) -> std::vector<Tensor> { return {v[0] * x, v[1] + 1}; },
                        {ones_like(x), scalar(0)});
    return sum(r[0]);
  };
  Body cond_in_loop = [](Tensor x, Tensor n) {
    auto r = while_loop([n](const std::vector<Tensor>& v) { return v[1] < n; },
                        [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
                          Tensor y = cond(sum(v[0]) > 0.0, [&] { return v[0] * v[0]; }, [&] { return tanh(v[0]) + 1.0; });
                          return {y, v[1] + 1};
                        },
                        {x, scalar(0)});
    return sum(r[0]);
  };
  const std::pair<const char*, Body> cases[] = {{"cond", through_cond}, {"x^n", power}, {"cond in while", cond_in_loop}};
  for (const auto& [name, body] : cases) {
    auto grad = [body = body](Tensor x, Tensor n) {
      GradientTape tape;
      tape.watch(x);
      return tape.gradient(body(x, n), x);
    };
    auto traced = function(grad);
    for (double s : {0.7, -0.9}) {
      for (int n : {0, 1, 3}) {
        INFO(name << ", x0 " << s << ", n " << n);
        Tensor x = tensor({s, 0.4 * s + 0.1}, DType::f64);
        std::vector<double> want = numeric_gradient([&](const Tensor& xx) { return body(xx, scalar(n)).item<double>(); }, x);
        for (const Tensor& got : {grad(x, scalar(n)), traced(x, scalar(n))}) {
          std::vector<double> g = got.defined() ? got.to_vector<double>() : std::vector<double>(2, 0.0);
          for (size_t i = 0; i < want.size(); ++i) CHECK(g[i] == Approx(want[i]).epsilon(1e-6).margin(1e-7));
        }
      }
    }
    CHECK(traced.trace_count() == 1);
  }
}
