// Compiled elementwise fusions (codegen/llvm): duet's f32 polynomials
// (scalar_math::poly) against a double-precision libm reference, and traced
// functions, whose all-elementwise fusions run as LLVM kernels, against the
// eager kernels bit for bit: every elementwise op and dtype on edge cases,
// broadcasting and dynamic shapes, an in-place variable update, and the
// kernel cache's counters.
#include <catch2/catch.hpp>
#include <duet/codegen/llvm/kernels.h>
#include <duet/duet.h>
#include <duet/graph/scalar.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "test_support.h"

using namespace duet;
using duet_test::contains;
namespace jit = duet::codegen::jit;
namespace poly = duet::scalar_math::poly;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

float rt(float x) {  // through a volatile, so the compiler cannot fold the call
  volatile float v = x;
  return v;
}
using duet_test::jit_off;
// Kernel look-ups so far: one per compiled fusion per new input-shape plan.
int64_t lookups() { return jit::stats().compiled + jit::stats().memory_hits + jit::stats().disk_hits; }
uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
// Floats as integers in numeric order (-0 and +0 both 0), so a distance is ulps.
int64_t ordered(float f) { return std::signbit(f) ? -int64_t{bits(-f)} : int64_t{bits(f)}; }
float unordered(int64_t o) { return o < 0 ? -std::bit_cast<float>(uint32_t(-o)) : std::bit_cast<float>(uint32_t(o)); }
// n floats evenly spaced in value, and n evenly spaced in representation (every binade gets its share).
void linear(std::vector<float>& v, double lo, double hi, int n) {
  for (int i = 0; i < n; ++i) v.push_back(static_cast<float>(lo + (hi - lo) * i / (n - 1)));
}
void binades(std::vector<float>& v, float lo, float hi, int n) {
  int64_t a = ordered(lo), b = ordered(hi);
  for (int i = 0; i < n; ++i) v.push_back(unordered(a + (b - a) * i / (n - 1)));
}
const std::vector<float> kSpecials = {kNaN, -kNaN, kInf, -kInf, 0.f, -0.f, FLT_MIN, -FLT_MIN, FLT_TRUE_MIN,
                                      -FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 1.f, -1.f};

std::vector<float> exp_inputs() {
  std::vector<float> v = kSpecials;
  linear(v, -104, 89, 400000), binades(v, -104.f, 89.f, 300000);  // binades: dense near 0
  linear(v, 88, 89, 50000), linear(v, -104, -86, 100000);  // inf above 88.72; subnormal below -87.34, 0 below -103.97
  linear(v, -1000, 1000, 2000);                             // clamped
  return v;
}
std::vector<float> log_inputs() {
  std::vector<float> v = kSpecials;
  binades(v, FLT_TRUE_MIN, FLT_MAX, 500000);  // every binade, subnormals included
  linear(v, 0.5, 2, 300000), linear(v, 0, 100, 100000), linear(v, -10, 0, 1000);  // log near 0; NaN
  return v;
}
std::vector<float> tanh_inputs() {
  std::vector<float> v = kSpecials;
  binades(v, -FLT_MAX, FLT_MAX, 400000), linear(v, -10, 10, 500000);  // tiny and huge |x|
  linear(v, 0.6, 0.65, 50000), linear(v, -0.65, -0.6, 50000);         // the switch at 0.625
  return v;
}
std::vector<float> sigmoid_inputs() {
  std::vector<float> v = kSpecials;
  linear(v, -88.7, 20, 600000), binades(v, -88.7f, 1000.f, 300000);
  return v;
}

// got(x) against the float nearest ref(double(x)) over xs: the largest distance in ulps where that float is
// normal (reported, and at most max_ulp), where it is subnormal or 0 (at most 1), and NaN exactly where it is NaN.
template <class Got, class Ref>
void accuracy(const char* name, const std::vector<float>& xs, Got got, Ref ref, int64_t max_ulp) {
  int64_t normal = 0, subnormal = 0, nan_mismatch = 0;
  float worst = 0, worst_subnormal = 0, bad_nan = 0;
  for (float x : xs) {
    float want = static_cast<float>(ref(static_cast<double>(x))), g = got(x);
    if (std::isnan(want) || std::isnan(g)) {
      if (std::isnan(want) != std::isnan(g) && nan_mismatch++ == 0) bad_nan = x;
      continue;
    }
    int64_t d = std::llabs(ordered(g) - ordered(want));
    if (std::fabs(want) < FLT_MIN && d > subnormal) subnormal = d, worst_subnormal = x;
    if (std::fabs(want) >= FLT_MIN && d > normal) normal = d, worst = x;
  }
  WARN(name << ": " << xs.size() << " inputs, max " << normal << " ulp (at x = " << worst
            << "), subnormal results max " << subnormal << " ulp (at x = " << worst_subnormal << ")");
  INFO(name << ": NaN where the reference is not, or the reverse, first at x = " << bad_nan);
  CHECK(nan_mismatch == 0);
  CHECK(normal <= max_ulp);
  CHECK(subnormal <= 1);
}

// ---- traced against eager ----------------------------------------------------------

// Element i as a value and its bytes in hex.
std::string element(const Tensor& t, int64_t i) {
  uint64_t raw = 0;
  std::memcpy(&raw, static_cast<const char*>(t.data_ptr()) + i * dtype_size(t.dtype()), dtype_size(t.dtype()));
  return fmt::format("{} (0x{:x})", t.to_vector<double>()[static_cast<size_t>(i)], raw);
}

bool nan_at(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::f32) return std::isnan(static_cast<const float*>(t.data_ptr())[i]);
  return t.dtype() == DType::f64 && std::isnan(static_cast<const double*>(t.data_ptr())[i]);
}

// Same dtype, shape and bytes (NaN equals NaN with the same bits); the first differences are reported.
void require_same_bits(const Tensor& got, const Tensor& want, std::vector<const Tensor*> inputs = {},
                       bool nan_bits = true) {
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  const size_t w = dtype_size(got.dtype());
  const auto* a = static_cast<const unsigned char*>(got.data_ptr());
  const auto* b = static_cast<const unsigned char*>(want.data_ptr());
  int64_t differ = 0;
  std::string first;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (std::memcmp(a + i * w, b + i * w, w) == 0) continue;
    if (!nan_bits && nan_at(got, i) && nan_at(want, i)) continue;
    if (differ++ >= 3) continue;
    first += fmt::format("\n  element {} of inputs", i);
    for (const Tensor* t : inputs) first += fmt::format(" {}", element(*t, i));
    first += fmt::format(": traced {}, eager {}", element(got, i), element(want, i));
  }
  INFO(differ << " of " << got.numel() << " elements differ in bits" << first);
  CHECK(differ == 0);
}

// The inputs of one dtype's cases: x and y hold every pair of its edge values
// (x[i*n + j] = e[i], y[i*n + j] = e[j]), then a b8 condition, then ones of each dtype.
enum In { kX, kY, kCond, kOnes };
Tensor one(const std::vector<Tensor>& in, DType t) { return in[kOnes + static_cast<int>(t)]; }

template <class T>
std::vector<Tensor> pairs(const std::vector<T>& e) {
  std::vector<T> x, y;
  std::vector<bool> c;
  for (T a : e)
    for (T b : e) x.push_back(a), y.push_back(b), c.push_back(x.size() % 3 == 1);
  Shape s{static_cast<int64_t>(x.size())};
  return {from_vector(x, s), from_vector(y, s),         from_vector(c, s),     ones(s, DType::b8),
          ones(s, DType::i32), ones(s, DType::i64), ones(s, DType::f32), ones(s, DType::f64)};
}
std::vector<Tensor> edge_inputs(DType t) {
  const double f[] = {0., -0., 1., -1., 0.5, -0.7, 2.5, 7., 1e-40, -1e-310, 2147483520., 2147483648., -2147483904.,
                      3e9, -3e9, 9223372036854774784., -9223372036854775808., 9.3e18, -9.3e18, 1e30, -1e30, 1e300,
                      HUGE_VAL, -HUGE_VAL, NAN, -NAN};
  switch (t) {
    case DType::f32: return pairs(std::vector<float>(std::begin(f), std::end(f)));
    case DType::f64: return pairs(std::vector<double>(std::begin(f), std::end(f)));
    case DType::i32:
      return pairs(std::vector<int32_t>{0, 1, -1, 2, -2, 3, 7, -7, 46341, -65536, INT_MAX, INT_MIN, INT_MIN + 1});
    case DType::i64:
      return pairs(std::vector<int64_t>{0, 1, -1, 2, -2, 3, 7, -7, 3037000500, -(int64_t{1} << 40), INT64_MAX,
                                        INT64_MIN, INT64_MIN + 1});
    case DType::b8: return pairs(std::vector<bool>{false, true});
  }
  return {};
}

// An op, then a second one that keeps every bit (times a ones input; and-ed
// with trues for b8), so the two fuse and nothing folds away.
using Op = std::function<Tensor(const std::vector<Tensor>&)>;
struct Case {
  std::string name;
  Op op;
  bool nan_bits = true;  // false: NaN results need only be NaN (see the last test case)
};
Tensor chain(const Case& k, const std::vector<Tensor>& in) {
  Tensor r = k.op(in);
  return r.dtype() == DType::b8 ? logical_and(r, one(in, DType::b8)) : r * one(in, r.dtype());
}

// Every case traced into one function (sibling chains share a fusion) and run eagerly: equal bits.
void traced_vs_eager(const std::string& what, const std::vector<Case>& cases, const std::vector<Tensor>& in,
                     bool compiled = true) {
  auto f = function([&cases](std::vector<Tensor> a) {
    std::vector<Tensor> out;
    for (const Case& k : cases) out.push_back(chain(k, a));
    return out;
  });
  const int64_t before = lookups();
  std::vector<Tensor> traced = f(in);
  if (compiled && !jit_off()) CHECK(lookups() > before);
  REQUIRE(traced.size() == cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO(what << ": " << cases[i].name);
    require_same_bits(traced[i], chain(cases[i], in), {&in[kX], &in[kY]}, cases[i].nan_bits);
  }
}

}  // namespace

// ---- 1. accuracy of the f32 polynomials ------------------------------------------------

TEST_CASE("codegen: poly exp and log are within 2 ulp of libm, tanh within 3", "[codegen]") {
  accuracy("exp", exp_inputs(), poly::exp, [](double x) { return std::exp(x); }, 2);
  accuracy("log", log_inputs(), poly::log, [](double x) { return std::log(x); }, 2);  // subnormal inputs included
  accuracy("tanh", tanh_inputs(), poly::tanh, [](double x) { return std::tanh(x); }, 3);
}

TEST_CASE("codegen: sigmoid through poly exp is within 3 ulp of libm above -88.7", "[codegen]") {
  auto ref = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  accuracy("sigmoid", sigmoid_inputs(), scalar_math::sigmoid<float>, ref, 3);
  // Below -88.72, exp(-x) overflows and sigmoid is 0, where the reference is a
  // subnormal (up to 2.9e-39): only an absolute error under FLT_MIN holds there.
  std::vector<float> low;
  linear(low, -110.0, -88.7, 20000);
  float worst = 0;
  for (float x : low) worst = std::max(worst, std::fabs(scalar_math::sigmoid(x) - static_cast<float>(ref(x))));
  WARN("sigmoid below -88.7: max absolute error " << worst);
  CHECK(worst < FLT_MIN);
}

TEST_CASE("codegen: the polynomials' special values", "[codegen]") {
  using F = float (*)(float);
  F exp = poly::exp, log = poly::log, tanh = poly::tanh, sigmoid = scalar_math::sigmoid<float>;
  const struct {
    const char* name;
    F f;
    float x, want;  // compared by bits, NaN by isnan
  } cases[] = {{"exp", exp, kNaN, kNaN},         {"exp", exp, kInf, kInf},        {"exp", exp, -kInf, 0.f},
               {"exp", exp, 0.f, 1.f},           {"exp", exp, -0.f, 1.f},         {"exp", exp, 88.8f, kInf},
               {"exp", exp, -104.f, 0.f},        {"log", log, kNaN, kNaN},        {"log", log, 0.f, -kInf},
               {"log", log, -0.f, -kInf},        {"log", log, -1.f, kNaN},        {"log", log, -kInf, kNaN},
               {"log", log, kInf, kInf},         {"log", log, 1.f, 0.f},          {"tanh", tanh, kInf, 1.f},
               {"tanh", tanh, -kInf, -1.f},      {"tanh", tanh, kNaN, kNaN},      {"tanh", tanh, 0.f, 0.f},
               {"tanh", tanh, -0.f, -0.f},       {"tanh", tanh, FLT_TRUE_MIN, FLT_TRUE_MIN},
               {"sigmoid", sigmoid, kInf, 1.f},  {"sigmoid", sigmoid, -kInf, 0.f}, {"sigmoid", sigmoid, kNaN, kNaN},
               {"sigmoid", sigmoid, 0.f, 0.5f}};
  for (const auto& c : cases) {
    float got = c.f(rt(c.x));
    INFO(c.name << "(" << c.x << ") = " << got << ", bits " << bits(got) << ", want " << c.want);
    CHECK((std::isnan(c.want) ? std::isnan(got) : bits(got) == bits(c.want)));
  }
}

// ---- 2. the same functions compiled ----------------------------------------------------

TEST_CASE("codegen: compiled exp, log, tanh and sigmoid equal eager bit for bit on the sweeps", "[codegen]") {
  std::vector<float> v;
  for (auto* make : {exp_inputs, log_inputs, tanh_inputs, sigmoid_inputs}) {
    std::vector<float> part = make();
    v.insert(v.end(), part.begin(), part.end());
  }
  Tensor x = from_vector(v, {static_cast<int64_t>(v.size())});
  auto f = function([](Tensor a) { return std::vector<Tensor>{exp(a), log(a), tanh(a), sigmoid(a)}; });
  std::vector<Tensor> got = f(x);
  REQUIRE(got.size() == 4);
  const char* names[] = {"exp", "log", "tanh", "sigmoid"};
  Tensor eager[] = {exp(x), log(x), tanh(x), sigmoid(x)};
  for (int k = 0; k < 4; ++k) {
    INFO(names[k]);
    require_same_bits(got[k], eager[k], {&x}, k != 3);  // sigmoid: NaN bits aside (see the NaN test case)
  }
  // The eager kernels are the polynomials.
  std::vector<float> e = duet_test::f32s(got[0]), l = duet_test::f32s(got[1]);
  for (size_t i = 0; i < v.size(); i += 97) {
    INFO("x = " << v[i]);
    CHECK(bits(e[i]) == bits(poly::exp(v[i])));
    CHECK(bits(l[i]) == bits(poly::log(v[i])));
  }
  if (!jit_off()) {
    std::string lowered = f.get_concrete_function(x).ir(Stage::lowered);
    CHECK(contains(lowered, "step 0: fusion (compiled kernel)"));  // all four in one kernel
    CHECK_FALSE(contains(lowered, "step 1:"));
  }
}

// ---- 3. every elementwise op and dtype, traced against eager -------------------------

TEST_CASE("codegen: every elementwise op in a fused chain equals eager bit for bit on edge cases", "[codegen]") {
  const DType all[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};
  for (DType t : all) {
    const bool fp = is_floating(t), numeric = t != DType::b8;
    std::vector<Case> cases;
    auto unary = [&](const char* name, Tensor (*f)(const Tensor&, Loc), bool nan_bits = true) {
      cases.push_back({name, [f](const std::vector<Tensor>& in) { return f(in[kX], Loc::current()); }, nan_bits});
    };
    auto binary = [&](const char* name, Tensor (*f)(const Operand&, const Operand&), bool nan_bits = true) {
      cases.push_back({name, [f](const std::vector<Tensor>& in) { return f(in[kX], in[kY]); }, nan_bits});
    };
    if (numeric) {
      unary("neg", neg), unary("abs", abs), unary("square", square), unary("relu", relu);
      binary("add", add, false), binary("sub", sub), binary("mul", mul, false);  // add, mul: NaN bits aside
      binary("div", div), binary("mod", mod);
      binary("maximum", maximum), binary("minimum", minimum);
    }
    if (fp) {
      unary("exp", exp), unary("log", log), unary("sqrt", sqrt), unary("rsqrt", rsqrt), unary("tanh", tanh);
      unary("sigmoid", sigmoid, false), unary("gelu", gelu), unary("erf", erf);  // sigmoid: NaN bits aside
      binary("pow", pow);
    }
    if (!numeric) {
      unary("logical_not", logical_not);
      binary("logical_and", logical_and), binary("logical_or", logical_or);
    }
    binary("less", less), binary("less_equal", less_equal), binary("greater", greater);
    binary("greater_equal", greater_equal), binary("equal", equal), binary("not_equal", not_equal);
    cases.push_back({"where", [](const std::vector<Tensor>& in) { return where(in[kCond], in[kX], in[kY]); }});
    for (DType to : all)
      if (to != t)
        cases.push_back({std::string("cast to ") + dtype_name(to),
                         [to](const std::vector<Tensor>& in) { return cast(in[kX], to); }});
    traced_vs_eager(dtype_name(t), cases, edge_inputs(t));
  }
  // Integer pow has no compiled form (a loop): its fusion steps through the eager kernels.
  for (DType t : {DType::i32, DType::i64}) {
    std::vector<Case> cases{{"pow", [](const std::vector<Tensor>& in) { return pow(in[kX], in[kY]); }}};
    traced_vs_eager(dtype_name(t), cases, edge_inputs(t), false);
  }
}

TEST_CASE("codegen: a fused chain is listed as a compiled kernel", "[codegen]") {
  if (jit_off()) return;
  auto f = function([](Tensor x, Tensor y) { return maximum(x / y, y) * x; });
  std::vector<Tensor> in = edge_inputs(DType::i32);
  require_same_bits(f(in[kX], in[kY]), maximum(in[kX] / in[kY], in[kY]) * in[kX]);
  std::string lowered = f.get_concrete_function(in[kX], in[kY]).ir(Stage::lowered);
  CHECK(contains(lowered, "fusion (compiled kernel)"));
  CHECK_FALSE(contains(lowered, "stepped through"));
}

// ---- 4. shapes: sizes, broadcasting, dynamic dims, in place ----------------------------

namespace {

// One body for every shape, so the kernels differ only in which inputs are broadcast scalars.
Tensor shape_body(const Tensor& a, const Tensor& b) { return tanh(a * b) + exp(b * 0.5f) * 1.5f - sigmoid(a); }

void shapes_agree(const Shape& sa, const Shape& sb) {
  INFO(sa.str() << " with " << sb.str());
  Tensor a = randn(sa, 1) * 4.f, b = randn(sb, 2) * 4.f;
  auto f = function([](Tensor x, Tensor y) { return shape_body(x, y); });
  const int64_t before = lookups();
  require_same_bits(f(a, b), shape_body(a, b));
  require_same_bits(f(b, a), shape_body(b, a));  // each side broadcast in turn
  if (!jit_off()) CHECK(lookups() > before);
}

}  // namespace

TEST_CASE("codegen: compiled fusions equal eager on every size, split across threads", "[codegen]") {
  for (int64_t n : {0, 1, 7, 1023, 4099, 1 << 20}) shapes_agree({n}, {n});
  shapes_agree({1 << 10, 1 << 10}, {1 << 10, 1 << 10});
}

TEST_CASE("codegen: compiled fusions broadcast as eager does", "[codegen]") {
  shapes_agree({3, 7}, {7});                 // [N] with [M,N]
  shapes_agree({256, 4099}, {4099});
  shapes_agree({7, 1}, {1, 5});              // [M,1] with [1,N]
  shapes_agree({1024, 1}, {1, 1024});
  shapes_agree({4099, 1}, {1, 3});
  shapes_agree({4099}, {1});                 // a param of shape [1]
  shapes_agree({33, 1023}, {1});
  shapes_agree({5, 7}, {});                  // a rank-0 param
  shapes_agree({3, 1, 5}, {1, 4, 1});        // [M,1,K] with [1,N,1]
  shapes_agree({64, 1, 128}, {1, 128, 1});   // the same, 2^20 elements
  shapes_agree({2, 1, 3, 1}, {1, 5, 1, 7});
}

TEST_CASE("codegen: one trace with a dynamic batch serves batch 1, 7 and 3", "[codegen]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 33}), TensorSpec({33})};
  auto f = function([](Tensor x, Tensor b) { return shape_body(x, b); }, o);
  Tensor b = randn({33}, 3);
  for (int64_t batch : {1, 7, 3, 1000}) {
    INFO("batch " << batch);
    Tensor x = randn({batch, 33}, static_cast<uint64_t>(batch));
    require_same_bits(f(x, b), shape_body(x, b));
  }
  CHECK(f.trace_count() == 1);
  CHECK(contains(f.get_concrete_function(randn({2, 33}), b).ir(Stage::traced), "f32[?,33]"));
}

TEST_CASE("codegen: a variable updated in place equals the eager update", "[codegen]") {
  for (int64_t n : {7, 4099, 1 << 20}) {
    INFO("size " << n);
    Variable w(randn({n}, 5), "w");
    auto step = function([w](Tensor g) { w.assign(w.value() * 0.5f + g); });
    Tensor want = w.value();  // shares w's first buffer: the first call cannot donate it
    const void* buffer = nullptr;
    for (int i = 0; i < 4; ++i) {
      Tensor g = randn({n}, static_cast<uint64_t>(10 + i));
      step(g);
      want = want * 0.5f + g;
      require_same_bits(w.value(), want);
      if (i == 0) buffer = w.value().data_ptr();
    }
    CHECK(w.value().data_ptr() == buffer);  // later calls wrote into w's buffer
    CHECK(contains(step.get_concrete_function(randn({n})).ir(Stage::optimized), "plan.donate"));
  }
}

// ---- 5. the kernel cache -----------------------------------------------------------------

TEST_CASE("codegen: the same body on new shapes reuses the compiled kernel", "[codegen]") {
  if (jit_off()) return;
  auto body = [](Tensor a, Tensor b) { return relu(a - b) * b + a; };
  auto f = function(body), g = function(body);
  f(randn({8, 16}, 1), randn({8, 16}, 2));  // compiles, or loads from the disk cache
  const jit::Stats s0 = jit::stats();
  auto nothing_built = [&](const jit::Stats& s) { return s.compiled == s0.compiled && s.disk_hits == s0.disk_hits; };
  f(randn({8, 16}, 3), randn({8, 16}, 4));  // the same trace and plan
  jit::Stats s1 = jit::stats();
  CHECK(nothing_built(s1));
  Tensor a = randn({3, 5}, 5), b = randn({3, 5}, 6);
  require_same_bits(g(a, b), body(a, b));  // another function, other shapes: the same kernel from memory
  jit::Stats s2 = jit::stats();
  CHECK(nothing_built(s2));
  CHECK(s2.memory_hits > s1.memory_hits);
  f(randn({4099}, 7), randn({4099}, 8));  // a retrace of f
  CHECK(f.trace_count() == 2);
  CHECK(nothing_built(jit::stats()));
  CHECK(jit::stats().memory_hits > s2.memory_hits);
}

// ---- NaN payloads and signed zeros ------------------------------------------------------

// Which NaN a result carries is not specified (docs/semantics.md): the eager
// kernels (GCC) and the JIT (LLVM) may pick a different one when both
// operands of add/mul are NaN, and sigmoid(NaN)'s sign may differ (GCC folds
// 1 + -NaN into 1 - NaN). The results are NaN on both sides. Signed zeros
// are specified: canonicalize keeps neg(neg(x)) for floats, since neg is
// 0 - x and neg(neg(-0.0)) is +0.0.
TEST_CASE("codegen: NaN in gives NaN out on both paths, and neg(neg(-0)) is +0 on both", "[codegen]") {
  Tensor x = from_vector(std::vector<float>{kNaN, -kNaN, 1.f}, {3});
  Tensor y = from_vector(std::vector<float>{-kNaN, kNaN, kNaN}, {3});
  auto f = function([](Tensor a, Tensor b) { return std::vector<Tensor>{(a + b) * 2.f, a * b * 2.f, sigmoid(a) * 2.f}; });
  std::vector<Tensor> got = f(x, y);
  for (const Tensor& t : got) {
    std::vector<float> v = t.to_vector<float>();
    CHECK(std::isnan(v[0]));
    CHECK(std::isnan(v[1]));
  }
  CHECK(std::isnan(got[0].to_vector<float>()[2]));
  CHECK(got[2].to_vector<float>()[2] == sigmoid(x).to_vector<float>()[2] * 2.f);
  Tensor z = from_vector(std::vector<float>{-0.f, 0.f}, {2});
  require_same_bits(function([](Tensor a) { return neg(neg(a)); })(z), neg(neg(z)), {&z});
}

TEST_CASE("codegen: poly erf is within 3 ulp of libm, and compiled gelu equals eager", "[codegen]") {
  double worst = 0, at = 0;
  std::vector<float> xs;
  for (float x = -6.0f; x < 6.0f; x += 1.0e-4f) xs.push_back(x);
  for (float x : xs) {
    const double ref = std::erf(static_cast<double>(x));
    const float nearest = static_cast<float>(ref);
    const double ulp = std::fabs(double(std::nextafter(nearest, INFINITY)) - double(nearest));
    const double err = std::fabs(double(scalar_math::poly::erf(x)) - ref) / ulp;
    if (err > worst) worst = err, at = x;
  }
  INFO("worst " << worst << " ulp at x = " << at);
  CHECK(worst <= 3.0);
  CHECK(std::isnan(scalar_math::poly::erf(kNaN)));
  CHECK(scalar_math::poly::erf(INFINITY) == 1.0f);
  CHECK(scalar_math::poly::erf(-INFINITY) == -1.0f);
  CHECK(std::signbit(scalar_math::poly::erf(-0.0f)));
  Tensor x = from_vector(xs, {static_cast<int64_t>(xs.size())});
  auto f = function([](Tensor a) { return gelu(a) * 2.f + erf(a); });
  require_same_bits(f(x), gelu(x) * 2.f + erf(x), {&x});
}

// ---- 6. softmax and log_softmax as compiled row kernels ----------------------------------

namespace {

// Rows of random values (x4) with, per row r of the first rows: a NaN, +inf,
// all -inf, -inf mixed in, huge values, +0 and -0 maxima.
Tensor softmax_input(int64_t rows, int64_t n, uint64_t seed) {
  std::vector<float> v = (randn({rows, n}, seed) * 4.f).to_vector<float>();
  auto at = [&](int64_t r, int64_t j) -> float& { return v[static_cast<size_t>(r * n + j)]; };
  if (rows > 6) {
    at(0, n / 2) = kNaN;
    at(1, n - 1) = kInf;
    for (int64_t j = 0; j < n; ++j) at(2, j) = -kInf;
    for (int64_t j = 0; j < n; j += 2) at(3, j) = -kInf;
    for (int64_t j = 0; j < n; ++j) at(4, j) = j % 3 ? 3e38f : -3e38f;
    for (int64_t j = 0; j < n; ++j) at(5, j) = j % 2 ? -0.f : 0.f;
  }
  return from_vector(v, {rows, n});
}

}  // namespace

TEST_CASE("codegen: compiled softmax and log_softmax equal eager bit for bit", "[codegen][softmax]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, -1})};  // one trace serves every size below
  auto f = function([](Tensor x) { return std::vector<Tensor>{softmax(x), log_softmax(x, -1)}; }, o);
  for (int64_t n : {1, 2, 7, 15, 16, 17, 31, 33, 255, 256, 1023, 1024, 4099}) {
    for (int64_t rows : {int64_t{1}, int64_t{9}, int64_t{300}}) {
      INFO("rows " << rows << ", row length " << n);
      Tensor x = softmax_input(rows, n, static_cast<uint64_t>(n * 1000 + rows));
      std::vector<Tensor> got = f(x);
      require_same_bits(got[0], softmax(x), {&x});
      require_same_bits(got[1], log_softmax(x), {&x});
    }
  }
  // Against a reference in f64 too, so both paths are right and not merely equal.
  Tensor x = randn({64, 1000}, 9) * 4.f;
  std::vector<double> xs = x.to_vector<double>(), got = f(x)[0].to_vector<double>();
  for (int64_t r = 0; r < 64; ++r) {
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < 1000; ++j) mx = std::max(mx, xs[static_cast<size_t>(r * 1000 + j)]);
    for (int64_t j = 0; j < 1000; ++j) sum += std::exp(xs[static_cast<size_t>(r * 1000 + j)] - mx);
    for (int64_t j = 0; j < 1000; j += 37) {
      double want = std::exp(xs[static_cast<size_t>(r * 1000 + j)] - mx) / sum;
      REQUIRE(got[static_cast<size_t>(r * 1000 + j)] == Approx(want).epsilon(1e-5));
    }
  }
}

TEST_CASE("codegen: softmax is a compiled row kernel only over the innermost f32 axis", "[codegen][softmax]") {
  if (jit_off()) return;
  auto last = function([](Tensor x) { return softmax(x, -1); });
  auto first = function([](Tensor x) { return softmax(x, 0); });
  Tensor x = randn({3, 5, 40}, 4);
  require_same_bits(last(x), softmax(x, -1));
  require_same_bits(first(x), softmax(x, 0));
  CHECK(contains(last.get_concrete_function(x).ir(Stage::lowered), "compiled row kernel softmax"));
  CHECK_FALSE(contains(first.get_concrete_function(x).ir(Stage::lowered), "compiled row kernel"));
  Tensor d = randn({3, 40}, 5, DType::f64);
  require_same_bits(last(d), softmax(d, -1));
  CHECK_FALSE(contains(last.get_concrete_function(d).ir(Stage::lowered), "compiled row kernel"));
}

TEST_CASE("codegen: one compiled softmax serves every batch of a dynamic signature", "[codegen][softmax]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 130})};
  auto f = function([](Tensor x) { return log_softmax(x * 2.f, -1); }, o);
  for (int64_t batch : {1, 7, 1000, 0}) {
    INFO("batch " << batch);
    Tensor x = randn({batch, 130}, static_cast<uint64_t>(batch + 1));
    require_same_bits(f(x), log_softmax(x * 2.f, -1));
  }
  CHECK(f.trace_count() == 1);
}
