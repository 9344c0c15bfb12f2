// Linear-algebra and neural-network ops (matmul, conv2d, max_pool2d, dropout) against direct-loop references.
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

using Dims = std::vector<int64_t>;

// randn for floats; a scaled, truncated randn for integers (never all zeros).
Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  if (is_floating(dtype)) return randn(shape, seed, dtype);
  return cast(randn(shape, seed) * 20.f, dtype);
}

int64_t product(const Dims& v) {
  int64_t n = 1;
  for (int64_t d : v) n *= d;
  return n;
}

// Relative tolerance of a dot-product-like result: ~1e-4 for f32 (oneDNN), 1e-10 for f64, exact for integers.
double rtol_of(DType dtype) { return dtype == DType::f32 ? 1e-4 : dtype == DType::f64 ? 1e-10 : 0.0; }

// "" when every |actual - expected| <= rtol * magnitude[i] (exact when rtol is 0), else the first mismatch.
std::string first_mismatch(const std::vector<double>& actual, const std::vector<double>& expected,
                           const std::vector<double>& magnitude, double rtol) {
  if (actual.size() != expected.size())
    return "size " + std::to_string(actual.size()) + " != " + std::to_string(expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    double diff = std::abs(actual[i] - expected[i]);
    if (actual[i] == expected[i] || diff <= rtol * magnitude[i]) continue;
    std::ostringstream os;
    os.precision(17);
    os << "element " << i << ": got " << actual[i] << ", expected " << expected[i] << " (allowed "
       << rtol * magnitude[i] << ")";
    return os.str();
  }
  return "";
}

// Reference (batched, broadcasting) matmul by loops. Also returns sum |a||b| per element for tolerances.
struct Product {
  Dims shape;
  std::vector<double> values, magnitude;
};

Product reference_matmul(const Tensor& a, const Tensor& b) {
  Dims as = a.shape().vec(), bs = b.shape().vec();
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  Dims ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  size_t br = std::max(ab.size(), bb.size());
  while (ab.size() < br) ab.insert(ab.begin(), 1);  // right-align the batch dims
  while (bb.size() < br) bb.insert(bb.begin(), 1);
  Dims batch(br);
  for (size_t d = 0; d < br; ++d) batch[d] = std::max(ab[d], bb[d]);
  Product p;
  p.shape = batch;
  p.shape.push_back(m);
  p.shape.push_back(n);
  int64_t batches = product(batch);
  p.values.assign(batches * m * n, 0.0);
  p.magnitude.assign(batches * m * n, 0.0);
  for (int64_t bi = 0; bi < batches; ++bi) {
    // Unravel the output batch index; a broadcast dim (size 1) reads index 0.
    int64_t rem = bi, oa = 0, ob = 0, sa = 1, sb = 1;
    for (int d = static_cast<int>(br) - 1; d >= 0; --d) {
      int64_t i = rem % batch[d];
      rem /= batch[d];
      oa += (ab[d] == 1 ? 0 : i) * sa;
      ob += (bb[d] == 1 ? 0 : i) * sb;
      sa *= ab[d];
      sb *= bb[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, mag = 0;
        for (int64_t q = 0; q < k; ++q) {
          double t = x[(oa * m + i) * k + q] * y[(ob * k + q) * n + j];
          s += t;
          mag += std::abs(t);
        }
        p.values[(bi * m + i) * n + j] = s;
        p.magnitude[(bi * m + i) * n + j] = mag;
      }
  }
  return p;
}

void check_matmul(const Tensor& a, const Tensor& b) {
  CAPTURE(a.type().str(), b.type().str());
  Product ref = reference_matmul(a, b);
  Tensor c = matmul(a, b);
  CHECK(c.dtype() == a.dtype());
  REQUIRE(c.shape().vec() == ref.shape);
  CHECK(first_mismatch(c.to_vector<double>(), ref.values, ref.magnitude, rtol_of(a.dtype())) == "");
}

const DType kNumeric[] = {DType::f32, DType::f64, DType::i32, DType::i64};

}  // namespace

TEST_CASE("nn: 2-D matmul matches a triple loop", "[nn][matmul]") {
  for (DType dt : kNumeric) {
    check_matmul(random_tensor({37, 53}, dt, 1), random_tensor({53, 29}, dt, 2));
    check_matmul(random_tensor({1, 7}, dt, 3), random_tensor({7, 1}, dt, 4));
    check_matmul(random_tensor({5, 1}, dt, 5), random_tensor({1, 6}, dt, 6));
    check_matmul(random_tensor({130, 257}, dt, 7), random_tensor({257, 67}, dt, 8));
  }
}

TEST_CASE("nn: batched matmul, with batch broadcasting", "[nn][matmul]") {
  for (DType dt : kNumeric) {
    check_matmul(random_tensor({3, 7, 5}, dt, 1), random_tensor({3, 5, 4}, dt, 2));
    check_matmul(random_tensor({3, 4, 5}, dt, 3), random_tensor({5, 6}, dt, 4));
    check_matmul(random_tensor({4, 5}, dt, 5), random_tensor({3, 5, 6}, dt, 6));
    check_matmul(random_tensor({2, 1, 4, 5}, dt, 7), random_tensor({3, 5, 6}, dt, 8));
    check_matmul(random_tensor({1, 3, 4, 5}, dt, 9), random_tensor({2, 1, 5, 6}, dt, 10));
    check_matmul(random_tensor({2, 3, 6, 9}, dt, 11), random_tensor({2, 3, 9, 2}, dt, 12));
  }
  CHECK(matmul(randn({2, 1, 4, 5}, 1), randn({3, 5, 6}, 2)).shape().vec() == Dims{2, 3, 4, 6});
  CHECK(matmul(randn({4, 5}, 1), randn({3, 5, 6}, 2)).shape().vec() == Dims{3, 4, 6});
}

TEST_CASE("nn: matmul with an empty inner dim gives zeros", "[nn][matmul]") {
  for (DType dt : kNumeric) {
    CAPTURE(dt);
    Tensor c = matmul(random_tensor({3, 0}, dt, 1), random_tensor({0, 4}, dt, 2));
    CHECK(c.dtype() == dt);
    REQUIRE(c.shape().vec() == Dims{3, 4});
    for (double v : c.to_vector<double>()) CHECK(v == 0.0);
    Tensor batched = matmul(random_tensor({2, 3, 0}, dt, 3), random_tensor({0, 5}, dt, 4));
    REQUIRE(batched.shape().vec() == Dims{2, 3, 5});
    for (double v : batched.to_vector<double>()) CHECK(v == 0.0);
  }
  CHECK(matmul(randn({0, 3}, 1), randn({3, 4}, 2)).shape().vec() == Dims{0, 4});
}

TEST_CASE("nn: the method form a.matmul(b)", "[nn][matmul]") {
  for (DType dt : kNumeric) {
    Tensor a = random_tensor({6, 11}, dt, 31), b = random_tensor({11, 3}, dt, 32);
    Product ref = reference_matmul(a, b);
    Tensor c = a.matmul(b);
    REQUIRE(c.shape().vec() == ref.shape);
    CHECK(first_mismatch(c.to_vector<double>(), ref.values, ref.magnitude, rtol_of(dt)) == "");
  }
}

namespace {

// Reference conv2d: NCHW input, OIHW weights, zero padding.
Product reference_conv2d(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad) {
  Dims xs = x.shape().vec(), ws = w.shape().vec();
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], KH = ws[2], KW = ws[3];
  int64_t HO = (H + 2 * pad - KH) / stride + 1, WO = (W + 2 * pad - KW) / stride + 1;
  Product p;
  p.shape = {N, O, HO, WO};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < HO; ++oh)
        for (int64_t ow = 0; ow < WO; ++ow) {
          double s = 0, mag = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                double t = xv[((n * C + c) * H + ih) * W + iw] * wv[((o * C + c) * KH + kh) * KW + kw];
                s += t;
                mag += std::abs(t);
              }
          p.values.push_back(s);
          p.magnitude.push_back(mag);
        }
  return p;
}

}  // namespace

TEST_CASE("nn: conv2d matches a direct loop (stride 1/2, padding 0/1)", "[nn][conv2d]") {
  struct Case {
    Dims x, w;
  };
  const std::vector<Case> cases = {
      {{2, 3, 9, 8}, {4, 3, 3, 3}},
      {{1, 1, 7, 7}, {2, 1, 1, 1}},
      {{2, 2, 10, 11}, {3, 2, 2, 3}},
      {{1, 4, 5, 5}, {5, 4, 5, 5}},
      {{2, 8, 28, 28}, {16, 8, 5, 5}},
  };
  uint64_t seed = 1;
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : cases)
      for (int64_t stride : {1, 2})
        for (int64_t pad : {0, 1}) {
          CAPTURE(dt, c.x, c.w, stride, pad);
          Tensor x = randn(Shape(c.x), seed++, dt), w = randn(Shape(c.w), seed++, dt);
          Product ref = reference_conv2d(x, w, stride, pad);
          Tensor y = conv2d(x, w, stride, pad);
          CHECK(y.dtype() == dt);
          REQUIRE(y.shape().vec() == ref.shape);
          CHECK(first_mismatch(y.to_vector<double>(), ref.values, ref.magnitude, rtol_of(dt)) == "");
        }
  SECTION("defaults are stride 1, padding 0") {
    Tensor x = randn({1, 2, 6, 6}, 3), w = randn({3, 2, 3, 3}, 4);
    Product ref = reference_conv2d(x, w, 1, 0);
    Tensor y = conv2d(x, w);
    REQUIRE(y.shape().vec() == Dims{1, 3, 4, 4});
    CHECK(first_mismatch(y.to_vector<double>(), ref.values, ref.magnitude, 1e-4) == "");
  }
}

namespace {

Dims reference_pool_shape(const Dims& xs, int64_t k, int64_t s) {
  return {xs[0], xs[1], (xs[2] - k) / s + 1, (xs[3] - k) / s + 1};
}

std::vector<double> reference_max_pool(const Tensor& x, int64_t k, int64_t s) {
  Dims xs = x.shape().vec();
  std::vector<double> xv = x.to_vector<double>(), y;
  Dims ys = reference_pool_shape(xs, k, s);
  for (int64_t nc = 0; nc < xs[0] * xs[1]; ++nc)
    for (int64_t oh = 0; oh < ys[2]; ++oh)
      for (int64_t ow = 0; ow < ys[3]; ++ow) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) m = std::max(m, xv[(nc * xs[2] + oh * s + i) * xs[3] + ow * s + j]);
        y.push_back(m);
      }
  return y;
}

}  // namespace

TEST_CASE("nn: max_pool2d matches a loop reference", "[nn][max_pool2d]") {
  struct Case {
    Dims x;
    int64_t kernel, stride;
  };
  const std::vector<Case> cases = {
      {{2, 3, 8, 8}, 2, 2}, {{2, 3, 8, 8}, 3, 1}, {{1, 2, 7, 9}, 2, 2}, {{1, 2, 7, 9}, 3, 1},
      {{3, 1, 5, 5}, 3, 2}, {{1, 1, 4, 4}, 4, 1}, {{2, 4, 28, 28}, 2, 2},
  };
  uint64_t seed = 1;
  for (DType dt : kNumeric)
    for (const Case& c : cases) {
      CAPTURE(dt, c.x, c.kernel, c.stride);
      Tensor x = random_tensor(Shape(c.x), dt, seed++);
      Tensor y = max_pool2d(x, c.kernel, c.stride);
      CHECK(y.dtype() == dt);
      REQUIRE(y.shape().vec() == reference_pool_shape(c.x, c.kernel, c.stride));
      std::vector<double> ref = reference_max_pool(x, c.kernel, c.stride);
      CHECK(y.to_vector<double>() == ref);
    }
  SECTION("the stride defaults to the kernel") {
    Tensor x = randn({1, 2, 6, 6}, 9);
    Tensor y = max_pool2d(x, 2);
    REQUIRE(y.shape().vec() == Dims{1, 2, 3, 3});
    CHECK(y.to_vector<double>() == reference_max_pool(x, 2, 2));
  }
  SECTION("negative inputs (the max is not clipped at 0)") {
    Tensor x = -abs(randn({1, 1, 4, 4}, 5)) - 1.f;
    CHECK(max_pool2d(x, 2, 2).to_vector<double>() == reference_max_pool(x, 2, 2));
  }
}

TEST_CASE("nn: dropout with rate 0 is the identity", "[nn][dropout]") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = randn({7, 13}, 1, dt);
    Tensor y = dropout(x, 0.0, 5);
    CHECK(y.type() == x.type());
    CHECK(y.to_vector<double>() == x.to_vector<double>());
  }
}

TEST_CASE("nn: dropout keeps about 1-rate of the elements, scaled", "[nn][dropout]") {
  const int64_t n = 100000;
  for (DType dt : {DType::f32, DType::f64})
    for (double rate : {0.5, 0.25}) {
      CAPTURE(dt, rate);
      Tensor x = randn({n}, 3, dt) + 3.f;  // positive, never 0, so a dropped element is exactly 0
      std::vector<double> xv = x.to_vector<double>(), yv = dropout(x, rate, 11).to_vector<double>();
      REQUIRE(yv.size() == xv.size());
      const double scale = 1.0 / (1.0 - rate);
      int64_t kept = 0, bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (yv[i] == 0.0) continue;
        ++kept;
        double want = xv[i] * scale;
        if (std::abs(yv[i] - want) > 1e-6 * std::abs(want)) ++bad;
      }
      CHECK(bad == 0);
      // Binomial(n, 1-rate): a standard deviation of at most 160 elements; allow about 6.
      CHECK(std::abs(double(kept) - double(n) * (1.0 - rate)) < 1000.0);
    }
}

TEST_CASE("nn: dropout masks repeat for a seed and differ across seeds", "[nn][dropout]") {
  const int64_t n = 100000;
  Tensor x = rand({n}, 1) + 0.5f;
  auto mask = [&](uint64_t seed) {
    std::vector<float> y = dropout(x, 0.5, seed).to_vector<float>();
    std::vector<bool> m(y.size());
    for (size_t i = 0; i < y.size(); ++i) m[i] = y[i] != 0.f;
    return m;
  };
  std::vector<bool> a = mask(7), b = mask(7), c = mask(8);
  CHECK(a == b);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += a[i] != c[i];
  // Independent masks at rate 0.5 differ in about half the positions.
  CHECK(differ > 45000);
  CHECK(differ < 55000);
  CHECK(dropout(x, 0.5, 7).to_vector<float>() == dropout(x, 0.5, 7).to_vector<float>());
}

TEST_CASE("nn: dropout preserves the expected value of its input", "[nn][dropout]") {
  // E[dropout(x)] = E[x] needs a mask independent of the values. Seeds are
  // small integers in practice (both default to 0), so the mask must not be
  // the same stream as rand()/randn() with the same seed.
  const int64_t n = 100000;
  for (uint64_t seed : {0, 1, 42}) {
    CAPTURE(seed);
    Tensor x = rand({n}, seed);
    double mx = mean(x).item<double>();
    double my = mean(dropout(x, 0.5, seed)).item<double>();
    // The sample mean of Uniform[0,1) has sd ~0.001; dropout adds about as much again.
    CHECK(std::abs(my - mx) < 0.02);
  }
}

TEST_CASE("nn: dropout rejects integers and rates outside 0 <= rate < 1", "[nn][dropout]") {
  CHECK_THROWS_AS(dropout(tensor({1, 2, 3}), 0.5, 1), DTypeError);
  CHECK_THROWS_AS(dropout(tensor({1, 2, 3}), 0.0, 1), DTypeError);
  CHECK_THROWS_AS(dropout(randn({3}, 1), 1.0, 1), Error);
  CHECK_THROWS_AS(dropout(randn({3}, 1), -0.1, 1), Error);
}
