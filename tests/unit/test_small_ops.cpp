// The small ops transformer code reaches for (issue 21): gelu's tanh form,
// log1p, softplus, sign, clip, var, stack, tril/triu and randint; values
// against double references on random inputs, eager against traced, the
// gradients the generic gradcheck does not reach, and the errors.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::contains;
using duet_test::message_of;

namespace {

// |got - want| <= atol + rtol |want| for every element.
template <class T>
void check_close(const std::vector<T>& got, const std::vector<double>& want, double rtol, double atol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    CHECK(std::fabs(double(got[i]) - want[i]) <= atol + rtol * std::fabs(want[i]));
  }
}

template <class T, class F>
std::vector<double> map_ref(const std::vector<T>& xs, F f) {
  std::vector<double> out;
  for (T x : xs) out.push_back(f(double(x)));
  return out;
}

double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

// Bit patterns, so that -0 compares as itself; every NaN as one pattern (a
// NaN's payload is the hardware's choice).
std::vector<uint32_t> bits(const Tensor& t) {
  std::vector<uint32_t> out;
  for (float f : t.to_vector<float>()) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    out.push_back(f != f ? 0x7fc00000u : b);
  }
  return out;
}

FunctionOptions signature(std::vector<TensorSpec> specs) {
  FunctionOptions o;
  o.input_signature = std::move(specs);
  return o;
}

}  // namespace

TEMPLATE_TEST_CASE("gelu tanh form, log1p, softplus and sign match double references", "[small_ops]", float,
                   double) {
  using T = TestType;
  const DType dt = dtype_of<T>::value;
  const double rtol = std::is_same_v<T, float> ? 4e-6 : 1e-13, atol = std::is_same_v<T, float> ? 1e-7 : 1e-15;
  Tensor x = randn({7, 19}, 41, dt) * 3;
  std::vector<T> xs = x.to_vector<T>();
  check_close(gelu(x, "tanh").to_vector<T>(), map_ref(xs, gelu_tanh_ref), rtol, atol);
  check_close(softplus(x).to_vector<T>(), map_ref(xs, [](double v) { return std::log1p(std::exp(v)); }), rtol, atol);
  check_close(sign(x).to_vector<T>(), map_ref(xs, [](double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }), 0, 0);
  // log1p over (-1, 7], and near 0, where log(1 + x) loses every digit.
  Tensor p = rand({7, 19}, 42, dt) * 8 - 0.999;
  std::vector<T> ps = p.to_vector<T>();
  check_close(log1p(p).to_vector<T>(), map_ref(ps, [](double v) { return std::log1p(v); }), rtol, atol);
  Tensor tiny = randn({50}, 43, dt) * 1e-6;
  std::vector<T> ts = tiny.to_vector<T>();
  check_close(log1p(tiny).to_vector<T>(), map_ref(ts, [](double v) { return std::log1p(v); }), rtol, 0);
  // softplus far out: no overflow, and no loss to 0 while e^x is a normal number.
  std::vector<T> far{T(-80), T(-30), T(30), T(100)};  // e^-80 is still a normal f32
  Tensor farv = from_vector(far, {4});
  check_close(softplus(farv).to_vector<T>(),
              map_ref(far, [](double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }),
              rtol, 0);
}

TEST_CASE("log1p, softplus and sign at their edges", "[small_ops]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = tensor({-1.f, 0.f, -0.f, inf, -inf, nan, -2.f});
  std::vector<float> l = log1p(x).to_vector<float>();
  CHECK(l[0] == -inf);
  CHECK(l[1] == 0.f);
  CHECK(std::signbit(l[2]));  // log1p(-0) = -0
  CHECK(l[3] == inf);
  CHECK(std::isnan(l[4]));
  CHECK(std::isnan(l[5]));
  CHECK(std::isnan(l[6]));
  std::vector<float> s = softplus(x).to_vector<float>();
  CHECK(s[3] == inf);
  CHECK(s[4] == 0.f);
  CHECK(std::isnan(s[5]));
  std::vector<float> g = sign(x).to_vector<float>();
  CHECK(g[0] == -1.f);
  CHECK((g[1] == 0.f && !std::signbit(g[1])));
  CHECK((g[2] == 0.f && std::signbit(g[2])));
  CHECK(g[3] == 1.f);
  CHECK(g[4] == -1.f);
  CHECK(std::isnan(g[5]));
  CHECK(sign(tensor({-7, 0, 3})).to_vector<int32_t>() == std::vector<int32_t>{-1, 0, 1});
  CHECK(sign(tensor({int64_t{-5}, int64_t{9}})).to_vector<int64_t>() == std::vector<int64_t>{-1, 1});
}

TEST_CASE("the new elementwise ops give the same bits traced (compiled) as eager", "[small_ops]") {
  Tensor x = randn({64, 33}, 44) * 4;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor edges = broadcast_to(tensor({-1.f, 0.f, -0.f, inf, -inf, nan, 1e-7f, -3e-8f, 88.f, -104.f, 1e30f}), {3, 11});
  const std::map<std::string, Tensor (*)(const Tensor&)> ops = {
      {"gelu_tanh", [](const Tensor& a) { return gelu(a, "tanh"); }},
      {"log1p", [](const Tensor& a) { return log1p(a); }},
      {"softplus", [](const Tensor& a) { return softplus(a); }},
      {"sign", [](const Tensor& a) { return sign(a); }},
      {"a chain", [](const Tensor& a) { return softplus(a) * sign(a) + log1p(abs(a)) - gelu(a, "tanh"); }}};
  for (const auto& [name, op] : ops) {
    INFO(name);
    auto f = function([op](const Tensor& a) { return op(a); });
    CHECK(bits(f(x)) == bits(op(x)));
    CHECK(bits(f(edges)) == bits(op(edges)));
    if (name == "a chain" && !duet_test::jit_off())
      CHECK(contains(f.get_concrete_function(x).ir(Stage::lowered), "fusion (compiled kernel)"));
  }
  // f64 goes through libm in both modes.
  Tensor d = randn({9, 5}, 45, DType::f64);
  auto f = function([](const Tensor& a) { return softplus(a) + log1p(abs(a)) * gelu(a, "tanh"); });
  CHECK(f(d).to_vector<double>() == (softplus(d) + log1p(abs(d)) * gelu(d, "tanh")).to_vector<double>());
}

TEST_CASE("gelu's approximate must be none or tanh", "[small_ops]") {
  std::string msg = message_of<Error>([] { gelu(tensor({1.f}), "erf"); });
  CHECK(contains(msg, "gelu"));
  CHECK(contains(msg, "\"erf\""));
  CHECK(contains(msg, "\"none\" or \"tanh\""));
  CHECK(contains(msg, "test_small_ops.cpp"));
  CHECK(gelu(tensor({1.5f}), "none").to_vector<float>() == gelu(tensor({1.5f})).to_vector<float>());
  msg = message_of<Error>([] { log1p(tensor({1, 2})); });
  CHECK(contains(msg, "log1p"));
  CHECK(contains(msg, "i32"));
  CHECK(contains(msg, "test_small_ops.cpp"));
}

TEST_CASE("clip bounds values and passes the gradient only inside", "[small_ops]") {
  Tensor x = tensor({-3.0, -1.0, 0.25, 1.0, 2.5}, DType::f64);
  CHECK(clip(x, -1.0, 1.0).to_vector<double>() == std::vector<double>{-1, -1, 0.25, 1, 1});
  Tensor lo = tensor({-5.0, 0.0, 0.0, 2.0, 0.0}, DType::f64);
  CHECK(clip(x, lo, 2.0).to_vector<double>() == std::vector<double>{-3, 0, 0.25, 2, 2});
  CHECK(clip(x, -1.0, 1.0).dtype() == DType::f64);  // scalar bounds are weak
  GradientTape tape;
  tape.watch(x);
  Tensor y = sum(clip(x, -1.5, 2.0) * tensor({1.0, 2.0, 3.0, 4.0, 5.0}, DType::f64));
  CHECK(tape.gradient(y, x).to_vector<double>() == std::vector<double>{0, 2, 3, 4, 0});
  auto f = function([](const Tensor& a) { return clip(a, -0.5f, 0.5f); });
  Tensor r = randn({40}, 46);
  CHECK(f(r).to_vector<float>() == clip(r, -0.5f, 0.5f).to_vector<float>());
  std::string msg = message_of<Error>([] { clip(tensor({1.f, 2.f}), tensor({0.f, 0.f, 0.f}), 1.f); });
  CHECK(contains(msg, "test_small_ops.cpp"));
}

TEST_CASE("var matches the two-pass reference, with correction, over axes", "[small_ops]") {
  Tensor x = randn({4, 6, 5}, 47, DType::f64) * 2 + 1;
  std::vector<double> xs = x.to_vector<double>();
  // Over axis 1 of [4,6,5]: 20 groups of 6.
  auto ref = [&](int correction) {
    std::vector<double> out;
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 5; ++k) {
        double m = 0, s = 0;
        for (int j = 0; j < 6; ++j) m += xs[(i * 6 + j) * 5 + k] / 6;
        for (int j = 0; j < 6; ++j) s += (xs[(i * 6 + j) * 5 + k] - m) * (xs[(i * 6 + j) * 5 + k] - m);
        out.push_back(s / (6 - correction));
      }
    return out;
  };
  check_close(var(x, {1}).to_vector<double>(), ref(0), 1e-13, 1e-15);
  check_close(var(x, {1}, false, 1).to_vector<double>(), ref(1), 1e-13, 1e-15);
  CHECK(var(x, {1}, true).shape() == Shape{4, 1, 5});
  CHECK(var(x).shape() == Shape{});
  double m = 0, s = 0;
  for (double v : xs) m += v / double(xs.size());
  for (double v : xs) s += (v - m) * (v - m);
  check_close(var(x, {}, false, 1).to_vector<double>(), {s / double(xs.size() - 1)}, 1e-12, 0);
  // Traced, with a dynamic batch dim: correction 0 needs no static size.
  auto f = function([](const Tensor& a) { return var(a, {-1}); }, signature({TensorSpec({-1, 5}, DType::f64)}));
  Tensor y = randn({3, 5}, 48, DType::f64);
  check_close(f(y).to_vector<double>(), var(y, {-1}).to_vector<double>(), 1e-14, 1e-15);
  // d var / dx = 2 (x - mean) / (n - correction).
  GradientTape tape;
  Tensor v = randn({8}, 49, DType::f64);
  tape.watch(v);
  Tensor g = tape.gradient(var(v, {}, false, 1), v);
  std::vector<double> vs = v.to_vector<double>();
  double mv = 0;
  for (double e : vs) mv += e / 8;
  check_close(g.to_vector<double>(), map_ref(vs, [&](double e) { return 2 * (e - mv) / 7; }), 1e-13, 1e-15);
}

TEST_CASE("var refuses integers, a negative correction and a dynamic dim it must count", "[small_ops]") {
  std::string msg = message_of<DTypeError>([] { var(tensor({1, 2, 3})); });
  CHECK(contains(msg, "var"));
  CHECK(contains(msg, "i32[3]"));
  CHECK(contains(msg, "test_small_ops.cpp"));
  msg = message_of<Error>([] { var(tensor({1.f, 2.f}), {}, false, -1); });
  CHECK(contains(msg, "correction must be >= 0, got -1"));
  auto f = function([](const Tensor& a) { return var(a, {0}, false, 1); }, signature({TensorSpec({-1, 3})}));
  msg = message_of<ShapeError>([&] { f(randn({4, 3}, 50)); });
  CHECK(contains(msg, "var"));
  CHECK(contains(msg, "dynamic"));
  CHECK(contains(msg, "test_small_ops.cpp"));
}

TEST_CASE("stack joins tensors along a new axis, and its gradient splits back", "[small_ops]") {
  Tensor a = randn({2, 3}, 51), b = randn({2, 3}, 52), c = randn({2, 3}, 53);
  std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(), cv = c.to_vector<float>();
  Tensor s0 = stack({a, b, c});
  CHECK(s0.shape() == Shape{3, 2, 3});
  std::vector<float> want = av;
  want.insert(want.end(), bv.begin(), bv.end());
  want.insert(want.end(), cv.begin(), cv.end());
  CHECK(s0.to_vector<float>() == want);
  Tensor s2 = stack({a, b, c}, -1);
  CHECK(s2.shape() == Shape{2, 3, 3});
  std::vector<float> s2v = s2.to_vector<float>();
  for (int i = 0; i < 6; ++i) {
    CHECK(s2v[i * 3 + 0] == av[i]);
    CHECK(s2v[i * 3 + 1] == bv[i]);
    CHECK(s2v[i * 3 + 2] == cv[i]);
  }
  CHECK(stack({a, b}, 1).shape() == Shape{2, 2, 3});
  auto f = function([](const Tensor& x, const Tensor& y) { return stack({x, y}, 1); });
  CHECK(f(a, b).to_vector<float>() == stack({a, b}, 1).to_vector<float>());
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  Tensor w = randn({2, 2, 3}, 54);
  auto grads = tape.gradient(sum(stack({a, b}, 1) * w), {a, b});
  CHECK(grads[0].to_vector<float>() == squeeze(slice(w, 1, 0, 1), {1}).to_vector<float>());
  CHECK(grads[1].to_vector<float>() == squeeze(slice(w, 1, 1, 2), {1}).to_vector<float>());
}

TEST_CASE("stack names its bad arguments", "[small_ops]") {
  std::string msg = message_of<ShapeError>([] { stack({randn({2, 3}), randn({3, 2})}); });
  CHECK(contains(msg, "stack"));
  CHECK(contains(msg, "f32[2,3] (tensor 0) and f32[3,2] (tensor 1)"));
  CHECK(contains(msg, "test_small_ops.cpp"));
  msg = message_of<ShapeError>([] { stack({randn({2, 3}), randn({2, 3})}, 3); });
  CHECK(contains(msg, "axis 3 is out of range"));
  CHECK(contains(msg, "[-3, 2]"));
  msg = message_of<Error>([] { stack({}); });
  CHECK(contains(msg, "at least one tensor"));
}

TEST_CASE("tril and triu keep a triangle of the last two dims, batched, eager and traced", "[small_ops]") {
  Tensor x = randn({2, 3, 4}, 55);
  std::vector<float> xs = x.to_vector<float>();
  for (int64_t k : {-1, 0, 2}) {
    INFO("k " << k);
    std::vector<float> lo = tril(x, k).to_vector<float>(), up = triu(x, k).to_vector<float>();
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
          size_t e = static_cast<size_t>((b * 3 + i) * 4 + j);
          CHECK(lo[e] == (j - i <= k ? xs[e] : 0.f));
          CHECK(up[e] == (j - i >= k ? xs[e] : 0.f));
        }
  }
  auto f = function([](const Tensor& a) { return tril(a) + triu(a, 1) * 2.f; }, signature({TensorSpec({-1, 3, 4})}));
  CHECK(f(x).to_vector<float>() == (tril(x) + triu(x, 1) * 2.f).to_vector<float>());
  GradientTape tape;
  tape.watch(x);
  Tensor g = tape.gradient(sum(triu(x)), x);
  CHECK(g.to_vector<float>() == triu(ones({2, 3, 4})).to_vector<float>());
  std::string msg = message_of<ShapeError>([] { tril(tensor({1.f, 2.f})); });
  CHECK(contains(msg, "tril"));
  CHECK(contains(msg, "rank >= 2, got f32[2]"));
  CHECK(contains(msg, "test_small_ops.cpp"));
  auto dyn = function([](const Tensor& a) { return triu(a); }, signature({TensorSpec({3, -1})}));
  msg = message_of<ShapeError>([&] { dyn(randn({3, 3})); });
  CHECK(contains(msg, "triu"));
  CHECK(contains(msg, "must be static"));
}

TEST_CASE("randint draws uniform integers from low to high - 1, reproducibly", "[small_ops]") {
  Tensor r = randint(-3, 4, {7000}, 9);
  CHECK(r.dtype() == DType::i64);
  std::vector<int64_t> v = r.to_vector<int64_t>();
  std::map<int64_t, int> counts;
  for (int64_t e : v) ++counts[e];
  CHECK(counts.size() == 7);
  CHECK(counts.begin()->first == -3);
  CHECK(counts.rbegin()->first == 3);
  for (const auto& [value, n] : counts) {
    INFO("value " << value);
    CHECK(n > 850);  // 1000 expected each; 5 sigma is about 150
    CHECK(n < 1150);
  }
  CHECK(randint(-3, 4, {7000}, 9).to_vector<int64_t>() == v);
  CHECK(randint(-3, 4, {7000}, 10).to_vector<int64_t>() != v);
  Tensor w = randint(0, int64_t{1} << 40, {100}, 11, DType::i64);
  int64_t biggest = 0;
  for (int64_t e : w.to_vector<int64_t>()) biggest = std::max(biggest, e);
  CHECK(biggest > (int64_t{1} << 38));
  Tensor i = randint(5, 6, {3}, 0, DType::i32);
  CHECK(i.to_vector<int32_t>() == std::vector<int32_t>{5, 5, 5});
  std::string msg = message_of<DTypeError>([] { randint(0, 5, {3}, 0, DType::f32); });
  CHECK(contains(msg, "randint"));
  CHECK(contains(msg, "integer dtype"));
  CHECK(contains(msg, "test_small_ops.cpp"));
  msg = message_of<Error>([] { randint(4, 4, {3}); });
  CHECK(contains(msg, "low < high, got low=4, high=4"));
  msg = message_of<Error>([] { randint(0, int64_t{1} << 33, {3}, 0, DType::i32); });
  CHECK(contains(msg, "does not fit i32"));
}

TEST_CASE("the unary methods forward to their functions", "[small_ops]") {
  Tensor x = rand({3, 4}, 56) + 0.5f;
  CHECK(x.rsqrt().to_vector<float>() == rsqrt(x).to_vector<float>());
  CHECK(x.erf().to_vector<float>() == erf(x).to_vector<float>());
  CHECK(x.gelu().to_vector<float>() == gelu(x).to_vector<float>());
  CHECK(x.log1p().to_vector<float>() == log1p(x).to_vector<float>());
  CHECK(x.softplus().to_vector<float>() == softplus(x).to_vector<float>());
  CHECK((-x).sign().to_vector<float>() == sign(-x).to_vector<float>());
}

TEST_CASE("embedding picks table rows by id, and its gradient sums each row's", "[small_ops]") {
  Tensor table = randn({6, 4}, 57, DType::f64);
  std::vector<double> tv = table.to_vector<double>();
  Tensor ids = from_vector(std::vector<int64_t>{5, 0, 5, 2, 2, 2}, {2, 3});
  Tensor e = embedding(table, ids);
  REQUIRE(e.shape() == Shape{2, 3, 4});
  std::vector<double> ev = e.to_vector<double>();
  const int64_t want_rows[] = {5, 0, 5, 2, 2, 2};
  for (int k = 0; k < 6; ++k)
    for (int j = 0; j < 4; ++j) CHECK(ev[k * 4 + j] == tv[want_rows[k] * 4 + j]);
  CHECK(embedding(table, tensor({3, 1})).to_vector<double>() == gather(table, tensor({3, 1})).to_vector<double>());
  auto f = function([](const Tensor& t, const Tensor& i) { return embedding(t, i) * 2.0; });
  CHECK(f(table, ids).to_vector<double>() == (e * 2.0).to_vector<double>());
  CHECK(contains(f.get_concrete_function(table, ids).ir(Stage::traced), "embedding("));
  GradientTape tape;
  tape.watch(table);
  Tensor w = randn({2, 3, 4}, 58, DType::f64);
  std::vector<double> g = tape.gradient(sum(embedding(table, ids) * w), table).to_vector<double>();
  std::vector<double> wv = w.to_vector<double>(), want(24, 0.0);
  for (int k = 0; k < 6; ++k)
    for (int j = 0; j < 4; ++j) want[want_rows[k] * 4 + j] += wv[k * 4 + j];
  for (size_t i = 0; i < 24; ++i) CHECK(g[i] == Approx(want[i]).margin(1e-15));
}

TEST_CASE("embedding names a bad id, its position and the table, eager and traced", "[small_ops]") {
  Tensor table = randn({10, 3});
  std::string msg = message_of<IndexError>([&] { embedding(table, tensor({{1, 2}, {12, 0}})); });
  CHECK(contains(msg, "embedding"));
  CHECK(contains(msg, "id 12 at [1,0]"));
  CHECK(contains(msg, "[0, 10)"));
  CHECK(contains(msg, "f32[10,3]"));
  CHECK(contains(msg, "test_small_ops.cpp"));
  msg = message_of<IndexError>([&] { embedding(table, tensor({-1})); });
  CHECK(contains(msg, "id -1 at position 0"));
  auto f = function([](const Tensor& t, const Tensor& i) { return embedding(t, i); });
  msg = message_of<IndexError>([&] { f(table, tensor({3, 10})); });
  CHECK(contains(msg, "embedding"));
  CHECK(contains(msg, "id 10 at position 1"));
  CHECK(contains(msg, "test_small_ops.cpp"));
  msg = message_of<DTypeError>([&] { embedding(table, tensor({1.f})); });
  CHECK(contains(msg, "ids must be i32 or i64"));
  msg = message_of<ShapeError>([&] { embedding(randn({10}), tensor({1})); });
  CHECK(contains(msg, "rank 2"));
}

TEST_CASE("nn::Embedding and nn::LayerNorm train: an SGD step lowers the loss", "[small_ops]") {
  nn::Embedding emb(12, 8, 3);
  nn::LayerNorm norm(8);
  CHECK(emb.table().name() == "embedding/table");
  CHECK(norm.gamma().name() == "layer_norm/gamma");
  CHECK(norm.gamma().value().to_vector<float>() == std::vector<float>(8, 1.f));
  Tensor ids = tensor({1, 4, 4, 11, 0}), target = randn({5, 8}, 59);
  auto loss_of = [&] { return mean(square(norm(emb(ids)) * 1.5f - target)); };
  std::vector<Variable> vars = emb.trainable_variables();
  for (const Variable& v : norm.trainable_variables()) vars.push_back(v);
  REQUIRE(vars.size() == 3);
  float before = loss_of().item<float>();
  for (int step = 0; step < 5; ++step) {
    GradientTape tape;
    Tensor loss = loss_of();
    std::vector<Tensor> grads = tape.gradient(loss, vars);
    for (size_t k = 0; k < vars.size(); ++k) vars[k].assign_sub(grads[k] * 0.5f);
  }
  float after = loss_of().item<float>();
  CHECK(after < before * 0.9f);
  std::string msg = message_of<ShapeError>([] { nn::LayerNorm bad(0); });
  CHECK(contains(msg, "LayerNorm"));
}

TEST_CASE("sin and cos are libm's in f64, rounded once for f32, eager and traced alike", "[small_ops]") {
  Tensor x = randn({9, 13}, 60) * 20;
  std::vector<float> xs = x.to_vector<float>(), s = sin(x).to_vector<float>(), c = cos(x).to_vector<float>();
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK(s[i] == static_cast<float>(std::sin(double(xs[i]))));
    CHECK(c[i] == static_cast<float>(std::cos(double(xs[i]))));
  }
  auto f = function([](const Tensor& a) { return sin(a) * cos(a * 0.5f) + 1.f; });
  CHECK(bits(f(x)) == bits(sin(x) * cos(x * 0.5f) + 1.f));
  Tensor d = randn({20}, 61, DType::f64);
  CHECK(sin(d).to_vector<double>()[3] == std::sin(d.to_vector<double>()[3]));
}
