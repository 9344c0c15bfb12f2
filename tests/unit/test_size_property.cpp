// Property: creation and shape ops given shapes with dims near the overflow
// boundaries return a result of exactly the requested size or throw a
// duet::Error, never anything else (NOTE [Result sizes] in docs/errors.md).
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace duet;

namespace {

// Dims a user can pass by mistake or by overflow: small, around 2^31, 2^32,
// 2^40, 2^47, 2^62, int64's extremes, and negative ones.
int64_t draw_dim(std::mt19937_64& rng) {
  static const int64_t kEdges[] = {0,
                                   1,
                                   2,
                                   3,
                                   7,
                                   (int64_t(1) << 31) - 1,
                                   int64_t(1) << 31,
                                   (int64_t(1) << 32) + 1,
                                   int64_t(1) << 40,
                                   int64_t(1) << 43,
                                   int64_t(1) << 47,
                                   int64_t(1) << 62,
                                   INT64_MAX,
                                   -1,
                                   -2,
                                   -(int64_t(1) << 40),
                                   INT64_MIN};
  std::uniform_int_distribution<size_t> pick(0, std::size(kEdges) - 1);
  int64_t d = kEdges[pick(rng)];
  if (d > 8 && d < INT64_MAX && rng() % 2) d += static_cast<int64_t>(rng() % 3) - 1;  // one either side
  return d;
}

// The bytes the shape takes in `dtype` (as a wide integer), or -1 when a dim
// is negative or the list is past rank 8.
__int128 expected_bytes(const std::vector<int64_t>& dims, DType dtype) {
  if (dims.size() > 8) return -1;
  __int128 n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    const __int128 cap = __int128(1) << 100;  // saturates far above 2^48, never overflows
    n = d > 0 && n > cap / d ? cap : n * d;
  }
  return n * static_cast<__int128>(dtype_size(dtype));
}

constexpr __int128 kBound = __int128(1) << 48;
// Small enough to allocate here; sizes from here to 2^46 are not called
// (they would allocate or fail depending on the machine's memory).
constexpr __int128 kSmall = __int128(1) << 20;
constexpr __int128 kSurelyTooMuch = __int128(1) << 46;

}  // namespace

TEST_CASE("sizes: 10,000 random shapes near the overflow boundary give the right size or a duet::Error",
          "[sizes][property]") {
  // DUET_SIZE_CASES and DUET_SIZE_SEED run more, offline (docs/reliability.md).
  const char* n_env = std::getenv("DUET_SIZE_CASES");
  const char* seed_env = std::getenv("DUET_SIZE_SEED");
  const int cases = n_env ? std::atoi(n_env) : 10000;
  std::mt19937_64 rng(seed_env ? std::strtoull(seed_env, nullptr, 10) : 19);
  int results = 0, errors = 0, skipped = 0;
  const DType dtypes[] = {DType::b8, DType::i32, DType::i64, DType::f32, DType::f64};
  for (int c = 0; c < cases; ++c) {
    const int rank = static_cast<int>(rng() % 10);  // 9 is past the maximum
    std::vector<int64_t> dims;
    for (int i = 0; i < rank; ++i) dims.push_back(draw_dim(rng));
    const int op = static_cast<int>(rng() % 7);
    DType dtype = dtypes[rng() % 5];
    if (op == 3 || op == 4) dtype = rng() % 2 ? DType::f32 : DType::f64;  // randn, rand
    if (op >= 5) dtype = DType::f32;
    if (op == 6)  // reshape's -1 is "the rest": only other negative dims are bad there
      for (int64_t& d : dims) d = d == -1 ? -2 : d;
    __int128 bytes = expected_bytes(dims, dtype);
    const bool invalid = bytes < 0 || bytes > kBound;
    if (!invalid && bytes > kSmall && bytes < kSurelyTooMuch) {
      ++skipped;
      continue;
    }
    INFO("case " << c << ": op " << op << ", dtype " << dtype_name(dtype) << ", rank " << rank);
    const Shape shape(dims);
    try {
      Tensor t;
      switch (op) {
        case 0: t = zeros(shape, dtype); break;
        case 1: t = ones(shape, dtype); break;
        case 2: t = full(shape, 3.0, dtype); break;
        case 3: t = randn(shape, 1, dtype); break;
        case 4: t = rand(shape, 2, dtype); break;
        case 5: t = broadcast_to(scalar(1.f), shape); break;
        case 6: t = reshape(zeros({static_cast<int64_t>(rng() % 4)}), shape); break;
      }
      ++results;
      // A result: exactly what was asked for.
      REQUIRE_FALSE(invalid);
      REQUIRE(t.shape() == dims);
      REQUIRE(static_cast<__int128>(t.numel()) * static_cast<__int128>(dtype_size(t.dtype())) == bytes);
      REQUIRE(t.to_vector<double>().size() == static_cast<size_t>(t.numel()));
    } catch (const Error& e) {
      ++errors;
      const std::string what = e.what();
      INFO(what);
      // Every error names the caller's line, never a duet source file.
      CHECK_THAT(what, Catch::Contains("test_size_property.cpp:"));
      if (invalid) CHECK(dynamic_cast<const ShapeError*>(&e) != nullptr);
      if (!invalid && bytes >= kSurelyTooMuch && op != 6) CHECK(dynamic_cast<const OutOfMemoryError*>(&e) != nullptr);
    }
  }
  INFO(results << " results, " << errors << " errors, " << skipped << " skipped");
  CHECK(results > cases / 10);
  CHECK(errors > cases / 10);
  CHECK(results + errors + skipped == cases);
}
