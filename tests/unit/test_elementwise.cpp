// Elementwise ops against std:: references on random inputs, per dtype; broadcasting corners; integer semantics.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

using namespace duet;

namespace {

template <class T> constexpr bool kFloat = std::is_floating_point_v<T>;
// References of floating results are computed in double, of the others in T.
template <class T> using Ref = std::conditional_t<kFloat<T>, double, T>;
using i128 = __int128;
using u128 = unsigned __int128;

// Two's-complement wraparound of a wide integer into T (C++20 modular conversion).
template <class T> T wrap(i128 v) { return static_cast<T>(static_cast<u128>(v)); }

enum class Kind { general, positive, small, divisor, base, exponent, wide_base, wide_exponent };

// n random values of T from a seed: floats come from randn/rand, integers and
// bools from a seeded engine. Never all zero.
template <class T>
std::vector<T> inputs(int64_t n, uint64_t seed, Kind kind = Kind::general) {
  std::vector<T> v;
  if constexpr (std::is_same_v<T, bool>) {
    std::mt19937_64 g(seed);
    for (int64_t i = 0; i < n; ++i) v.push_back((g() >> 7) & 1);
  } else if constexpr (kFloat<T>) {
    const DType dt = dtype_of<T>::value;
    auto uniform = [&](double lo, double hi) {
      for (T u : rand({n}, seed, dt).to_vector<T>()) v.push_back(T(lo + (hi - lo) * u));
    };
    auto normal = [&](double scale) {
      for (T x : randn({n}, seed, dt).to_vector<T>()) v.push_back(T(scale * x));
    };
    switch (kind) {
      case Kind::positive: uniform(0.05, 8.0); break;
      case Kind::base: uniform(0.1, 3.0); break;
      case Kind::exponent: normal(1.5); break;
      default: normal(2.0); break;
    }
  } else {
    std::mt19937_64 g(seed);
    int64_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
    switch (kind) {
      case Kind::positive: lo = 1, hi = 1000; break;
      case Kind::small: lo = -5, hi = 5; break;
      case Kind::divisor: lo = -9, hi = 9; break;
      case Kind::base: lo = -6, hi = 6; break;
      case Kind::exponent: lo = -3, hi = 10; break;
      case Kind::wide_base: lo = -100, hi = 100; break;
      case Kind::wide_exponent: lo = 0, hi = 40; break;
      default: break;
    }
    std::uniform_int_distribution<int64_t> d(lo, hi);
    for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<T>(d(g)));
  }
  REQUIRE(std::any_of(v.begin(), v.end(), [](T x) { return x != T(0); }));
  return v;
}

// "" when got matches want element by element (floats within a relative
// tolerance, NaN matching NaN; everything else exactly), else the first miss.
template <class T, class W>
std::string mismatch(const Tensor& got, const std::vector<W>& want) {
  std::vector<T> g = got.to_vector<T>();
  if (g.size() != want.size()) return fmt::format("{} elements, want {}", g.size(), want.size());
  const double rel = std::is_same_v<T, float> ? 1e-5 : 1e-12, abs = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  for (size_t i = 0; i < g.size(); ++i) {
    bool ok;
    if constexpr (kFloat<T>) {
      double x = g[i], w = want[i];
      ok = (std::isnan(x) && std::isnan(w)) || x == w || std::fabs(x - w) <= rel * std::fabs(w) + abs;
    } else {
      ok = g[i] == want[i];
    }
    if (!ok) return fmt::format("element {}: got {}, want {}", i, T(g[i]), W(want[i]));
  }
  return "";
}

template <class T, class W>
void check_result(const Tensor& r, const Shape& shape, const std::vector<W>& want) {
  CHECK(r.dtype() == dtype_of<T>::value);
  CHECK(r.shape() == shape);
  CHECK(mismatch<T>(r, want) == "");
}

template <class T, class F>
std::vector<Ref<T>> map1(const std::vector<T>& a, F f) {
  std::vector<Ref<T>> out;
  for (T x : a) out.push_back(f(x));
  return out;
}
template <class R, class T, class F>
std::vector<R> map2(const std::vector<T>& a, const std::vector<T>& b, F f) {
  std::vector<R> out;
  for (size_t i = 0; i < a.size(); ++i) out.push_back(f(a[i], b[i]));
  return out;
}

// Integer pow by the definition: a^b wrapped; a negative exponent is the
// truncated 1 / a^|b|, with 0 for a == 0 (division by zero gives 0).
template <class T> T ref_int_pow(T a, T b) {
  if (b < 0) return a == 1 ? T(1) : a == -1 ? T(b % 2 == 0 ? 1 : -1) : T(0);
  u128 r = 1;
  for (T e = 0; e < b; ++e) r *= static_cast<u128>(static_cast<i128>(a));
  return static_cast<T>(r);
}

// The saturating cast of the scalar semantics, from its definition.
template <class To, class From> To ref_cast(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_integral_v<To> && kFloat<From>) {
    if (std::isnan(v)) return 0;
    long double t = std::trunc(static_cast<long double>(v));
    if (t <= static_cast<long double>(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
    if (t >= static_cast<long double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(t);
  } else {
    return static_cast<To>(v);
  }
}

// True when two tensors have one dtype, one shape and the same elements.
bool same(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}

// Makes the kernels' thread team at least two wide for one scope.
struct AtLeastTwoThreads {
  int saved = num_threads();
  AtLeastTwoThreads() { set_num_threads(std::max(2, saved)); }
  ~AtLeastTwoThreads() { set_num_threads(saved); }
};

}  // namespace

TEMPLATE_TEST_CASE("elementwise: neg abs square relu match std", "[elementwise]", float, double, int32_t, int64_t) {
  using T = TestType;
  const Shape s{6, 7};
  auto xs = inputs<T>(42, 11);
  Tensor x = from_vector(xs, s);
  // Integers in a wide type, then wrapped; floats in double.
  auto ref = [](auto f) {
    return [f](T v) -> Ref<T> {
      if constexpr (kFloat<T>) return f(double(v));
      else return wrap<T>(f(i128(v)));
    };
  };
  check_result<T>(neg(x), s, map1(xs, ref([](auto v) { return -v; })));
  check_result<T>(abs(x), s, map1(xs, ref([](auto v) { return v < 0 ? -v : v; })));
  check_result<T>(square(x), s, map1(xs, ref([](auto v) { return v * v; })));
  check_result<T>(relu(x), s, map1(xs, [](T v) -> Ref<T> { return v < 0 ? Ref<T>(0) : Ref<T>(v); }));
}

TEMPLATE_TEST_CASE("elementwise: transcendental ops match std", "[elementwise]", float, double) {
  using T = TestType;
  const Shape s{5, 8};
  auto xs = inputs<T>(40, 21), ps = inputs<T>(40, 22, Kind::positive);
  Tensor x = from_vector(xs, s), p = from_vector(ps, s);
  check_result<T>(exp(x), s, map1(xs, [](T v) { return std::exp(double(v)); }));
  check_result<T>(log(p), s, map1(ps, [](T v) { return std::log(double(v)); }));
  check_result<T>(sqrt(p), s, map1(ps, [](T v) { return std::sqrt(double(v)); }));
  check_result<T>(rsqrt(p), s, map1(ps, [](T v) { return 1.0 / std::sqrt(double(v)); }));
  check_result<T>(tanh(x), s, map1(xs, [](T v) { return std::tanh(double(v)); }));
  check_result<T>(sigmoid(x), s, map1(xs, [](T v) { return 1.0 / (1.0 + std::exp(-double(v))); }));
  check_result<T>(gelu(x), s, map1(xs, [](T v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }));
}

TEST_CASE("elementwise: logical ops on b8 match the C++ operators", "[elementwise]") {
  const Shape s{4, 9};
  auto ps = inputs<bool>(36, 31), qs = inputs<bool>(36, 32);
  Tensor p = from_vector(ps, s), q = from_vector(qs, s);
  check_result<bool>(logical_not(p), s, map1(ps, [](bool v) { return !v; }));
  check_result<bool>(logical_and(p, q), s, map2<bool>(ps, qs, [](bool a, bool b) { return a && b; }));
  check_result<bool>(logical_or(p, q), s, map2<bool>(ps, qs, [](bool a, bool b) { return a || b; }));
  // The four rows of the truth tables.
  Tensor a = tensor({false, false, true, true}), b = tensor({false, true, false, true});
  CHECK(logical_and(a, b).to_vector<bool>() == std::vector<bool>{false, false, false, true});
  CHECK(logical_or(a, b).to_vector<bool>() == std::vector<bool>{false, true, true, true});
  CHECK(logical_not(a).to_vector<bool>() == std::vector<bool>{true, true, false, false});
}

TEMPLATE_TEST_CASE("elementwise: arithmetic binary ops match references", "[elementwise]", float, double, int32_t,
                   int64_t) {
  using T = TestType;
  const Shape s{5, 9};
  const int64_t n = 45;
  auto as = inputs<T>(n, 41), bs = inputs<T>(n, 42), ds = inputs<T>(n, 43, Kind::divisor);
  Tensor a = from_vector(as, s), b = from_vector(bs, s), d = from_vector(ds, s);
  using R = Ref<T>;
  // x op y: integers in a wide type, then wrapped; floats in double.
  auto arith = [](auto op) {
    return [op](T x, T y) -> R {
      if constexpr (kFloat<T>) return op(double(x), double(y));
      else return wrap<T>(op(i128(x), i128(y)));
    };
  };
  auto ref_div = [](auto x, auto y) -> decltype(x) {
    if constexpr (std::is_same_v<decltype(x), double>) return x / y;
    else return y == 0 ? 0 : x / y;
  };
  auto ref_mod = [](auto x, auto y) -> decltype(x) {
    if constexpr (std::is_same_v<decltype(x), double>) return std::fmod(x, y);
    else return y == 0 ? 0 : x % y;
  };
  check_result<T>(add(a, b), s, map2<R>(as, bs, arith([](auto x, auto y) { return x + y; })));
  check_result<T>(sub(a, b), s, map2<R>(as, bs, arith([](auto x, auto y) { return x - y; })));
  check_result<T>(mul(a, b), s, map2<R>(as, bs, arith([](auto x, auto y) { return x * y; })));
  check_result<T>(div(a, d), s, map2<R>(as, ds, arith(ref_div)));
  check_result<T>(mod(a, d), s, map2<R>(as, ds, arith(ref_mod)));
  check_result<T>(maximum(a, b), s, map2<R>(as, bs, [](T x, T y) { return R(std::max(x, y)); }));
  check_result<T>(minimum(a, b), s, map2<R>(as, bs, [](T x, T y) { return R(std::min(x, y)); }));

  auto base = inputs<T>(n, 44, Kind::base), expo = inputs<T>(n, 45, Kind::exponent);
  auto ref_pow = [](T x, T y) -> R {
    if constexpr (kFloat<T>) return std::pow(double(x), double(y));
    else return ref_int_pow(x, y);
  };
  check_result<T>(pow(from_vector(base, s), from_vector(expo, s)), s, map2<R>(base, expo, ref_pow));
  if constexpr (!kFloat<T>) {  // powers that overflow wrap around
    auto wb = inputs<T>(n, 46, Kind::wide_base), we = inputs<T>(n, 47, Kind::wide_exponent);
    check_result<T>(pow(from_vector(wb, s), from_vector(we, s)), s, map2<R>(wb, we, ref_pow));
  }
}

TEMPLATE_TEST_CASE("elementwise: comparisons match the C++ operators and return b8", "[elementwise]", float, double,
                   int32_t, int64_t, bool) {
  using T = TestType;
  const Shape s{6, 8};
  auto as = inputs<T>(48, 51, Kind::small), bs = inputs<T>(48, 52, Kind::small);
  for (size_t i = 0; i < bs.size(); i += 3) bs[i] = as[i];  // ties
  Tensor a = from_vector(as, s), b = from_vector(bs, s);
  check_result<bool>(less(a, b), s, map2<bool>(as, bs, [](T x, T y) { return x < y; }));
  check_result<bool>(less_equal(a, b), s, map2<bool>(as, bs, [](T x, T y) { return x <= y; }));
  check_result<bool>(greater(a, b), s, map2<bool>(as, bs, [](T x, T y) { return x > y; }));
  check_result<bool>(greater_equal(a, b), s, map2<bool>(as, bs, [](T x, T y) { return x >= y; }));
  check_result<bool>(equal(a, b), s, map2<bool>(as, bs, [](T x, T y) { return x == y; }));
  check_result<bool>(not_equal(a, b), s, map2<bool>(as, bs, [](T x, T y) { return x != y; }));
}

TEMPLATE_TEST_CASE("elementwise: where selects per element", "[elementwise]", float, double, int32_t, int64_t,
                   bool) {
  using T = TestType;
  const Shape s{5, 7};
  auto cs = inputs<bool>(35, 61);
  auto as = inputs<T>(35, 62), bs = inputs<T>(35, 63);
  std::vector<T> want;
  for (size_t i = 0; i < cs.size(); ++i) want.push_back(cs[i] ? as[i] : bs[i]);
  Tensor r = where(from_vector(cs, s), from_vector(as, s), from_vector(bs, s));
  check_result<T>(r, s, want);

  // Broadcast condition [5,1] with operands [1,7] and rank 0.
  std::vector<bool> rows{true, false, true, true, false};
  Tensor rb = where(from_vector(rows, {5, 1}), from_vector(std::vector<T>(as.begin(), as.begin() + 7), {1, 7}),
                    from_vector(std::vector<T>{bs[0]}, {}));
  std::vector<T> want_b;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 7; ++j) want_b.push_back(rows[i] ? as[j] : bs[0]);
  check_result<T>(rb, Shape{5, 7}, want_b);
}

namespace {
template <class From, class To>
void check_cast(const std::vector<From>& xs) {
  INFO("cast " << dtype_name(dtype_of<From>::value) << " -> " << dtype_name(dtype_of<To>::value));
  const Shape s{static_cast<int64_t>(xs.size())};
  std::vector<Ref<To>> want;
  for (From v : xs) want.push_back(Ref<To>(ref_cast<To>(v)));
  check_result<To>(cast(from_vector(xs, s), dtype_of<To>::value), s, want);
}
}  // namespace

TEMPLATE_TEST_CASE("elementwise: cast between every pair of dtypes", "[elementwise]", float, double, int32_t, int64_t,
                   bool) {
  using From = TestType;
  std::vector<From> xs;
  if constexpr (kFloat<From>) {
    for (From v : randn({40}, 71, dtype_of<From>::value).template to_vector<From>()) xs.push_back(From(v * 1000));
    const From nan = std::numeric_limits<From>::quiet_NaN(), inf = std::numeric_limits<From>::infinity();
    for (From v : {nan, inf, -inf, From(3e9), From(-3e9), From(1e19), From(-1e19), From(0.5), From(-0.5), From(2.7),
                   From(-2.7), From(0), From(-0.0), From(2147483520.0), From(0x1p63), From(-0x1p63)})
      xs.push_back(v);
  } else if constexpr (std::is_same_v<From, bool>) {
    xs = inputs<bool>(20, 72);
  } else {
    xs = inputs<From>(40, 73);
    for (From v : {From(0), From(-1), From(1), std::numeric_limits<From>::min(), std::numeric_limits<From>::max()})
      xs.push_back(v);
  }
  check_cast<From, float>(xs);
  check_cast<From, double>(xs);
  check_cast<From, int32_t>(xs);
  check_cast<From, int64_t>(xs);
  check_cast<From, bool>(xs);
}

TEST_CASE("elementwise: broadcasting rank 0 with rank 2", "[elementwise][broadcast]") {
  Tensor s = scalar(2.5f);
  auto ms = inputs<float>(12, 81);
  Tensor m = from_vector(ms, {3, 4});
  check_result<float>(s * m, Shape{3, 4}, map1(ms, [](float v) { return 2.5 * v; }));
  check_result<float>(m - s, Shape{3, 4}, map1(ms, [](float v) { return double(v) - 2.5; }));
  check_result<float>(s - m, Shape{3, 4}, map1(ms, [](float v) { return 2.5 - double(v); }));
  check_result<bool>(m < s, Shape{3, 4}, map1(ms, [](float v) { return v < 2.5f; }));
  Tensor ss = s + scalar(1.f);
  CHECK(ss.rank() == 0);
  CHECK(ss.item<float>() == 3.5f);
}

TEST_CASE("elementwise: broadcasting size-1 dims on both sides", "[elementwise][broadcast]") {
  auto as = inputs<float>(3, 82), bs = inputs<float>(4, 83);
  Tensor a = from_vector(as, {3, 1}), b = from_vector(bs, {1, 4});
  std::vector<double> sum_ab, diff_ba;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) sum_ab.push_back(double(as[i]) + bs[j]);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) diff_ba.push_back(double(bs[j]) - as[i]);
  check_result<float>(a + b, Shape{3, 4}, sum_ab);
  check_result<float>(b - a, Shape{3, 4}, diff_ba);

  // Different ranks: [4] with [3,1], and [2,1,4] with [3,1].
  Tensor v = from_vector(bs, {4});
  check_result<float>(a + v, Shape{3, 4}, sum_ab);
  auto cs = inputs<float>(8, 84);
  Tensor c = from_vector(cs, {2, 1, 4});
  std::vector<double> prod;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) prod.push_back(double(cs[i * 4 + k]) * as[j]);
  check_result<float>(c * a, Shape{2, 3, 4}, prod);

  // Integers broadcast the same way.
  Tensor ia = tensor({1, 2, 3}).reshape({3, 1}), ib = tensor({10, 20});
  CHECK((ia * ib).to_vector<int32_t>() == std::vector<int32_t>{10, 20, 20, 40, 30, 60});
}

TEST_CASE("elementwise: broadcasting zero-size dims", "[elementwise][broadcast]") {
  Tensor e = zeros({0, 3});
  Tensor r = e + ones({1, 3});
  CHECK(r.shape() == Shape{0, 3});
  CHECK(r.numel() == 0);
  CHECK(r.dtype() == DType::f32);
  CHECK((ones({1, 3}) + e).shape() == Shape{0, 3});
  CHECK((e * scalar(2.f)).shape() == Shape{0, 3});
  CHECK((e < ones({3})).shape() == Shape{0, 3});
  CHECK((e < ones({3})).dtype() == DType::b8);
  CHECK(exp(e).shape() == Shape{0, 3});
  CHECK(where(zeros({0, 1}, DType::b8), ones({1, 3}), 2.f).shape() == Shape{0, 3});
  CHECK((ones({3, 1}) + zeros({3, 0})).shape() == Shape{3, 0});
  CHECK((e + ones({3})).to_vector<float>().empty());
  CHECK_THROWS_AS(e + ones({2, 3}), ShapeError);  // 0 vs 2: neither is 1
}

namespace {
// numpy broadcasting by its definition: out[idx] = f(a[idx mod a's dims], b[...]).
template <class R, class T, class F>
std::vector<R> broadcast_ref(const std::vector<T>& a, std::vector<int64_t> sa, const std::vector<T>& b,
                             std::vector<int64_t> sb, std::vector<int64_t>* out_shape, F f) {
  size_t rank = std::max(sa.size(), sb.size());
  sa.insert(sa.begin(), rank - sa.size(), 1);
  sb.insert(sb.begin(), rank - sb.size(), 1);
  std::vector<int64_t> so(rank), idx(rank, 0);
  int64_t n = 1;
  for (size_t d = 0; d < rank; ++d) n *= (so[d] = std::max(sa[d], sb[d]));
  std::vector<R> out;
  for (int64_t k = 0; k < n; ++k) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < rank; ++d) {
      oa = oa * sa[d] + (sa[d] == 1 ? 0 : idx[d]);
      ob = ob * sb[d] + (sb[d] == 1 ? 0 : idx[d]);
    }
    out.push_back(f(a[oa], b[ob]));
    for (size_t d = rank; d-- > 0 && ++idx[d] == so[d];) idx[d] = 0;
  }
  *out_shape = so;
  return out;
}
}  // namespace

TEST_CASE("elementwise: broadcasting mixed size-1 patterns match the numpy rule", "[elementwise][broadcast]") {
  AtLeastTwoThreads team;
  using Dims = std::vector<int64_t>;
  const std::vector<std::pair<Dims, Dims>> pairs = {
      {{2, 3, 1, 5}, {3, 4, 1}}, {{1}, {2, 3}},          {{4, 1, 1}, {1, 1, 6}},       {{1, 1, 1}, {1}},
      {{5, 1, 3, 1}, {1, 4, 1, 2}}, {{6, 1}, {6, 7}}, {{7, 1, 11, 1, 29}, {1, 5, 1, 9, 29}},  // 100,485: parallel
  };
  uint64_t seed = 200;
  for (const auto& [da, db] : pairs) {
    INFO(Shape(da) << " with " << Shape(db));
    auto numel = [](const Dims& d) { int64_t n = 1; for (int64_t x : d) n *= x; return n; };
    auto fa = inputs<float>(numel(da), ++seed), fb = inputs<float>(numel(db), ++seed);
    auto la = inputs<int64_t>(numel(da), ++seed), lb = inputs<int64_t>(numel(db), ++seed);
    Dims so;
    auto want_f = broadcast_ref<double>(fa, da, fb, db, &so, [](float x, float y) { return double(x) - y; });
    check_result<float>(from_vector(fa, da) - from_vector(fb, db), Shape(so), want_f);
    auto want_l =
        broadcast_ref<int64_t>(la, da, lb, db, &so, [](int64_t x, int64_t y) { return wrap<int64_t>(i128(x) - y); });
    check_result<int64_t>(from_vector(la, da) - from_vector(lb, db), Shape(so), want_l);
    auto want_b = broadcast_ref<bool>(lb, db, la, da, &so, [](int64_t x, int64_t y) { return x < y; });
    check_result<bool>(from_vector(lb, db) < from_vector(la, da), Shape(so), want_b);
  }
}

TEST_CASE("elementwise: large broadcasting tensors take the parallel path correctly", "[elementwise][broadcast]") {
  AtLeastTwoThreads team;
  const int64_t R = 400, C = 300;  // 120,000 elements
  auto as = inputs<float>(R * C, 91), rs = inputs<float>(C, 92), cs = inputs<float>(R, 93);
  Tensor a = from_vector(as, {R, C}), row = from_vector(rs, {C}), col = from_vector(cs, {R, 1});
  std::vector<double> plus_row, times_col, outer;
  std::vector<bool> gt;
  std::vector<float> sel;
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) {
      float x = as[i * C + j];
      plus_row.push_back(double(x) + rs[j]);
      times_col.push_back(double(x) * cs[i]);
      outer.push_back(double(cs[i]) - rs[j]);
      gt.push_back(x > rs[j]);
      sel.push_back(x > rs[j] ? x : cs[i]);
    }
  const Shape s{R, C};
  check_result<float>(a + row, s, plus_row);
  check_result<float>(a * col, s, times_col);
  check_result<float>(col - row, s, outer);
  check_result<bool>(a > row, s, gt);
  check_result<float>(where(a > row, a, col), s, sel);
  check_result<float>(exp(a), s, map1(as, [](float v) { return std::exp(double(v)); }));

  // i32 and f64 on the same sizes.
  std::vector<int32_t> is;
  for (int64_t i = 0; i < R * C; ++i) is.push_back(int32_t(i * 7919 % 100003) - 50000);
  std::vector<int32_t> divs{3, -7, 0, 11};
  std::vector<int32_t> want_mod;
  for (int64_t i = 0; i < R * C; ++i) {
    int32_t d = divs[i % 4];
    want_mod.push_back(d == 0 ? 0 : is[i] % d);
  }
  check_result<int32_t>(mod(from_vector(is, {R * C / 4, 4}), tensor({3, -7, 0, 11})), Shape{R * C / 4, 4}, want_mod);
  auto ds = inputs<double>(R * C, 94), drow = inputs<double>(C, 95);
  std::vector<double> dmax;
  for (int64_t i = 0; i < R * C; ++i) dmax.push_back(std::max(ds[i], drow[i % C]));
  check_result<double>(maximum(from_vector(ds, {R, C}), from_vector(drow, {1, C})), s, dmax);
}

TEST_CASE("elementwise: integer / and % truncate toward zero and never trap", "[elementwise][integer]") {
  const int32_t mn = INT32_MIN;
  Tensor a = tensor({7, -7, 7, -7, 0, 5, -5, mn, mn, 9}), b = tensor({2, 2, -2, -2, 0, 0, 0, -1, 1, 3});
  CHECK((a / b).to_vector<int32_t>() == std::vector<int32_t>{3, -3, -3, 3, 0, 0, 0, mn, mn, 3});
  CHECK((a % b).to_vector<int32_t>() == std::vector<int32_t>{1, -1, 1, -1, 0, 0, 0, 0, 0, 0});
  CHECK((a / 0).to_vector<int32_t>() == std::vector<int32_t>(10, 0));
  CHECK((a % 0).to_vector<int32_t>() == std::vector<int32_t>(10, 0));
  CHECK((a / b).dtype() == DType::i32);

  const int64_t mn64 = INT64_MIN;
  Tensor a64 = from_vector(std::vector<int64_t>{7, -7, 7, -7, 5, mn64, mn64, int64_t(1) << 40}, {8});
  Tensor b64 = from_vector(std::vector<int64_t>{2, 2, -2, -2, 0, -1, 1, -3}, {8});
  CHECK((a64 / b64).to_vector<int64_t>() ==
        std::vector<int64_t>{3, -3, -3, 3, 0, mn64, mn64, -((int64_t(1) << 40) / 3)});
  CHECK((a64 % b64).to_vector<int64_t>() == std::vector<int64_t>{1, -1, 1, -1, 0, 0, 0, (int64_t(1) << 40) % 3});
  CHECK((a64 / b64).dtype() == DType::i64);
}

TEST_CASE("elementwise: integer + - * neg abs wrap around", "[elementwise][integer]") {
  const int32_t mx = INT32_MAX, mn = INT32_MIN;
  CHECK((tensor({mx}) + 1).item<int32_t>() == mn);
  CHECK((tensor({mn}) - 1).item<int32_t>() == mx);
  CHECK((tensor({65536}) * tensor({65536})).item<int32_t>() == 0);
  CHECK(neg(tensor({mn})).item<int32_t>() == mn);
  CHECK(abs(tensor({mn})).item<int32_t>() == mn);
  CHECK(square(tensor({65537})).item<int32_t>() == 131073);  // 65537^2 = 2^32 + 131073
  const int64_t mx64 = INT64_MAX, mn64 = INT64_MIN;
  CHECK((from_vector(std::vector<int64_t>{mx64}, {1}) + int64_t(1)).item<int64_t>() == mn64);
  CHECK(neg(from_vector(std::vector<int64_t>{mn64}, {1})).item<int64_t>() == mn64);
  CHECK(pow(tensor({2}), tensor({31})).item<int32_t>() == mn);
  CHECK(pow(tensor({2}), tensor({32})).item<int32_t>() == 0);
  // Negative exponents: 0 except for bases 1 and -1.
  CHECK(pow(tensor({2, 1, -1, -1, 0, -3}), tensor({-1, -5, -3, -2, -1, -2})).to_vector<int32_t>() ==
        std::vector<int32_t>{0, 1, -1, 1, 0, 0});
}

TEST_CASE("elementwise: float to int casts saturate and NaN becomes 0", "[elementwise][integer]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor f = tensor({3e9f, -3e9f, nan, inf, -inf, 2.9f, -2.9f, 1e20f});
  CHECK(cast(f, DType::i32).to_vector<int32_t>() ==
        std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, INT32_MAX, INT32_MIN, 2, -2, INT32_MAX});
  CHECK(cast(f, DType::i64).to_vector<int64_t>() ==
        std::vector<int64_t>{3000000000, -3000000000, 0, INT64_MAX, INT64_MIN, 2, -2, INT64_MAX});
  Tensor d = from_vector(std::vector<double>{1e19, -1e19, std::nan(""), 1e300, -2.5, 4e9}, {6});
  CHECK(cast(d, DType::i64).to_vector<int64_t>() ==
        std::vector<int64_t>{INT64_MAX, INT64_MIN, 0, INT64_MAX, -2, 4000000000});
  CHECK(cast(d, DType::i32).to_vector<int32_t>() ==
        std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, INT32_MAX, -2, INT32_MAX});
  // Anything -> b8 is != 0, so NaN is true.
  CHECK(cast(tensor({nan, 0.f, -0.f, 0.1f}), DType::b8).to_vector<bool>() ==
        std::vector<bool>{true, false, false, true});
}

TEST_CASE("elementwise: maximum and minimum propagate NaN", "[elementwise]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = tensor({nan, 1.f, nan, 2.f, -1.f}), b = tensor({1.f, nan, nan, 3.f, -4.f});
  auto mx = maximum(a, b).to_vector<float>(), mn = minimum(a, b).to_vector<float>();
  for (int i = 0; i < 3; ++i) {
    CHECK(std::isnan(mx[i]));
    CHECK(std::isnan(mn[i]));
  }
  CHECK(mx[3] == 3.f);
  CHECK(mx[4] == -1.f);
  CHECK(mn[3] == 2.f);
  CHECK(mn[4] == -4.f);

  const double dnan = std::nan("");
  Tensor da = from_vector(std::vector<double>{dnan, 5, 1}, {3}), db = from_vector(std::vector<double>{0, dnan, 2}, {3});
  auto dmx = maximum(da, db).to_vector<double>(), dmn = minimum(db, da).to_vector<double>();
  CHECK((std::isnan(dmx[0]) && std::isnan(dmx[1]) && dmx[2] == 2));
  CHECK((std::isnan(dmn[0]) && std::isnan(dmn[1]) && dmn[2] == 1));

  // A NaN scalar against a large tensor (the vectorized, parallel loop).
  AtLeastTwoThreads team;
  auto xs = inputs<float>(100000, 96);
  xs[12345] = nan;
  Tensor x = from_vector(xs, {100000});
  std::vector<double> want;
  for (float v : xs) want.push_back(std::isnan(v) ? double(nan) : std::max(double(v), 0.0));
  check_result<float>(maximum(x, 0.f), Shape{100000}, want);
  check_result<float>(maximum(x, nan), Shape{100000}, std::vector<double>(100000, double(nan)));
  check_result<float>(minimum(nan, x), Shape{100000}, std::vector<double>(100000, double(nan)));
}

TEST_CASE("elementwise: operators map to their ops", "[elementwise]") {
  Tensor a = from_vector(inputs<float>(12, 101), {3, 4});
  std::vector<float> bs = inputs<float>(12, 102);
  for (size_t i = 0; i < bs.size(); i += 4) bs[i] = a.to_vector<float>()[i];  // ties for the comparisons
  Tensor b = from_vector(bs, {3, 4});
  CHECK(same(a + b, add(a, b)));
  CHECK(same(a - b, sub(a, b)));
  CHECK(same(a * b, mul(a, b)));
  CHECK(same(a / b, div(a, b)));
  CHECK(same(a % b, mod(a, b)));
  CHECK(same(-a, neg(a)));
  CHECK(same(a < b, less(a, b)));
  CHECK(same(a <= b, less_equal(a, b)));
  CHECK(same(a > b, greater(a, b)));
  CHECK(same(a >= b, greater_equal(a, b)));
  CHECK(same(a == b, equal(a, b)));
  CHECK(same(a != b, not_equal(a, b)));
  Tensor p = from_vector(inputs<bool>(12, 103), {3, 4}), q = from_vector(inputs<bool>(12, 104), {3, 4});
  CHECK(same(p & q, logical_and(p, q)));
  CHECK(same(p | q, logical_or(p, q)));
  CHECK(same(!p, logical_not(p)));
  CHECK(same(!Operand(p), logical_not(p)));
  // With C++ scalars on either side.
  CHECK(same(a + 2.f, add(a, 2.f)));
  CHECK(same(2 * a, mul(2, a)));
  CHECK(same(1.f - a, sub(1.f, a)));
  CHECK(same(3.f / a, div(3.f, a)));
  CHECK(same(a % 0.75f, mod(a, 0.75f)));
  CHECK(same(a < 0.5f, less(a, 0.5f)));
  CHECK(same(0.5f >= a, greater_equal(0.5f, a)));
  // The ops are told apart: the operators did not all map to one op.
  CHECK_FALSE(same(a + b, a - b));
  CHECK_FALSE(same(a < b, a <= b));
  CHECK_FALSE(same(a == b, a != b));
  CHECK_FALSE(same(p & q, p | q));
}
