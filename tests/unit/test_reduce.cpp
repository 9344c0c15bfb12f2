// Reductions (sum, mean, max, min, argmax), softmax/log_softmax and one_hot against nested-loop references.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace duet;

namespace {

enum class Kind { sum, mean, max, min };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::sum: return "sum";
    case Kind::mean: return "mean";
    case Kind::max: return "max";
    case Kind::min: return "min";
  }
  return "?";
}

Tensor apply(Kind k, const Tensor& a, const Axes& axes, bool keepdims) {
  switch (k) {
    case Kind::sum: return sum(a, axes, keepdims);
    case Kind::mean: return mean(a, axes, keepdims);
    case Kind::max: return max(a, axes, keepdims);
    case Kind::min: return min(a, axes, keepdims);
  }
  return {};
}

// randn for floats; for integers a scaled, truncated randn (values in about
// [-400, 400], with ties), never all zeros.
Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  if (is_floating(dtype)) return randn(shape, seed, dtype);
  return cast(randn(shape, seed) * 100.f, dtype);
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t n = 1;
  for (int64_t d : v) n *= d;
  return n;
}

// Advances a row-major multi-index; false after the last one.
bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& shape) {
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (++idx[d] < shape[d]) return true;
    idx[d] = 0;
  }
  return false;
}

struct Reduced {
  std::vector<int64_t> shape;
  std::vector<double> values;
  std::vector<double> magnitude;  // sum of |x| (mean: divided by the count), for tolerances
};

Reduced reference_reduce(const std::vector<double>& x, const std::vector<int64_t>& shape,
                         const std::vector<int64_t>& axes, bool keepdims, Kind kind) {
  int rank = static_cast<int>(shape.size());
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) reduced[a < 0 ? a + rank : a] = true;
  Reduced r;
  std::vector<int64_t> kept;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    if (!reduced[d]) {
      r.shape.push_back(shape[d]);
      kept.push_back(shape[d]);
    } else {
      count *= shape[d];
      if (keepdims) r.shape.push_back(1);
    }
  }
  double init = kind == Kind::max   ? -std::numeric_limits<double>::infinity()
                : kind == Kind::min ? std::numeric_limits<double>::infinity()
                                    : 0.0;
  r.values.assign(product(kept), init);
  r.magnitude.assign(product(kept), 0.0);
  std::vector<int64_t> idx(rank, 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t o = 0;
    for (int d = 0; d < rank; ++d)
      if (!reduced[d]) o = o * shape[d] + idx[d];
    double& v = r.values[o];
    if (kind == Kind::max) v = std::max(v, x[i]);
    else if (kind == Kind::min) v = std::min(v, x[i]);
    else v += x[i];
    r.magnitude[o] += std::abs(x[i]);
    next_index(idx, shape);
  }
  for (size_t o = 0; o < r.values.size(); ++o) {
    if (kind == Kind::mean) {
      r.values[o] /= static_cast<double>(count);
      r.magnitude[o] /= static_cast<double>(count);
    }
    if (kind == Kind::max || kind == Kind::min) r.magnitude[o] = 0;  // exact: no arithmetic
  }
  return r;
}

// "" when every |actual - expected| <= tol[i] (NaN matches NaN), else the first mismatch.
std::string first_mismatch(const std::vector<double>& actual, const std::vector<double>& expected,
                           const std::vector<double>& tol) {
  if (actual.size() != expected.size())
    return "size " + std::to_string(actual.size()) + " != " + std::to_string(expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    double a = actual[i], e = expected[i];
    if (std::isnan(a) && std::isnan(e)) continue;
    if (a == e) continue;
    if (!(std::abs(a - e) <= tol[i])) {
      std::ostringstream os;
      os.precision(17);
      os << "element " << i << ": got " << a << ", expected " << e << " (tolerance " << tol[i] << ")";
      return os.str();
    }
  }
  return "";
}

std::string first_mismatch(const std::vector<double>& actual, const std::vector<double>& expected, double tol) {
  return first_mismatch(actual, expected, std::vector<double>(expected.size(), tol));
}

// Relative tolerance of a reduction of `dtype` values, scaled by the sum of |x|.
double reduce_rtol(DType dtype) { return dtype == DType::f32 ? 2e-6 : dtype == DType::f64 ? 1e-12 : 0.0; }

void check_reduction(Kind kind, const Tensor& a, const std::vector<int64_t>& axes, bool keepdims) {
  CAPTURE(kind_name(kind), a.type().str(), axes, keepdims);
  Tensor got = apply(kind, a, Axes(axes), keepdims);
  Reduced ref = reference_reduce(a.to_vector<double>(), a.shape().vec(), axes, keepdims, kind);
  CHECK(got.dtype() == a.dtype());
  REQUIRE(got.shape().vec() == ref.shape);
  std::vector<double> tol(ref.values.size());
  for (size_t i = 0; i < tol.size(); ++i) tol[i] = reduce_rtol(a.dtype()) * ref.magnitude[i];
  CHECK(first_mismatch(got.to_vector<double>(), ref.values, tol) == "");
}

const DType kNumeric[] = {DType::f32, DType::f64, DType::i32, DType::i64};
const Kind kKinds[] = {Kind::sum, Kind::mean, Kind::max, Kind::min};

struct Case {
  std::vector<int64_t> shape;
  std::vector<int64_t> axes;
};

}  // namespace

TEST_CASE("reduce: sum, mean, max, min over axis sets match a loop reference", "[reduce]") {
  const std::vector<Case> cases = {
      {{3, 4, 5}, {}},     {{3, 4, 5}, {0}},       {{3, 4, 5}, {1}},          {{3, 4, 5}, {2}},
      {{7}, {0}},          {{7}, {}},              {{2, 3, 4, 5}, {0, 2}},    {{2, 3, 4, 5}, {1, 3}},
      {{2, 3, 4, 5}, {-1}}, {{2, 3, 4, 5}, {-3, -1}}, {{2, 3, 4, 5}, {3, 0}}, {{2, 3, 4, 5}, {0, 1, 2, 3}},
      {{2, 3, 4, 5}, {1, 2}}, {{2, 3, 2, 4, 3}, {0, 2, 4}}, {{1, 5, 1}, {0, 2}}, {{4, 1, 6}, {1}},
  };
  uint64_t seed = 1;
  for (const Case& c : cases)
    for (DType dt : kNumeric) {
      Tensor a = random_tensor(Shape(c.shape), dt, seed++);
      for (Kind k : kKinds) {
        if (k == Kind::mean && !is_floating(dt)) continue;  // mean is float-only (see the DTypeError test)
        check_reduction(k, a, c.axes, false);
        check_reduction(k, a, c.axes, true);
      }
    }
}

TEST_CASE("reduce: large tensors (parallel path) match a loop reference", "[reduce]") {
  const std::vector<Case> cases = {
      {{300, 400}, {}}, {{300, 400}, {0}}, {{300, 400}, {1}}, {{40, 64, 50}, {0, 2}},
      {{40, 64, 50}, {-2}}, {{200003}, {0}},
      // outer * inner above the parallel grain, so the work splits inside an outer block
      {{8, 3, 6000}, {1}}, {{40000, 3}, {1}}, {{9, 4, 5000}, {0, 2}},
  };
  uint64_t seed = 100;
  for (const Case& c : cases)
    for (DType dt : kNumeric) {
      Tensor a = random_tensor(Shape(c.shape), dt, seed++);
      for (Kind k : kKinds) {
        if (k == Kind::mean && !is_floating(dt)) continue;
        check_reduction(k, a, c.axes, c.axes.size() == 1);
      }
    }
}

TEST_CASE("reduce: method forms agree with the free functions' reference", "[reduce]") {
  Tensor a = randn({3, 4, 5}, 7);
  std::vector<double> x = a.to_vector<double>();
  auto ref = [&](Kind k) { return reference_reduce(x, {3, 4, 5}, {1}, true, k); };
  Tensor s = a.sum({1}, true), m = a.mean({1}, true), hi = a.max({1}, true), lo = a.min({1}, true);
  REQUIRE(s.shape().vec() == std::vector<int64_t>{3, 1, 5});
  CHECK(first_mismatch(s.to_vector<double>(), ref(Kind::sum).values, 1e-5) == "");
  CHECK(first_mismatch(m.to_vector<double>(), ref(Kind::mean).values, 1e-6) == "");
  CHECK(first_mismatch(hi.to_vector<double>(), ref(Kind::max).values, 0.0) == "");
  CHECK(first_mismatch(lo.to_vector<double>(), ref(Kind::min).values, 0.0) == "");
}

TEST_CASE("reduce: rank-0 inputs reduce to themselves", "[reduce]") {
  const Tensor inputs[] = {scalar(2.5f), scalar(-3.25, DType::f64), scalar(7), scalar(int64_t{-9})};
  for (const Tensor& a : inputs)
    for (Kind k : kKinds) {
      if (k == Kind::mean && !is_floating(a.dtype())) continue;
      for (bool keep : {false, true}) {
        CAPTURE(kind_name(k), a.type().str(), keep);
        Tensor r = apply(k, a, {}, keep);
        CHECK(r.rank() == 0);
        CHECK(r.dtype() == a.dtype());
        CHECK(r.item<double>() == a.item<double>());
      }
    }
}

TEST_CASE("reduce: zero-size dims", "[reduce]") {
  Tensor a = randn({3, 0, 4}, 1);
  SECTION("sum over an empty axis is 0") {
    for (DType dt : kNumeric) {
      Tensor x = cast(a, dt);
      Tensor s = sum(x, {1});
      REQUIRE(s.shape().vec() == std::vector<int64_t>{3, 4});
      CHECK(s.dtype() == dt);
      CHECK(first_mismatch(s.to_vector<double>(), std::vector<double>(12, 0.0), 0.0) == "");
      Tensor all = sum(x);
      CHECK(all.rank() == 0);
      CHECK(all.item<double>() == 0.0);
      Tensor kept = sum(x, {1}, true);
      CHECK(kept.shape().vec() == std::vector<int64_t>{3, 1, 4});
    }
  }
  SECTION("reducing a non-empty axis of an empty tensor gives an empty result") {
    CHECK(sum(a, {0}).shape().vec() == std::vector<int64_t>{0, 4});
    CHECK(max(a, {2}).shape().vec() == std::vector<int64_t>{3, 0});
    CHECK(min(a, {0, 2}, true).shape().vec() == std::vector<int64_t>{1, 0, 1});
    CHECK(max(a, {0}).numel() == 0);
  }
  SECTION("mean over an empty axis is NaN (0/0)") {
    Tensor m = mean(a, {1});
    REQUIRE(m.numel() == 12);
    for (float v : m.to_vector<float>()) CHECK(std::isnan(v));
  }
  SECTION("max and min over an empty axis have no identity") {
    CHECK_THROWS_AS(max(a, {1}), ShapeError);
    CHECK_THROWS_AS(min(a, {-2}), ShapeError);
    CHECK_THROWS_AS(max(a), ShapeError);
    CHECK_THROWS_AS(min(cast(a, DType::i32)), ShapeError);
  }
}

TEST_CASE("reduce: mean is float-only, b8 is not reducible", "[reduce]") {
  CHECK_THROWS_AS(mean(cast(randn({2, 3}, 1) * 10.f, DType::i32)), DTypeError);
  CHECK_THROWS_AS(mean(cast(randn({2, 3}, 1) * 10.f, DType::i64), {0}), DTypeError);
  Tensor b = randn({2, 3}, 1) > 0.f;
  for (Kind k : kKinds) CHECK_THROWS_AS(apply(k, b, {}, false), DTypeError);
}

namespace {

// Reference argmax: first index of the maximum along `axis`.
std::vector<int64_t> reference_argmax(const std::vector<double>& x, const std::vector<int64_t>& shape, int axis) {
  int64_t outer = 1, n = shape[axis], inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<int64_t> out;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < n; ++j)
        if (x[(o * n + j) * inner + i] > x[(o * n + best) * inner + i]) best = j;
      out.push_back(best);
    }
  return out;
}

std::vector<int64_t> without(const std::vector<int64_t>& shape, int axis) {
  std::vector<int64_t> out;
  for (size_t d = 0; d < shape.size(); ++d)
    if (static_cast<int>(d) != axis) out.push_back(shape[d]);
  return out;
}

}  // namespace

TEST_CASE("reduce: argmax along each axis matches a loop reference", "[reduce][argmax]") {
  const std::vector<int64_t> shape = {4, 5, 6};
  uint64_t seed = 11;
  for (DType dt : kNumeric) {
    // Integers in [0, 3): many ties, so the first-index rule is exercised.
    Tensor a = is_floating(dt) ? randn(Shape(shape), seed++, dt) : cast(rand(Shape(shape), seed++) * 3.f, dt);
    std::vector<double> x = a.to_vector<double>();
    for (int64_t axis : {0, 1, 2, -1, -2, -3}) {
      CAPTURE(a.type().str(), axis);
      int norm = static_cast<int>(axis < 0 ? axis + 3 : axis);
      Tensor r = argmax(a, axis);
      CHECK(r.dtype() == DType::i64);
      REQUIRE(r.shape().vec() == without(shape, norm));
      CHECK(r.to_vector<int64_t>() == reference_argmax(x, shape, norm));
    }
  }
  Tensor big = randn({300, 500}, 3);
  std::vector<double> xb = big.to_vector<double>();
  CHECK(argmax(big, 0).to_vector<int64_t>() == reference_argmax(xb, {300, 500}, 0));
  CHECK(big.argmax(1).to_vector<int64_t>() == reference_argmax(xb, {300, 500}, 1));
  Tensor tall = cast(rand({40000, 3}, 4) * 3.f, DType::i32), wide = randn({3, 40000}, 5, DType::f64);
  CHECK(argmax(tall, 1).to_vector<int64_t>() == reference_argmax(tall.to_vector<double>(), {40000, 3}, 1));
  CHECK(argmax(wide, 0).to_vector<int64_t>() == reference_argmax(wide.to_vector<double>(), {3, 40000}, 0));
}

TEST_CASE("reduce: argmax returns the first index on ties", "[reduce][argmax]") {
  Tensor a = tensor({{1, 3, 3}, {2, 2, 1}});
  CHECK(argmax(a, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(argmax(a, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0});
  Tensor f = tensor({5.f, 5.f, 5.f, 5.f});
  CHECK(argmax(f, -1).item<int64_t>() == 0);
  CHECK(argmax(f, 0).rank() == 0);
}

namespace {

// Reference softmax / log_softmax along `axis`, in double.
std::vector<double> reference_softmax(const std::vector<double>& x, const std::vector<int64_t>& shape, int axis,
                                      bool log) {
  int64_t outer = 1, n = shape[axis], inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return (o * n + j) * inner + i; };
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < n; ++j) m = std::max(m, x[at(j)]);
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += std::exp(x[at(j)] - m);
      for (int64_t j = 0; j < n; ++j) y[at(j)] = log ? x[at(j)] - m - std::log(s) : std::exp(x[at(j)] - m) / s;
    }
  return y;
}

// The largest |sum along axis - 1| of a softmax result.
double worst_row_sum_error(const std::vector<double>& y, const std::vector<int64_t>& shape, int axis) {
  int64_t outer = 1, n = shape[axis], inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  double worst = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += y[(o * n + j) * inner + i];
      worst = std::max(worst, std::abs(s - 1));
    }
  return worst;
}

}  // namespace

TEST_CASE("reduce: softmax and log_softmax along any axis match a reference", "[reduce][softmax]") {
  const std::vector<std::vector<int64_t>> shapes = {{3, 4, 5}, {6, 7}, {9}, {2, 1, 3, 4}};
  uint64_t seed = 21;
  for (DType dt : {DType::f32, DType::f64}) {
    double tol = dt == DType::f32 ? 2e-6 : 1e-13;
    for (const auto& shape : shapes) {
      Tensor a = randn(Shape(shape), seed++, dt) * 3.f;
      std::vector<double> x = a.to_vector<double>();
      int rank = static_cast<int>(shape.size());
      for (int axis = -rank; axis < rank; ++axis) {
        CAPTURE(a.type().str(), axis);
        int norm = axis < 0 ? axis + rank : axis;
        Tensor s = softmax(a, axis), l = log_softmax(a, axis);
        CHECK(s.type() == a.type());
        CHECK(l.type() == a.type());
        std::vector<double> sv = s.to_vector<double>();
        CHECK(first_mismatch(sv, reference_softmax(x, shape, norm, false), tol) == "");
        CHECK(first_mismatch(l.to_vector<double>(), reference_softmax(x, shape, norm, true), tol * 10) == "");
        CHECK(worst_row_sum_error(sv, shape, norm) <= tol * 10);
      }
    }
  }
  SECTION("default axis is the last, method forms agree") {
    Tensor a = randn({4, 6}, 5);
    std::vector<double> ref = reference_softmax(a.to_vector<double>(), {4, 6}, 1, false);
    CHECK(first_mismatch(softmax(a).to_vector<double>(), ref, 2e-6) == "");
    CHECK(first_mismatch(a.softmax().to_vector<double>(), ref, 2e-6) == "");
    std::vector<double> lref = reference_softmax(a.to_vector<double>(), {4, 6}, 0, true);
    CHECK(first_mismatch(a.log_softmax(0).to_vector<double>(), lref, 2e-5) == "");
  }
  SECTION("large input along a non-last axis (parallel path)") {
    Tensor a = randn({300, 400}, 8);
    std::vector<double> x = a.to_vector<double>();
    CHECK(first_mismatch(softmax(a, 0).to_vector<double>(), reference_softmax(x, {300, 400}, 0, false), 2e-6) == "");
    CHECK(first_mismatch(log_softmax(a, 1).to_vector<double>(), reference_softmax(x, {300, 400}, 1, true), 2e-5) ==
          "");
  }
}

TEST_CASE("reduce: softmax over long rows matches the reference, with NaN and all -inf rows", "[reduce][softmax]") {
  // Rows longer than a vector loop's worth: 257 and 1031 leave tails after
  // the 16-lane sum's whole chunks (NOTE [Softmax sum order]).
  for (int64_t n : {256, 257, 1031}) {
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(n, dt);
      Tensor a = randn({5, n}, static_cast<uint64_t>(n), dt) * 4.f;
      std::vector<double> x = a.to_vector<double>();
      const double tol = dt == DType::f32 ? 2e-6 : 1e-13;
      std::vector<double> s = softmax(a).to_vector<double>(), l = log_softmax(a).to_vector<double>();
      CHECK(first_mismatch(s, reference_softmax(x, {5, n}, 1, false), tol) == "");
      CHECK(first_mismatch(l, reference_softmax(x, {5, n}, 1, true), tol * 10) == "");
      CHECK(worst_row_sum_error(s, {5, n}, 1) <= tol * 10);
      // A NaN makes its whole row NaN; an all -inf row is NaN too (0/0, as
      // PyTorch); the other rows are unchanged.
      const double inf = std::numeric_limits<double>::infinity();
      x[static_cast<size_t>(n + 7)] = std::numeric_limits<double>::quiet_NaN();
      for (int64_t j = 0; j < n; ++j) x[static_cast<size_t>(3 * n + j)] = -inf;
      Tensor b = cast(from_vector(x, {5, n}), dt);
      std::vector<double> bs = softmax(b).to_vector<double>();
      for (int64_t j = 0; j < n; ++j) {
        CHECK(std::isnan(bs[static_cast<size_t>(n + j)]));
        CHECK(std::isnan(bs[static_cast<size_t>(3 * n + j)]));
      }
      for (int64_t r : {0, 2, 4})
        for (int64_t j = 0; j < n; ++j)
          CHECK(bs[static_cast<size_t>(r * n + j)] == s[static_cast<size_t>(r * n + j)]);
    }
  }
}

TEST_CASE("reduce: softmax and log_softmax are stable for large inputs", "[reduce][softmax]") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dt);
    Tensor a = cast(tensor({{1000.f, 1001.f, 1002.f}, {-1000.f, 0.f, 1000.f}}), dt);
    std::vector<double> x = a.to_vector<double>();
    std::vector<double> s = softmax(a).to_vector<double>(), l = log_softmax(a).to_vector<double>();
    for (double v : s) CHECK(std::isfinite(v));
    for (double v : l) CHECK(std::isfinite(v));
    CHECK(first_mismatch(s, reference_softmax(x, {2, 3}, 1, false), 1e-6) == "");
    CHECK(first_mismatch(l, reference_softmax(x, {2, 3}, 1, true), 1e-5) == "");
    // The first row is the softmax of {0, 1, 2}, shifted.
    double z = 1 + std::exp(1.0) + std::exp(2.0);
    CHECK(s[2] == Approx(std::exp(2.0) / z).epsilon(1e-6));
    CHECK(l[1] == Approx(1.0 - std::log(z)).epsilon(1e-6));
  }
}

TEST_CASE("reduce: softmax rejects integers and rank 0", "[reduce][softmax]") {
  CHECK_THROWS_AS(softmax(tensor({1, 2, 3})), DTypeError);
  CHECK_THROWS_AS(log_softmax(tensor({1, 2, 3})), DTypeError);
  CHECK_THROWS_AS(softmax(scalar(1.f)), ShapeError);
}

TEST_CASE("reduce: one_hot gives f32 rows, and an out-of-range label is an IndexError", "[reduce][one_hot]") {
  auto reference = [](const std::vector<int64_t>& labels, int64_t depth) {
    std::vector<double> out(labels.size() * depth, 0.0);
    for (size_t i = 0; i < labels.size(); ++i)
      for (int64_t k = 0; k < depth; ++k)
        if (labels[i] == k) out[i * depth + k] = 1.0;
    return out;
  };
  SECTION("i32 labels") {
    Tensor labels = tensor({0, 2, 1, 3, 3});
    Tensor r = one_hot(labels, 4);
    CHECK(r.dtype() == DType::f32);
    REQUIRE(r.shape().vec() == std::vector<int64_t>{5, 4});
    std::vector<float> v = r.to_vector<float>();
    CHECK(v == std::vector<float>{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1});
  }
  SECTION("random 2-D i64 labels") {
    Tensor labels = cast(rand({5, 7}, 3) * 10.f, DType::i64);  // in [0, 10)
    std::vector<int64_t> l = labels.to_vector<int64_t>();
    Tensor r = one_hot(labels, 10);
    CHECK(r.dtype() == DType::f32);
    REQUIRE(r.shape().vec() == std::vector<int64_t>{5, 7, 10});
    CHECK(first_mismatch(r.to_vector<double>(), reference(l, 10), 0.0) == "");
  }
  SECTION("out-of-range labels: the first one, its position and the range") {
    CHECK_THROWS_AS(one_hot(tensor({0, 2, 1, 5, -1, 3}), 4), IndexError);
    CHECK_THROWS_WITH(one_hot(tensor({0, 2, 1, 5, -1, 3}), 4),
                      Catch::StartsWith("one_hot: label 5 at position 3 of i32[6] is out of range [0, 4)"));
    CHECK_THROWS_WITH(one_hot(tensor({{0, 1}, {-1, 2}}), 3),
                      Catch::StartsWith("one_hot: label -1 at [1,0] of i32[2,2] is out of range [0, 3)"));
  }
  SECTION("rank-0 label and depth 0") {
    Tensor r = one_hot(scalar(2), 3);
    CHECK(r.shape().vec() == std::vector<int64_t>{3});
    CHECK(r.to_vector<float>() == std::vector<float>{0, 0, 1});
    // depth 0 leaves no class for labels 1 and 2: refused, not an empty [2,0]
    CHECK_THROWS_WITH(one_hot(tensor({1, 2}), 0), Catch::StartsWith("one_hot: depth must be >= 1, got 0 (labels i32[2])"));
  }
  SECTION("float labels are a DTypeError") { CHECK_THROWS_AS(one_hot(tensor({1.f, 2.f}), 3), DTypeError); }
}
