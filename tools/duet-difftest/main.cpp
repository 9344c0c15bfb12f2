// duet-difftest: random programs run three ways (eagerly, traced with
// stepped fusions, traced and compiled) must agree, and their gradients
// must agree too and, in f64, match finite differences (docs/reliability.md).
//   duet-difftest [--count N] [--seed S] [--verbose] [--bits FILE]
//   duet-difftest --show SEED   (one program as traced IR and as C++)
//   duet-difftest --cpp SEED    (one program as C++ alone)
//   --bits FILE: also writes one line per program with a hash of the exact
//   bits of every traced result and gradient, so two builds (before and
//   after a change to the compile road) can be compared with cmp.
// Program i has seed S + i. A mismatch prints the program as IR and as the
// C++ that reproduces it; the exit status is 1 if any program failed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include <duet/codegen/program.h>

#include "program.h"

using namespace duet;
using difftest::Program;

namespace {

struct Stats {
  int programs = 0, failed = 0, f64_programs = 0, compiled_programs = 0;
  int64_t values = 0, bit_equal = 0, gradients = 0, finite_differences = 0;
  double worst_path = 0, worst_fd = 0;  // relative differences seen
};

// |a - b| relative to max(1, |a|, |b|); 0 when both are the same NaN or inf.
double difference(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INFINITY;
  if (a == b) return 0;
  if (std::isinf(a) || std::isinf(b)) return INFINITY;
  return std::abs(a - b) / std::max({1.0, std::abs(a), std::abs(b)});
}

std::vector<double> values_of(const Tensor& t) { return cast(t, DType::f64).to_vector<double>(); }

// --inject-mismatch: the compiled path's first result is nudged, so the
// checker's own test (ctest difftest.detects_mismatch) sees it report.
bool inject_mismatch = false;

// --bits: FNV-1a over the f64 bits (exact for f32 and integers) of each result.
std::FILE* bits_out = nullptr;
std::string bits_line;
void record_bits(const char* what, const std::vector<Tensor>& results) {
  if (!bits_out) return;
  uint64_t h = 1469598103934665603ull;
  for (const Tensor& t : results) {
    if (!t.defined()) continue;
    std::string head = t.shape().str() + dtype_name(t.dtype());
    for (char ch : head) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    for (double v : values_of(t)) {
      uint64_t b;
      std::memcpy(&b, &v, sizeof b);
      for (int i = 0; i < 8; ++i) h = (h ^ ((b >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, " %s=%016llx", what, static_cast<unsigned long long>(h));
  bits_line += buf;
}

class Mismatch : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Checker {
  const Program& p;
  Stats& stats;
  double tolerance;  // between paths

  // Two lists of results must have the same shapes and values within the tolerance.
  void same(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const std::string& what, bool count = true) {
    if (a.size() != b.size()) throw Mismatch(what + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " results");
    for (size_t k = 0; k < a.size(); ++k) {
      if (a[k].defined() != b[k].defined()) throw Mismatch(what + " #" + std::to_string(k) + ": defined on one side only");
      if (!a[k].defined()) continue;
      if (a[k].shape() != b[k].shape() || a[k].dtype() != b[k].dtype())
        throw Mismatch(what + " #" + std::to_string(k) + ": " + a[k].shape().str() + " " + dtype_name(a[k].dtype()) +
                       " vs " + b[k].shape().str() + " " + dtype_name(b[k].dtype()));
      std::vector<double> x = values_of(a[k]), y = values_of(b[k]);
      bool exact = true;
      for (size_t j = 0; j < x.size(); ++j) {
        double d = difference(x[j], y[j]);
        exact = exact && (d == 0 && std::signbit(x[j]) == std::signbit(y[j]));
        stats.worst_path = std::max(stats.worst_path, d);
        if (!(d <= tolerance))
          throw Mismatch(what + " #" + std::to_string(k) + " element " + std::to_string(j) + ": " +
                         std::to_string(x[j]) + " vs " + std::to_string(y[j]));
      }
      if (count) {
        ++stats.values;
        stats.bit_equal += exact;
      }
    }
  }
};

std::vector<Tensor> variable_values(const std::vector<Variable>& vars) {
  std::vector<Tensor> v;
  for (const Variable& x : vars) v.push_back(x.value());
  return v;
}

// sum_k sum(outputs[k] * weights[k]): every output element weighs in.
Tensor loss_of(const std::vector<Tensor>& outputs, const std::vector<Tensor>& weights) {
  Tensor loss = sum(mul(outputs[0], weights[0]));
  for (size_t k = 1; k < outputs.size(); ++k) loss = add(loss, sum(mul(outputs[k], weights[k])));
  return loss;
}

std::vector<Tensor> gradients(const Program& p, const std::vector<Tensor>& in, const std::vector<Variable>& vars,
                              const std::vector<Tensor>& weights) {
  GradientTape tape;
  for (const Tensor& t : in) tape.watch(t);
  Tensor loss = loss_of(difftest::run(p, in, vars), weights);
  std::vector<Tensor> g = tape.gradient(loss, in);
  for (size_t k = 0; k < g.size(); ++k)
    if (!g[k].defined()) g[k] = zeros_like(in[k]);
  return g;
}

// The three paths agree on two calls (the second runs the cached trace on
// the variables the first assigned), on the variables, and on gradients.
void check(const Program& p, Stats& stats, bool verbose) {
  Checker c{p, stats, p.dtype == DType::f64 ? 1e-12 : 2e-5};
  std::vector<Tensor> in = difftest::make_inputs(p);
  auto traced = [&](const std::vector<Variable>& vars, bool jit) {
    auto f = function([&p, vars](std::vector<Tensor> args) { return difftest::run(p, args, vars); });
    codegen::set_jit_enabled(jit);
    std::vector<Tensor> first = f(in);  // traced and lowered here
    codegen::set_jit_enabled(true);
    return std::make_pair(f, first);
  };
  std::vector<Variable> ve = difftest::make_variables(p), vs = difftest::make_variables(p),
                        vc = difftest::make_variables(p);
  std::vector<Tensor> eager1 = difftest::run(p, in, ve);
  auto [stepped, stepped1] = traced(vs, false);
  auto [compiled, compiled1] = traced(vc, true);
  if (inject_mismatch) compiled1[0] = add(compiled1[0], 1e-3);
  record_bits("stepped1", stepped1);
  record_bits("compiled1", compiled1);
  record_bits("compiled_vars1", variable_values(vc));
  c.same(eager1, stepped1, "call 1: eager vs traced (stepped)");
  c.same(eager1, compiled1, "call 1: eager vs traced (compiled)");
  c.same(variable_values(ve), variable_values(vs), "variables after call 1: eager vs stepped");
  c.same(variable_values(ve), variable_values(vc), "variables after call 1: eager vs compiled");
  // The switch took: the stepped program has no compiled kernel.
  if (stepped.get_concrete_function(in).ir(Stage::lowered).find("compiled") != std::string::npos)
    throw Mismatch("the stepped program has compiled steps");
  stats.compiled_programs += compiled.get_concrete_function(in).ir(Stage::lowered).find("compiled") != std::string::npos;
  std::vector<Tensor> eager2 = difftest::run(p, in, ve);
  c.same(eager2, stepped(in), "call 2: eager vs traced (stepped)");
  std::vector<Tensor> compiled2 = compiled(in);
  record_bits("compiled2", compiled2);
  c.same(eager2, compiled2, "call 2: eager vs traced (compiled)");
  c.same(variable_values(ve), variable_values(vc), "variables after call 2: eager vs compiled");

  // Gradients of a weighted sum of the outputs with respect to the inputs.
  std::mt19937_64 rng(p.seed);
  std::vector<Tensor> weights;
  for (const Tensor& o : eager1) weights.push_back(randn(o.shape(), rng(), p.dtype));
  std::vector<Tensor> ge = gradients(p, in, difftest::make_variables(p), weights);
  for (bool jit : {false, true}) {
    std::vector<Variable> vars = difftest::make_variables(p);
    auto g = function([&p, vars, weights](std::vector<Tensor> args) { return gradients(p, args, vars, weights); });
    codegen::set_jit_enabled(jit);
    std::vector<Tensor> gt = g(in);
    codegen::set_jit_enabled(true);
    record_bits(jit ? "grad_compiled" : "grad_stepped", gt);
    c.same(ge, gt, jit ? "gradients: eager vs traced (compiled)" : "gradients: eager vs traced (stepped)", false);
  }
  stats.gradients += static_cast<int64_t>(ge.size());
  if (p.dtype != DType::f64) return;

  // Central differences of the eager loss, element by element.
  auto loss_at = [&](const std::vector<Tensor>& args) {
    return loss_of(difftest::run(p, args, difftest::make_variables(p)), weights).item<double>();
  };
  for (size_t k = 0; k < in.size(); ++k) {
    std::vector<double> x = values_of(in[k]), g = values_of(ge[k]);
    for (size_t j = 0; j < x.size(); ++j) {
      double h = 1e-6 * std::max(1.0, std::abs(x[j]));
      auto at = [&](double v) {
        std::vector<double> y = x;
        y[j] = v;
        std::vector<Tensor> args = in;
        args[k] = from_vector(y, in[k].shape());
        return loss_at(args);
      };
      double fd = (at(x[j] + h) - at(x[j] - h)) / (2 * h);
      double d = difference(g[j], fd);
      stats.worst_fd = std::max(stats.worst_fd, d);
      ++stats.finite_differences;
      if (!(d <= 1e-5))
        throw Mismatch("gradient of input " + std::to_string(k) + " element " + std::to_string(j) + ": tape " +
                       std::to_string(g[j]) + " vs finite difference " + std::to_string(fd));
    }
  }
  if (verbose) std::printf("  (%zu inputs' gradients match finite differences)\n", in.size());
}

std::string traced_ir(const Program& p) {
  try {
    std::vector<Variable> vars = difftest::make_variables(p);
    auto f = function([&p, vars](std::vector<Tensor> args) { return difftest::run(p, args, vars); });
    return f.get_concrete_function(difftest::make_inputs(p)).ir(Stage::traced);
  } catch (const std::exception& e) {
    return std::string("(tracing failed: ") + e.what() + ")\n";
  }
}

void show(const Program& p) {
  std::printf("---- program %llu as traced IR\n%s", static_cast<unsigned long long>(p.seed), traced_ir(p).c_str());
  std::printf("---- program %llu as C++\n%s", static_cast<unsigned long long>(p.seed), difftest::to_cpp(p).c_str());
}

int usage() {
  std::fprintf(stderr, "usage: duet-difftest [--count N] [--seed S] [--verbose] [--bits FILE] | --show SEED | --cpp SEED\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  int64_t count = 100;
  bool verbose = false;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    auto next = [&]() -> const char* { return a + 1 < argc ? argv[++a] : nullptr; };
    if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--bits") {
      const char* v = next();
      if (!v || !(bits_out = std::fopen(v, "w"))) return usage();
    } else if (arg == "--inject-mismatch") {
      inject_mismatch = true;
    } else if (arg == "--count" || arg == "--seed" || arg == "--show" || arg == "--cpp") {
      const char* v = next();
      char* end = nullptr;
      if (!v) return usage();
      unsigned long long n = std::strtoull(v, &end, 10);
      if (*end || !*v) return usage();
      if (arg == "--count") count = static_cast<int64_t>(n);
      else if (arg == "--seed") seed = n;
      else if (arg == "--cpp") {
        std::fputs(difftest::to_cpp(difftest::generate(n)).c_str(), stdout);
        return 0;
      } else {
        show(difftest::generate(n));
        return 0;
      }
    } else {
      return usage();
    }
  }
  Stats stats;
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < count; ++i) {
    Program p = difftest::generate(seed + static_cast<uint64_t>(i));
    if (verbose) std::printf("program %llu: %s\n", static_cast<unsigned long long>(p.seed), difftest::summary(p).c_str());
    ++stats.programs;
    stats.f64_programs += p.dtype == DType::f64;
    std::string failure;
    bits_line.clear();
    try {
      check(p, stats, verbose);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (bits_out)
      std::fprintf(bits_out, "%llu%s%s\n", static_cast<unsigned long long>(p.seed), bits_line.c_str(),
                   failure.empty() ? "" : " failed");
    if (!failure.empty()) {
      ++stats.failed;
      codegen::set_jit_enabled(true);
      std::printf("MISMATCH in program %llu (%s): %s\n", static_cast<unsigned long long>(p.seed),
                  difftest::summary(p).c_str(), failure.c_str());
      show(p);
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "duet-difftest: seeds %llu..%llu: %d programs (%d f64, %d with compiled kernels), %d failed; %lld results compared across 3 paths, "
      "%lld bit-identical; %lld gradients compared; %lld finite differences; worst relative difference between "
      "paths %.3g, tape vs finite difference %.3g; %.1f s\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed + static_cast<uint64_t>(count) - 1),
      stats.programs, stats.f64_programs, stats.compiled_programs, stats.failed, static_cast<long long>(stats.values),
      static_cast<long long>(stats.bit_equal), static_cast<long long>(stats.gradients),
      static_cast<long long>(stats.finite_differences), stats.worst_path, stats.worst_fd, seconds);
  return stats.failed ? 1 : 0;
}
