// Counter-based random numbers: element i of a seeded stream is a pure
// function of (seed, i), so results repeat on any thread count and any split
// of the work.
#pragma once

#include <cmath>
#include <cstdint>

namespace duet::random {

// splitmix64's finalizer over a (seed, counter) pair.
inline uint64_t hash(uint64_t seed, uint64_t counter) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + counter * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The seed of an independent stream: rand, randn and dropout draw from
// different streams so that rand(seed) and dropout(x, rate, seed) are not
// correlated.
enum Stream : uint64_t { kRand = 1, kRandn = 2, kDropout = 3, kRandint = 4 };
inline uint64_t stream_seed(uint64_t seed, Stream s) { return hash(seed, ~uint64_t(s)); }

// Uniform in [0, 1) with 53 random bits.
inline double uniform(uint64_t seed, uint64_t i) { return double(hash(seed, i) >> 11) * 0x1.0p-53; }

// Uniform in [0, range) (range > 0): the high 64 bits of hash * range, so
// every value is equally likely to within range / 2^64.
inline uint64_t below(uint64_t seed, uint64_t i, uint64_t range) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(hash(seed, i)) * range) >> 64);
}

// Standard normal by Box-Muller over two uniforms of element i.
inline double normal(uint64_t seed, uint64_t i) {
  double u1 = 1.0 - uniform(seed, 2 * i);  // (0, 1]: log stays finite
  double u2 = uniform(seed, 2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace duet::random
