// Data-movement ops (reshape, transpose, expand_dims, squeeze, broadcast_to, concat, slice, gather) vs loops.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

using namespace duet;

namespace {

using Dims = std::vector<int64_t>;

const DType kAll[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};

// A random tensor of any dtype, never all zeros: randn for floats, a scaled
// truncated randn for integers, randn > 0 for b8.
Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  if (is_floating(dtype)) return randn(shape, seed, dtype);
  if (dtype == DType::b8) return randn(shape, seed) > 0.f;
  return cast(randn(shape, seed) * 1000.f, dtype);
}

int64_t product(const Dims& v) {
  int64_t n = 1;
  for (int64_t d : v) n *= d;
  return n;
}

// Row-major multi-index of flat position i.
Dims unravel(int64_t i, const Dims& shape) {
  Dims idx(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

int64_t ravel(const Dims& idx, const Dims& shape) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
  return f;
}

// "" when the values are equal (exactly: data movement does no arithmetic), else the first difference.
std::string first_difference(const std::vector<double>& actual, const std::vector<double>& expected) {
  if (actual.size() != expected.size())
    return "size " + std::to_string(actual.size()) + " != " + std::to_string(expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    if (actual[i] != expected[i]) {
      std::ostringstream os;
      os.precision(17);
      os << "element " << i << ": got " << actual[i] << ", expected " << expected[i];
      return os.str();
    }
  return "";
}

// Checks dtype, shape and values of `got`.
void check_tensor(const Tensor& got, DType dtype, const Dims& shape, const std::vector<double>& values) {
  CHECK(got.dtype() == dtype);
  REQUIRE(got.shape().vec() == shape);
  CHECK(first_difference(got.to_vector<double>(), values) == "");
}

// Reference transpose: out[i_0..] = in[j] with j[perm[d]] = i[d].
std::vector<double> reference_permute(const std::vector<double>& x, const Dims& shape, const Dims& perm,
                                      Dims* out_shape) {
  Dims os;
  for (int64_t p : perm) os.push_back(shape[p]);
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    Dims oi = unravel(i, os), ii(shape.size());
    for (size_t d = 0; d < perm.size(); ++d) ii[perm[d]] = oi[d];
    y[i] = x[ravel(ii, shape)];
  }
  *out_shape = os;
  return y;
}

}  // namespace

TEST_CASE("shape: reshape keeps the data and infers one -1", "[shape][reshape]") {
  for (DType dt : kAll) {
    CAPTURE(dt);
    Tensor a = random_tensor({2, 3, 4}, dt, 1);
    std::vector<double> x = a.to_vector<double>();
    check_tensor(reshape(a, {4, -1}), dt, {4, 6}, x);
    check_tensor(reshape(a, {-1}), dt, {24}, x);
    check_tensor(reshape(a, {2, -1, 4}), dt, {2, 3, 4}, x);
    check_tensor(a.reshape({1, 24, 1}), dt, {1, 24, 1}, x);
  }
  SECTION("rank 0 through reshape(a, {})") {
    Tensor one = from_vector(std::vector<float>{2.5f}, {1, 1});
    Tensor r = reshape(one, {});
    CHECK(r.rank() == 0);
    CHECK(r.numel() == 1);
    CHECK(r.item<float>() == 2.5f);
    check_tensor(reshape(scalar(7), {1, 1, 1}), DType::i32, {1, 1, 1}, {7});
    check_tensor(reshape(scalar(7), {-1}), DType::i32, {1}, {7});
  }
  SECTION("empty tensors") {
    Tensor e = randn({0, 3}, 1);
    CHECK(reshape(e, {-1}).shape().vec() == Dims{0});
    CHECK(reshape(e, {3, 0, 5}).shape().vec() == Dims{3, 0, 5});
  }
  SECTION("bad requests are ShapeErrors") {
    Tensor a = randn({2, 3, 4}, 1);
    CHECK_THROWS_AS(reshape(a, {5, -1}), ShapeError);
    CHECK_THROWS_AS(reshape(a, {-1, -1}), ShapeError);
    CHECK_THROWS_AS(reshape(a, {7}), ShapeError);
    CHECK_THROWS_AS(reshape(a, {}), ShapeError);
    CHECK_THROWS_AS(reshape(a, {-2, 12}), ShapeError);
  }
}

TEST_CASE("shape: transpose matches a loop reference", "[shape][transpose]") {
  struct Case {
    Dims shape, perm;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {1, 0}},          {{2, 3, 4}, {2, 0, 1}},    {{2, 3, 4}, {0, 2, 1}},      {{2, 3, 4}, {1, 0, 2}},
      {{2, 3, 4, 5}, {3, 1, 0, 2}}, {{2, 3, 4, 5}, {0, 1, 3, 2}}, {{1, 3, 1, 5}, {2, 3, 0, 1}}, {{2, 3, 4}, {0, 1, 2}},
  };
  uint64_t seed = 1;
  for (const Case& c : cases)
    for (DType dt : kAll) {
      CAPTURE(c.shape, c.perm, dt);
      Tensor a = random_tensor(Shape(c.shape), dt, seed++);
      Dims os;
      std::vector<double> ref = reference_permute(a.to_vector<double>(), c.shape, c.perm, &os);
      check_tensor(transpose(a, c.perm), dt, os, ref);
      check_tensor(a.transpose(c.perm), dt, os, ref);
    }
  SECTION("negative perm entries count from the end") {
    Tensor a = randn({2, 3, 4}, 9);
    Dims os;
    std::vector<double> ref = reference_permute(a.to_vector<double>(), {2, 3, 4}, {2, 0, 1}, &os);
    check_tensor(transpose(a, {-1, 0, 1}), DType::f32, os, ref);
  }
  SECTION("rank 0 with the empty perm") {
    Tensor r = transpose(scalar(1.5f), std::vector<int64_t>{});
    CHECK(r.rank() == 0);
    CHECK(r.item<float>() == 1.5f);
  }
  SECTION("bad perms are ShapeErrors") {
    Tensor a = randn({2, 3, 4}, 9);
    CHECK_THROWS_AS(transpose(a, {0, 1}), ShapeError);
    CHECK_THROWS_AS(transpose(a, {0, 1, 1}), ShapeError);
    CHECK_THROWS_AS(transpose(a, {0, 1, 3}), ShapeError);
    CHECK_THROWS_AS(transpose(tensor({1.f, 2.f})), ShapeError);
  }
}

TEST_CASE("shape: transpose without a perm swaps the last two dims", "[shape][transpose]") {
  for (DType dt : kAll) {
    CAPTURE(dt);
    Tensor a = random_tensor({2, 3, 5}, dt, 4);
    Dims os;
    std::vector<double> ref = reference_permute(a.to_vector<double>(), {2, 3, 5}, {0, 2, 1}, &os);
    check_tensor(transpose(a), dt, {2, 5, 3}, ref);
    check_tensor(a.transpose(), dt, {2, 5, 3}, ref);
  }
}

TEST_CASE("shape: large 2-D transposes match a loop reference", "[shape][transpose]") {
  for (DType dt : kAll) {
    CAPTURE(dt);
    const int64_t rows = 513, cols = 1031;
    Tensor a = random_tensor({rows, cols}, dt, 77);
    std::vector<double> x = a.to_vector<double>(), ref(x.size());
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) ref[j * rows + i] = x[i * cols + j];
    check_tensor(transpose(a), dt, {cols, rows}, ref);
  }
  SECTION("a large batched transpose") {
    Tensor a = randn({3, 257, 129}, 5, DType::f64);
    Dims os;
    std::vector<double> ref = reference_permute(a.to_vector<double>(), {3, 257, 129}, {2, 1, 0}, &os);
    check_tensor(transpose(a, {2, 1, 0}), DType::f64, os, ref);
  }
}

TEST_CASE("shape: expand_dims inserts a size-1 dim", "[shape][expand_dims]") {
  for (DType dt : kAll) {
    CAPTURE(dt);
    Tensor a = random_tensor({2, 3}, dt, 3);
    std::vector<double> x = a.to_vector<double>();
    check_tensor(expand_dims(a, 0), dt, {1, 2, 3}, x);
    check_tensor(expand_dims(a, 1), dt, {2, 1, 3}, x);
    check_tensor(expand_dims(a, 2), dt, {2, 3, 1}, x);
    check_tensor(expand_dims(a, -1), dt, {2, 3, 1}, x);
    check_tensor(expand_dims(a, -2), dt, {2, 1, 3}, x);
    check_tensor(a.expand_dims(-3), dt, {1, 2, 3}, x);
  }
  check_tensor(expand_dims(scalar(4.f), 0), DType::f32, {1}, {4});
  CHECK_THROWS_AS(expand_dims(randn({2, 3}, 1), 3), Error);
  CHECK_THROWS_AS(expand_dims(randn({2, 3}, 1), -4), Error);
}

TEST_CASE("shape: squeeze removes size-1 dims", "[shape][squeeze]") {
  for (DType dt : kAll) {
    CAPTURE(dt);
    Tensor a = random_tensor({1, 3, 1, 2}, dt, 5);
    std::vector<double> x = a.to_vector<double>();
    check_tensor(squeeze(a), dt, {3, 2}, x);
    check_tensor(squeeze(a, {0}), dt, {3, 1, 2}, x);
    check_tensor(squeeze(a, {-2}), dt, {1, 3, 2}, x);
    check_tensor(squeeze(a, {2, 0}), dt, {3, 2}, x);
    check_tensor(a.squeeze({2}), dt, {1, 3, 2}, x);
  }
  Tensor ones_only = from_vector(std::vector<float>{3.f}, {1, 1});
  Tensor r = squeeze(ones_only);
  CHECK(r.rank() == 0);
  CHECK(r.item<float>() == 3.f);
  check_tensor(squeeze(randn({2, 3}, 1) > 0.f), DType::b8, {2, 3}, (randn({2, 3}, 1) > 0.f).to_vector<double>());
  SECTION("a non-1 axis is a ShapeError") {
    Tensor a = randn({1, 3, 1, 2}, 5);
    CHECK_THROWS_AS(squeeze(a, {1}), ShapeError);
    CHECK_THROWS_AS(squeeze(a, {0, -1}), ShapeError);
  }
}

TEST_CASE("shape: broadcast_to matches a loop reference", "[shape][broadcast_to]") {
  struct Case {
    Dims from, to;
  };
  const std::vector<Case> cases = {
      {{3, 1}, {2, 3, 4}}, {{4}, {3, 4}}, {{}, {2, 2}}, {{1, 3, 1}, {2, 3, 5}}, {{2, 3}, {2, 3}}, {{5, 1}, {5, 0}},
  };
  uint64_t seed = 1;
  for (const Case& c : cases)
    for (DType dt : kAll) {
      CAPTURE(c.from, c.to, dt);
      Tensor a = random_tensor(Shape(c.from), dt, seed++);
      std::vector<double> x = a.to_vector<double>(), ref(product(c.to));
      size_t lead = c.to.size() - c.from.size();
      for (int64_t i = 0; i < product(c.to); ++i) {
        Dims oi = unravel(i, c.to), ii;
        for (size_t d = 0; d < c.from.size(); ++d) ii.push_back(c.from[d] == 1 ? 0 : oi[lead + d]);
        ref[i] = x[ravel(ii, c.from)];
      }
      check_tensor(broadcast_to(a, Shape(c.to)), dt, c.to, ref);
      check_tensor(a.broadcast_to(Shape(c.to)), dt, c.to, ref);
    }
  SECTION("shapes that do not broadcast are ShapeErrors") {
    CHECK_THROWS_AS(broadcast_to(randn({3}, 1), {4}), ShapeError);
    CHECK_THROWS_AS(broadcast_to(randn({2, 3}, 1), {3}), ShapeError);
    CHECK_THROWS_AS(broadcast_to(randn({2, 3}, 1), {3, 3}), ShapeError);
  }
}

namespace {

// Reference concat along `axis` of row-major inputs.
std::vector<double> reference_concat(const std::vector<Tensor>& parts, int axis, Dims* out_shape) {
  Dims os = parts[0].shape().vec();
  os[axis] = 0;
  for (const Tensor& t : parts) os[axis] += t.shape()[axis];
  std::vector<double> y(product(os));
  for (int64_t i = 0; i < product(os); ++i) {
    Dims oi = unravel(i, os);
    int64_t k = oi[axis];
    for (const Tensor& t : parts) {
      Dims s = t.shape().vec();
      if (k < s[axis]) {
        Dims ii = oi;
        ii[axis] = k;
        y[i] = t.to_vector<double>()[ravel(ii, s)];
        break;
      }
      k -= s[axis];
    }
  }
  *out_shape = os;
  return y;
}

}  // namespace

TEST_CASE("shape: concat matches a loop reference", "[shape][concat]") {
  for (DType dt : kAll) {
    CAPTURE(dt);
    Dims os;
    std::vector<Tensor> rows = {random_tensor({2, 3}, dt, 1), random_tensor({4, 3}, dt, 2)};
    std::vector<double> ref = reference_concat(rows, 0, &os);
    check_tensor(concat(rows, 0), dt, {6, 3}, ref);
    check_tensor(concat(rows), dt, {6, 3}, ref);  // axis 0 by default

    std::vector<Tensor> cols = {random_tensor({2, 3}, dt, 3), random_tensor({2, 5}, dt, 4),
                                random_tensor({2, 1}, dt, 5)};
    ref = reference_concat(cols, 1, &os);
    check_tensor(concat(cols, 1), dt, {2, 9}, ref);
    check_tensor(concat(cols, -1), dt, {2, 9}, ref);

    std::vector<Tensor> mids = {random_tensor({2, 3, 4}, dt, 6), random_tensor({2, 2, 4}, dt, 7)};
    ref = reference_concat(mids, 1, &os);
    check_tensor(concat(mids, -2), dt, {2, 5, 4}, ref);

    std::vector<Tensor> lasts = {random_tensor({2, 3, 4}, dt, 8), random_tensor({2, 3, 1}, dt, 9)};
    ref = reference_concat(lasts, 2, &os);
    check_tensor(concat(lasts, -1), dt, {2, 3, 5}, ref);

    Tensor single = random_tensor({3, 2}, dt, 10);
    check_tensor(concat({single}, 1), dt, {3, 2}, single.to_vector<double>());
  }
  SECTION("an empty part") {
    Tensor a = randn({2, 3}, 1), e = randn({2, 0}, 2);
    check_tensor(concat({a, e}, 1), DType::f32, {2, 3}, a.to_vector<double>());
  }
  SECTION("mismatched inputs") {
    Tensor a = randn({2, 3}, 1);
    CHECK_THROWS_AS(concat({a, randn({3, 4}, 2)}, 0), ShapeError);
    CHECK_THROWS_AS(concat({a, randn({3, 3}, 2)}, 1), ShapeError);
    CHECK_THROWS_AS(concat({a, randn({3}, 2)}, 0), ShapeError);
    CHECK_THROWS_AS(concat({a, randn({2, 3}, 2, DType::f64)}, 0), DTypeError);
    CHECK_THROWS_AS(concat({a, a}, 2), Error);
  }
}

TEST_CASE("shape: slice follows Python's rules", "[shape][slice]") {
  // Python's a[begin:end] along one axis: negative counts from the end, then clamp to [0, n].
  auto python_range = [](int64_t begin, int64_t end, int64_t n) {
    if (begin < 0) begin += n;
    if (end < 0) end += n;
    begin = std::clamp<int64_t>(begin, 0, n);
    end = std::clamp<int64_t>(end, 0, n);
    return std::pair<int64_t, int64_t>{begin, std::max(begin, end)};
  };
  struct Case {
    int64_t axis, begin, end;
    int64_t expected_len;  // written by hand from Python
  };
  const Dims shape = {5, 6, 4};
  const std::vector<Case> cases = {
      {0, 1, 3, 2},   {1, -4, -1, 3}, {0, 1, 100, 4}, {0, -100, 2, 2}, {1, 4, 2, 0},  {0, 5, 10, 0},
      {2, 0, 4, 4},   {-1, 1, -1, 2}, {-2, -2, 6, 2}, {1, 3, 3, 0},    {2, -1, 4, 1}, {0, -5, -4, 1},
  };
  for (DType dt : kAll) {
    Tensor a = random_tensor(Shape(shape), dt, 42);
    std::vector<double> x = a.to_vector<double>();
    for (const Case& c : cases) {
      CAPTURE(dt, c.axis, c.begin, c.end);
      int axis = static_cast<int>(c.axis < 0 ? c.axis + 3 : c.axis);
      auto [b, e] = python_range(c.begin, c.end, shape[axis]);
      REQUIRE(e - b == c.expected_len);
      Dims os = shape;
      os[axis] = e - b;
      std::vector<double> ref;
      for (int64_t i = 0; i < product(os); ++i) {
        Dims ii = unravel(i, os);
        ii[axis] += b;
        ref.push_back(x[ravel(ii, shape)]);
      }
      check_tensor(slice(a, c.axis, c.begin, c.end), dt, os, ref);
    }
  }
  CHECK_THROWS_AS(slice(scalar(1.f), 0, 0, 1), ShapeError);
  CHECK_THROWS_AS(slice(randn({2, 3}, 1), 2, 0, 1), Error);
}

TEST_CASE("shape: gather along axis 0 and 1 with i32 and i64 indices", "[shape][gather]") {
  auto reference = [](const std::vector<double>& x, const Dims& shape, const std::vector<int64_t>& idx,
                      const Dims& idx_shape, int axis, Dims* out_shape) {
    Dims os(shape.begin(), shape.begin() + axis);
    os.insert(os.end(), idx_shape.begin(), idx_shape.end());
    os.insert(os.end(), shape.begin() + axis + 1, shape.end());
    std::vector<double> y;
    int ir = static_cast<int>(idx_shape.size());
    for (int64_t i = 0; i < product(os); ++i) {
      Dims oi = unravel(i, os);
      Dims ii(oi.begin(), oi.begin() + axis);
      Dims which(oi.begin() + axis, oi.begin() + axis + ir);
      ii.push_back(idx[ravel(which, idx_shape)]);
      ii.insert(ii.end(), oi.begin() + axis + ir, oi.end());
      y.push_back(x[ravel(ii, shape)]);
    }
    *out_shape = os;
    return y;
  };
  for (DType dt : kAll)
    for (DType it : {DType::i32, DType::i64}) {
      CAPTURE(dt, it);
      Tensor a = random_tensor({4, 3, 2}, dt, 17);
      std::vector<double> x = a.to_vector<double>();
      Dims os;

      Tensor rows = cast(tensor({3, 0, 0, 2, 1}), it);
      std::vector<double> ref = reference(x, {4, 3, 2}, rows.to_vector<int64_t>(), {5}, 0, &os);
      check_tensor(gather(a, rows, 0), dt, {5, 3, 2}, ref);
      check_tensor(gather(a, rows), dt, {5, 3, 2}, ref);  // axis 0 by default

      Tensor cols = cast(tensor({{2, 2}, {0, 1}}), it);
      ref = reference(x, {4, 3, 2}, cols.to_vector<int64_t>(), {2, 2}, 1, &os);
      check_tensor(gather(a, cols, 1), dt, {4, 2, 2, 2}, ref);

      Tensor last = cast(tensor({1, 1, 0}), it);
      ref = reference(x, {4, 3, 2}, last.to_vector<int64_t>(), {3}, 2, &os);
      check_tensor(gather(a, last, -1), dt, {4, 3, 3}, ref);

      Tensor one = cast(scalar(2), it);  // rank-0 indices drop the axis
      ref = reference(x, {4, 3, 2}, {2}, {}, 1, &os);
      check_tensor(gather(a, one, 1), dt, {4, 2}, ref);
    }
  SECTION("random indices into a larger table") {
    Tensor table = randn({1000, 16}, 3, DType::f64);
    Tensor idx = cast(rand({300}, 4) * 1000.f, DType::i64);
    Dims os;
    std::vector<double> ref = reference(table.to_vector<double>(), {1000, 16}, idx.to_vector<int64_t>(), {300}, 0, &os);
    check_tensor(gather(table, idx, 0), DType::f64, {300, 16}, ref);
  }
  SECTION("an index out of range is an Error naming gather") {
    Tensor a = randn({4, 3}, 1);
    for (Tensor bad : {tensor({0, 4}), tensor({int64_t{1}, int64_t{-7}}), tensor({9})}) {
      CAPTURE(bad.to_vector<int64_t>());
      bool threw = false;
      try {
        (void)gather(a, bad, 0);
      } catch (const Error& e) {
        threw = true;
        CHECK_THAT(e.what(), Catch::Contains("gather"));
        CHECK_THAT(e.what(), Catch::Contains("f32[4,3]"));
      }
      CHECK(threw);
    }
    CHECK_THROWS_AS(gather(a, tensor({3}), 1), Error);
  }
  SECTION("float indices are a DTypeError") { CHECK_THROWS_AS(gather(randn({4, 3}, 1), tensor({1.f}), 0), DTypeError); }
}
