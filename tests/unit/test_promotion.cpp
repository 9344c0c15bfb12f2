// Type promotion: tensor-tensor order b8 < i32 < i64 < f32 < f64, weak C++ scalars, b8 comparisons, b8-only logic.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <cstdint>
#include <vector>

using namespace duet;

namespace {

// The promotion order as DESIGN.md §1 states it.
constexpr DType kOrder[] = {DType::b8, DType::i32, DType::i64, DType::f32, DType::f64};

int rank_in_order(DType t) {
  for (int i = 0; i < 5; ++i)
    if (kOrder[i] == t) return i;
  return -1;
}

// A two-element tensor of dtype t holding {1, 0} (b8: {true, false}) built
// without any op, so the test of promotion does not rest on cast.
Tensor one_zero(DType t) {
  switch (t) {
    case DType::b8: return tensor({true, false});
    case DType::i32: return tensor({1, 0});
    case DType::i64: return from_vector(std::vector<int64_t>{1, 0}, {2});
    case DType::f32: return tensor({1.f, 0.f});
    case DType::f64: return from_vector(std::vector<double>{1.0, 0.0}, {2});
  }
  return {};
}

}  // namespace

TEST_CASE("promotion: tensor with tensor takes the larger dtype in b8 < i32 < i64 < f32 < f64", "[promotion]") {
  for (DType x : kOrder)
    for (DType y : kOrder) {
      INFO(dtype_name(x) << " with " << dtype_name(y));
      DType want = kOrder[std::max(rank_in_order(x), rank_in_order(y))];
      CHECK(promote_types(x, y) == want);
      Tensor a = one_zero(x), b = one_zero(y);
      Tensor w = where(tensor({true, false}), a, b);  // where takes every dtype, b8 included
      CHECK(w.dtype() == want);
      CHECK(w.to_vector<double>() == std::vector<double>{1, 0});
      if (want == DType::b8) continue;  // arithmetic rejects b8 (cast first)
      Tensor s = add(a, b);
      CHECK(s.dtype() == want);
      CHECK(s.to_vector<double>() == std::vector<double>{2, 0});
      CHECK((a * b).dtype() == want);
      CHECK(maximum(a, b).dtype() == want);
    }
}

TEST_CASE("promotion: values survive tensor-tensor promotion", "[promotion]") {
  // i32 + i64 is i64: no truncation to 32 bits.
  Tensor big = from_vector(std::vector<int64_t>{5000000000}, {1});
  Tensor r = tensor({1}) + big;
  CHECK(r.dtype() == DType::i64);
  CHECK(r.item<int64_t>() == 5000000001);
  // An integer and a float give the float.
  Tensor f = tensor({1, 2}) + tensor({0.5f, 0.25f});
  CHECK(f.dtype() == DType::f32);
  CHECK(f.to_vector<float>() == std::vector<float>{1.5f, 2.25f});
  Tensor g = from_vector(std::vector<int64_t>{3}, {1}) * tensor({0.5f});
  CHECK(g.dtype() == DType::f32);
  CHECK(g.item<float>() == 1.5f);
  // f32 with f64 is f64, holding the f32 value exactly.
  Tensor h = tensor({0.1f}) + from_vector(std::vector<double>{0.0}, {1});
  CHECK(h.dtype() == DType::f64);
  CHECK(h.item<double>() == double(0.1f));
  // b8 counts as 0 / 1.
  Tensor k = tensor({true, false}) + tensor({5, 5});
  CHECK(k.dtype() == DType::i32);
  CHECK(k.to_vector<int32_t>() == std::vector<int32_t>{6, 5});
}

TEST_CASE("promotion: a C++ scalar of the tensor's kind takes the tensor's dtype", "[promotion]") {
  Tensor i = tensor({1, 2, 3});
  Tensor r = i * 3;
  CHECK(r.dtype() == DType::i32);
  CHECK(r.to_vector<int32_t>() == std::vector<int32_t>{3, 6, 9});
  CHECK((3 * i).dtype() == DType::i32);
  CHECK((10 - i).to_vector<int32_t>() == std::vector<int32_t>{9, 8, 7});
  CHECK((i + int64_t(1)).dtype() == DType::i32);
  CHECK(pow(i, 2).dtype() == DType::i32);

  Tensor l = from_vector(std::vector<int64_t>{4000000000}, {1});
  Tensor lr = l * 3;
  CHECK(lr.dtype() == DType::i64);
  CHECK(lr.item<int64_t>() == 12000000000);

  Tensor d = from_vector(std::vector<double>{0.1, 1.0 / 3}, {2});
  Tensor dr = d * 2.f;
  CHECK(dr.dtype() == DType::f64);
  CHECK(dr.to_vector<double>() == std::vector<double>{0.1 * 2, 2.0 / 3});  // computed in f64, not f32
  CHECK((1.f / d).dtype() == DType::f64);
  CHECK((d + 1).dtype() == DType::f64);

  Tensor f = tensor({1.f, 2.f});
  CHECK((2 * f).dtype() == DType::f32);
  CHECK((2 * f).to_vector<float>() == std::vector<float>{2.f, 4.f});
  CHECK((f + 1.0).dtype() == DType::f32);  // a double scalar is weak too
  CHECK((f - 1).dtype() == DType::f32);
}

TEST_CASE("promotion: an integer tensor with a floating scalar becomes f32", "[promotion]") {
  Tensor i = tensor({1, 2, 3});
  Tensor r = i * 0.5;
  CHECK(r.dtype() == DType::f32);
  CHECK(r.to_vector<float>() == std::vector<float>{0.5f, 1.f, 1.5f});
  CHECK((0.5f + i).dtype() == DType::f32);
  CHECK((0.5f + i).to_vector<float>() == std::vector<float>{1.5f, 2.5f, 3.5f});
  Tensor l = from_vector(std::vector<int64_t>{7}, {1});
  CHECK((l / 2.0).dtype() == DType::f32);
  CHECK((l / 2.0).item<float>() == 3.5f);
  CHECK(maximum(i, 1.5).dtype() == DType::f32);
  CHECK(maximum(i, 1.5).to_vector<float>() == std::vector<float>{1.5f, 2.f, 3.f});
  // docs/semantics.md: a b8 tensor with an integer scalar becomes i32.
  Tensor b = tensor({true, false}) + 1;
  CHECK(b.dtype() == DType::i32);
  CHECK(b.to_vector<int32_t>() == std::vector<int32_t>{2, 1});
}

TEST_CASE("promotion: integer scalars keep their exact value", "[promotion]") {
  // Above 2^53 a double cannot hold every integer: the scalar must not pass through one.
  const int64_t big = (int64_t(1) << 53) + 1;
  Tensor l = from_vector(std::vector<int64_t>{0, big}, {2});
  CHECK((l + big).to_vector<int64_t>() == std::vector<int64_t>{big, 2 * big});
  CHECK((big - l).to_vector<int64_t>() == std::vector<int64_t>{big, 0});
  CHECK((l == big).to_vector<bool>() == std::vector<bool>{false, true});
  CHECK(where(tensor({true, false}), l, big).to_vector<int64_t>() == std::vector<int64_t>{0, big});
  // docs/semantics.md: a scalar that does not fit the tensor's integer dtype wraps.
  CHECK((tensor({0}) + int64_t(4294967297)).item<int32_t>() == 1);  // 2^32 + 1
  CHECK((tensor({0}) + int64_t(-4294967295)).item<int32_t>() == 1);
}

TEST_CASE("promotion: two C++ scalars take their literal dtypes", "[promotion]") {
  Tensor a = add(2, 3.5f);
  CHECK(a.dtype() == DType::f32);
  CHECK(a.item<float>() == 5.5f);
  Tensor b = mul(2, 3);
  CHECK(b.dtype() == DType::i32);
  CHECK(b.item<int32_t>() == 6);
  CHECK(b.rank() == 0);
  // int64_t is i64 (docs/semantics.md, literal typing).
  Tensor c = add(int64_t(5000000000), 1);
  CHECK(c.dtype() == DType::i64);
  CHECK(c.item<int64_t>() == 5000000001);
  CHECK(less(1, 1.5).item<bool>());
}

TEST_CASE("promotion: where promotes its two value operands", "[promotion]") {
  Tensor c = tensor({true, false, true});
  Tensor r = where(c, tensor({1, 2, 3}), tensor({0.5f, 0.5f, 0.5f}));
  CHECK(r.dtype() == DType::f32);
  CHECK(r.to_vector<float>() == std::vector<float>{1.f, 0.5f, 3.f});
  Tensor s = where(c, tensor({1, 2, 3}), 0.5);
  CHECK(s.dtype() == DType::f32);
  CHECK(s.to_vector<float>() == std::vector<float>{1.f, 0.5f, 3.f});
  Tensor t = where(c, tensor({1, 2, 3}), -1);
  CHECK(t.dtype() == DType::i32);
  CHECK(t.to_vector<int32_t>() == std::vector<int32_t>{1, -1, 3});
}

TEST_CASE("promotion: comparisons promote their operands and return b8", "[promotion]") {
  for (DType x : kOrder)
    for (DType y : kOrder) {
      INFO(dtype_name(x) << " with " << dtype_name(y));
      Tensor a = one_zero(x), b = one_zero(y);
      CHECK((a < b).dtype() == DType::b8);
      CHECK((a == b).dtype() == DType::b8);
      CHECK((a == b).to_vector<bool>() == std::vector<bool>{true, true});
      CHECK(greater_equal(a, b).dtype() == DType::b8);
    }
  Tensor i = tensor({1, 2, 3});
  // The scalar 2.5 is compared as a float, not truncated to 2.
  CHECK((i < 2.5).to_vector<bool>() == std::vector<bool>{true, true, false});
  CHECK((i == 2.5).to_vector<bool>() == std::vector<bool>{false, false, false});
  CHECK((i == 2).to_vector<bool>() == std::vector<bool>{false, true, false});
  CHECK((i != 2).dtype() == DType::b8);
  Tensor f = tensor({0.5f, 2.f});
  CHECK((f > 1).to_vector<bool>() == std::vector<bool>{false, true});
  // i64 beyond the i32 range compared with an i32 tensor.
  Tensor big = from_vector(std::vector<int64_t>{5000000000, 1}, {2});
  CHECK((tensor({1, 1}) < big).to_vector<bool>() == std::vector<bool>{true, false});
}

TEST_CASE("promotion: logical ops take b8 only and never promote", "[promotion]") {
  Tensor i = tensor({1, 0}), f = tensor({1.f, 0.f}), p = tensor({true, false});
  CHECK_THROWS_AS(logical_and(i, i), DTypeError);
  CHECK_THROWS_AS(logical_and(p, i), DTypeError);
  CHECK_THROWS_AS(logical_or(f, p), DTypeError);
  CHECK_THROWS_AS(logical_or(f, f), DTypeError);
  CHECK_THROWS_AS(logical_not(i), DTypeError);
  CHECK_THROWS_AS(logical_not(f), DTypeError);
  CHECK_THROWS_AS(i & i, DTypeError);
  CHECK_THROWS_AS(p | f, DTypeError);
  CHECK_THROWS_AS(!f, DTypeError);
  CHECK_THROWS_AS(logical_not(from_vector(std::vector<int64_t>{1}, {1})), DTypeError);
  // b8 with b8, and with a C++ bool, works.
  CHECK((p & p).dtype() == DType::b8);
  CHECK((p & true).to_vector<bool>() == std::vector<bool>{true, false});
  CHECK((false | p).to_vector<bool>() == std::vector<bool>{true, false});
}
