// The gradcheck table shared by test_gradcheck.cpp and test_gradcheck_second_order.cpp: for every
// differentiable op, seeded f64 samples and the public call, plus the tape and comparison helpers.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <duet/duet.h>

namespace duet::gradcheck {

using Inputs = std::vector<Tensor>;
using OpCall = std::function<Tensor(const Inputs&)>;

// One case of an op: inputs (floating ones in f64; indices and conditions as they come) and the public call.
struct Sample {
  std::string label;
  std::function<Inputs()> make;
  OpCall call;
  double h = 1e-6;  // the finite-difference step
};

constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-7;

// ---- seeded f64 inputs -----------------------------------------------------------------

inline std::vector<double> host(const Tensor& t) { return t.to_vector<double>(); }
inline Tensor f64(const std::vector<double>& v, const Shape& s) { return from_vector(v, s); }

inline Tensor normal(const Shape& s, uint64_t seed) { return randn(s, seed, DType::f64); }

inline Tensor uniform(const Shape& s, uint64_t seed, double lo, double hi) {
  std::vector<double> v = host(rand(s, seed, DType::f64));
  for (double& x : v) x = lo + (hi - lo) * x;
  return f64(v, s);
}

// Normal values pushed 0.25 away from 0, where abs and relu have a kink and division a pole.
inline Tensor away_from_zero(const Shape& s, uint64_t seed) {
  std::vector<double> v = host(normal(s, seed));
  for (double& x : v) x = x < 0 ? x - 0.25 : x + 0.25;
  return f64(v, s);
}

// Values 0.1 apart in a seeded order (no ties for max, min, maximum, max_pool2d), shifted by `offset`.
inline Tensor distinct(const Shape& s, uint64_t seed, double offset = 0) {
  std::vector<double> v(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1 * (static_cast<double>(i) - v.size() / 2.0) + offset;
  std::shuffle(v.begin(), v.end(), std::mt19937(static_cast<unsigned>(seed)));
  return f64(v, s);
}

// b = a + (±(0.2..0.7)): maximum and minimum see no ties.
inline Inputs separated_pair(const Shape& s, uint64_t seed) {
  Tensor a = normal(s, seed);
  std::vector<double> b = host(a), gap = host(uniform(s, seed + 1, 0.2, 0.7));
  for (size_t i = 0; i < b.size(); ++i) b[i] += (i % 2 ? gap[i] : -gap[i]);
  return {a, f64(b, s)};
}

// a = b (k + f) with k in -2..2 and f in [0.2, 0.8]: a / b stays away from the integers, where mod jumps.
inline Inputs mod_operands(const Shape& sa, const Shape& sb, uint64_t seed) {
  std::vector<double> b = host(uniform(sb, seed, 1.0, 2.0));
  for (size_t i = 0; i < b.size(); ++i) b[i] = i % 2 ? -b[i] : b[i];
  std::vector<double> frac = host(uniform(sa, seed + 1, 0.2, 0.8)), a(frac.size());
  std::mt19937 gen(static_cast<unsigned>(seed));
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = b[i % b.size()] * (static_cast<int>(gen() % 5) - 2 + frac[i]);  // sb is sa's last dim or the same
  return {f64(a, sa), f64(b, sb)};
}

inline Tensor conditions(const Shape& s, uint64_t seed) { return greater(rand(s, seed, DType::f64), 0.5); }
inline Tensor i32s(const std::vector<int32_t>& v, const Shape& s) { return from_vector(v, s); }
inline Tensor i64s(const std::vector<int64_t>& v, const Shape& s) { return from_vector(v, s); }

inline OpCall unary(Tensor (*fn)(const Tensor&, Loc)) {
  return [fn](const Inputs& x) { return fn(x[0], Loc::current()); };
}
inline OpCall binary(Tensor (*fn)(const Operand&, const Operand&)) {
  return [fn](const Inputs& x) { return fn(x[0], x[1]); };
}

// ---- the table: op name -> samples -------------------------------------------------------

inline const std::map<std::string, std::vector<Sample>>& samples() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, std::vector<Sample>>;
    auto& m = *t;
    const Shape s23{2, 3};
    auto one = [](Tensor x) { return Inputs{x}; };

    m["neg"] = {{"[2,3]", [=] { return one(normal(s23, 1)); }, unary(neg)}};
    m["abs"] = {{"away from 0", [=] { return one(away_from_zero(s23, 2)); }, unary(duet::abs)}};
    m["square"] = {{"[2,3]", [=] { return one(normal(s23, 3)); }, unary(square)}};
    m["relu"] = {{"away from 0", [=] { return one(away_from_zero(s23, 4)); }, unary(relu)}};
    m["exp"] = {{"[2,3]", [=] { return one(normal(s23, 5)); }, unary(duet::exp)}};
    m["log"] = {{"positive", [=] { return one(uniform(s23, 6, 0.5, 2.0)); }, unary(duet::log)}};
    m["sqrt"] = {{"positive", [=] { return one(uniform(s23, 7, 0.5, 2.0)); }, unary(duet::sqrt)}};
    m["rsqrt"] = {{"positive", [=] { return one(uniform(s23, 8, 0.5, 2.0)); }, unary(rsqrt)}};
    m["tanh"] = {{"[2,3]", [=] { return one(normal(s23, 9)); }, unary(duet::tanh)}};
    m["sigmoid"] = {{"[2,3]", [=] { return one(normal(s23, 10)); }, unary(sigmoid)}};
    m["gelu"] = {{"[2,3]", [=] { return one(normal(s23, 11)); }, unary(gelu)}};
    m["erf"] = {{"[2,3]", [=] { return one(normal(s23, 12)); }, unary(duet::erf)}};
    m["gelu_tanh"] = {{"[2,3]", [=] { return one(normal(s23, 13)); },
                       [](const Inputs& x) { return gelu(x[0], "tanh"); }}};
    m["log1p"] = {{"> -1", [=] { return one(uniform(s23, 14, -0.6, 2.0)); }, unary(duet::log1p)}};
    m["softplus"] = {{"[2,3]", [=] { return one(normal(s23, 15)); }, unary(duet::softplus)}};
    m["sin"] = {{"[2,3]", [=] { return one(normal(s23, 17)); }, unary(duet::sin)}};
    m["cos"] = {{"[2,3]", [=] { return one(normal(s23, 18)); }, unary(duet::cos)}};
    m["sign"] = {{"away from 0", [=] { return one(away_from_zero(s23, 16)); }, unary(duet::sign)}};

    // Binary ops: the first sample has operands of one shape (the second-derivative walk uses it).
    auto pair = [](Tensor a, Tensor b) { return Inputs{a, b}; };
    m["add"] = {{"[2,3] + [2,3]", [=] { return pair(normal(s23, 20), normal(s23, 21)); }, binary(add)},
                {"[3,1] + [1,4]", [=] { return pair(normal({3, 1}, 22), normal({1, 4}, 23)); }, binary(add)},
                {"[2,3,4] + [4]", [=] { return pair(normal({2, 3, 4}, 24), normal({4}, 25)); }, binary(add)},
                {"[2,3] + rank 0", [=] { return pair(normal(s23, 26), normal({}, 27)); }, binary(add)}};
    m["sub"] = {{"[2,3] - [2,3]", [=] { return pair(normal(s23, 30), normal(s23, 31)); }, binary(sub)},
                {"[3,1] - [1,4]", [=] { return pair(normal({3, 1}, 32), normal({1, 4}, 33)); }, binary(sub)},
                {"rank 0 - [2,3]", [=] { return pair(normal({}, 34), normal(s23, 35)); }, binary(sub)}};
    m["mul"] = {{"[2,3] * [2,3]", [=] { return pair(normal(s23, 40), normal(s23, 41)); }, binary(mul)},
                {"[3,1] * [1,4]", [=] { return pair(normal({3, 1}, 42), normal({1, 4}, 43)); }, binary(mul)},
                {"[2,3,4] * [3,1]", [=] { return pair(normal({2, 3, 4}, 44), normal({3, 1}, 45)); }, binary(mul)}};
    m["div"] = {
        {"[2,3] / [2,3]", [=] { return pair(normal(s23, 50), away_from_zero(s23, 51)); }, binary(div)},
        {"[3,1] / [1,4]", [=] { return pair(normal({3, 1}, 52), away_from_zero({1, 4}, 53)); }, binary(div)},
        {"rank 0 / [2,3]", [=] { return pair(normal({}, 54), away_from_zero(s23, 55)); }, binary(div)}};
    m["mod"] = {{"[2,3] % [2,3]", [=] { return mod_operands(s23, s23, 60); }, binary(mod)},
                {"[3,4] % [1,4]", [=] { return mod_operands({3, 4}, {1, 4}, 61); }, binary(mod)}};
    m["pow"] = {
        {"positive [2,3] ^ [2,3]", [=] { return pair(uniform(s23, 70, 0.5, 2.0), normal(s23, 71)); }, binary(pow)},
        {"positive [3,1] ^ [1,4]", [=] { return pair(uniform({3, 1}, 72, 0.5, 2.0), normal({1, 4}, 73)); },
         binary(pow)}};
    m["maximum"] = {{"[2,3], no ties", [=] { return separated_pair(s23, 80); }, binary(maximum)},
                    {"[3,1] vs [1,4], no ties", [=] { return pair(distinct({3, 1}, 81), distinct({1, 4}, 82, 0.025)); },
                     binary(maximum)}};
    m["minimum"] = {{"[2,3], no ties", [=] { return separated_pair(s23, 90); }, binary(minimum)},
                    {"[3,1] vs [1,4], no ties", [=] { return pair(distinct({3, 1}, 91), distinct({1, 4}, 92, 0.025)); },
                     binary(minimum)}};
    OpCall where3 = [](const Inputs& x) { return where(x[0], x[1], x[2]); };
    m["where"] = {
        {"[2,3] everywhere", [=] { return Inputs{conditions(s23, 100), normal(s23, 101), normal(s23, 102)}; }, where3},
        {"[3,4] ? [3,1] : [1,4]",
         [=] { return Inputs{conditions({3, 4}, 103), normal({3, 1}, 104), normal({1, 4}, 105)}; }, where3},
        {"[3,1] ? [1,4] : rank 0",
         [=] { return Inputs{conditions({3, 1}, 106), normal({1, 4}, 107), normal({}, 108)}; }, where3}};
    // Through f32 and back: dyadic inputs and step stay exact in f32.
    m["cast"] = {{"f64 -> f32 -> f64",
                  [=] {
                    std::vector<double> v = host(normal(s23, 110));
                    for (double& x : v) x = std::round(x * 64) / 64;
                    return one(f64(v, s23));
                  },
                  [](const Inputs& x) { return cast(cast(x[0], DType::f32), DType::f64); }, 1.0 / 256}};

    auto mm = [](const Inputs& x) { return matmul(x[0], x[1]); };
    m["matmul"] = {{"[3,4] @ [4,5]", [=] { return pair(normal({3, 4}, 120), normal({4, 5}, 121)); }, mm},
                   {"[2,3,4] @ [4,5]", [=] { return pair(normal({2, 3, 4}, 122), normal({4, 5}, 123)); }, mm},
                   {"[2,1,3,4] @ [3,4,2]", [=] { return pair(normal({2, 1, 3, 4}, 124), normal({3, 4, 2}, 125)); },
                    mm}};
    // The op fuse-matmul-epilogue makes; smooth activations, so finite
    // differences never straddle a kink.
    auto fused = [](const char* act, bool ta = false, bool tb = false) {
      return [act, ta, tb](const Inputs& x) {
        std::vector<const Tensor*> in;
        for (const Tensor& t : x) in.push_back(&t);
        Attrs attrs{{"activation", std::string(act)}};
        if (ta) attrs.set("transpose_a", true);
        if (tb) attrs.set("transpose_b", true);
        return dispatch(op_def("fused_matmul"), in.data(), static_cast<int>(in.size()), attrs, SrcLoc())[0];
      };
    };
    m["fused_matmul"] = {
        {"[3,4] @ [4,5] + [5], tanh",
         [=] { return Inputs{normal({3, 4}, 126), normal({4, 5}, 127), normal({5}, 128)}; }, fused("tanh")},
        {"[2,3,4] @ [4,5] + [3,5], gelu",
         [=] { return Inputs{normal({2, 3, 4}, 129), normal({4, 5}, 134), normal({3, 5}, 135)}; }, fused("gelu")},
        {"[3,4] @ [4,2], sigmoid, no bias", [=] { return pair(normal({3, 4}, 136), normal({4, 2}, 137)); },
         fused("sigmoid")},
        {"[4,3]^T @ [4,5] + [5], tanh, a transposed",
         [=] { return Inputs{normal({4, 3}, 141), normal({4, 5}, 142), normal({5}, 143)}; }, fused("tanh", true)},
        {"[2,3,4] @ [5,4]^T, sigmoid, b transposed", [=] { return pair(normal({2, 3, 4}, 144), normal({5, 4}, 145)); },
         fused("sigmoid", false, true)},
        {"([3,4] @ [4,2] + [3,2]) + [2], tanh, two biases",
         [=] { return Inputs{normal({3, 4}, 146), normal({4, 2}, 147), normal({3, 2}, 148), normal({2}, 149)}; },
         fused("tanh")},
        {"[3,4] @ [4,2] + [1,2], no activation",
         [=] { return Inputs{normal({3, 4}, 138), normal({4, 2}, 139), normal({1, 2}, 140)}; }, fused("none")}};
    m["conv2d"] = {
        {"stride 1, no padding", [=] { return pair(normal({2, 3, 5, 5}, 130), normal({4, 3, 3, 3}, 131)); },
         [](const Inputs& x) { return conv2d(x[0], x[1]); }},
        {"stride 2, padding 1", [=] { return pair(normal({1, 2, 5, 5}, 132), normal({3, 2, 3, 3}, 133)); },
         [](const Inputs& x) { return conv2d(x[0], x[1], 2, 1); }}};
    m["max_pool2d"] = {
        {"kernel 2", [=] { return one(distinct({1, 2, 4, 4}, 140)); }, [](const Inputs& x) { return max_pool2d(x[0], 2); }},
        {"kernel 3, stride 1 (overlapping)", [=] { return one(distinct({1, 1, 5, 5}, 141)); },
         [](const Inputs& x) { return max_pool2d(x[0], 3, 1); }},
        {"kernel 2, stride 2, ragged edge", [=] { return one(distinct({2, 1, 5, 5}, 142)); },
         [](const Inputs& x) { return max_pool2d(x[0], 2, 2); }}};
    // The backward ops are linear in their gradient operand (and the conv ones
    // in the other operand too): their own gradients give second orders.
    m["conv2d_backward_input"] = {
        {"stride 1, padding 1", [=] { return pair(normal({2, 4, 5, 5}, 160), normal({4, 3, 3, 3}, 161)); },
         [](const Inputs& x) { return conv2d_backward_input(x[0], x[1], {2, 3, 5, 5}, 1, 1); }},
        {"stride 2", [=] { return pair(normal({1, 2, 2, 2}, 162), normal({2, 3, 3, 3}, 163)); },
         [](const Inputs& x) { return conv2d_backward_input(x[0], x[1], {1, 3, 5, 5}, 2, 0); }}};
    m["conv2d_backward_filter"] = {
        {"stride 1, padding 1", [=] { return pair(normal({2, 3, 5, 5}, 164), normal({2, 4, 5, 5}, 165)); },
         [](const Inputs& x) { return conv2d_backward_filter(x[0], x[1], {4, 3, 3, 3}, 1, 1); }}};
    m["max_pool2d_backward"] = {
        {"kernel 2", [=] { return pair(distinct({1, 2, 4, 4}, 166), normal({1, 2, 2, 2}, 167)); },
         [](const Inputs& x) { return max_pool2d_backward(x[0], x[1], 2, 2); }}};
    m["max_pool2d_pick"] = {
        {"kernel 2", [=] { return pair(distinct({1, 2, 4, 4}, 168), normal({1, 2, 4, 4}, 169)); },
         [](const Inputs& x) {
           Attrs attrs{{"kernel", int64_t(2)}, {"stride", int64_t(2)}};
           return dispatch1(op_def("max_pool2d_pick"), {&x[0], &x[1]}, attrs, SrcLoc());
         }}};
    m["dropout"] = {{"rate 0.5", [=] { return one(normal({4, 5}, 150)); },
                     [](const Inputs& x) { return dropout(x[0], 0.5, 7); }},
                    {"rate 0.25", [=] { return one(normal({2, 3, 4}, 151)); },
                     [](const Inputs& x) { return dropout(x[0], 0.25, 3); }}};
    m["layer_norm"] = {{"[3,5]", [=] { return Inputs{normal({3, 5}, 152), normal({5}, 153), normal({5}, 154)}; },
                        [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); }},
                       {"[2,2,4], eps 0.1", [=] { return Inputs{normal({2, 2, 4}, 155), normal({4}, 156), normal({4}, 157)}; },
                        [](const Inputs& x) { return layer_norm(x[0], x[1], x[2], 0.1); }},
                       {"[6] (rank 1)", [=] { return Inputs{normal({6}, 158), normal({6}, 159), normal({6}, 170)}; },
                        [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); }}};
    m["rms_norm"] = {{"[3,5]", [=] { return Inputs{normal({3, 5}, 171), normal({5}, 172)}; },
                      [](const Inputs& x) { return rms_norm(x[0], x[1]); }},
                     {"[2,2,4], eps 0.1", [=] { return Inputs{normal({2, 2, 4}, 173), normal({4}, 174)}; },
                      [](const Inputs& x) { return rms_norm(x[0], x[1], 0.1); }}};

    const Shape s234{2, 3, 4};
    auto reductions = [&](const char* name, auto fn, bool no_ties) {
      auto input = [=](uint64_t seed) { return no_ties ? distinct(s234, seed) : normal(s234, seed); };
      m[name] = {{"all axes", [=] { return one(input(160)); }, [=](const Inputs& x) { return fn(x[0], Axes{}, false); }},
                 {"axis 1", [=] { return one(input(161)); }, [=](const Inputs& x) { return fn(x[0], Axes{1}, false); }},
                 {"axis -1, keepdims", [=] { return one(input(162)); },
                  [=](const Inputs& x) { return fn(x[0], Axes{-1}, true); }},
                 {"axes 0 and 2", [=] { return one(input(163)); },
                  [=](const Inputs& x) { return fn(x[0], Axes{0, 2}, false); }}};
    };
    reductions("sum", [](const Tensor& x, const Axes& a, bool k) { return sum(x, a, k); }, false);
    reductions("mean", [](const Tensor& x, const Axes& a, bool k) { return mean(x, a, k); }, false);
    reductions("max", [](const Tensor& x, const Axes& a, bool k) { return duet::max(x, a, k); }, true);
    reductions("min", [](const Tensor& x, const Axes& a, bool k) { return duet::min(x, a, k); }, true);
    for (const char* name : {"softmax", "log_softmax"}) {
      auto fn = std::string(name) == "softmax" ? &softmax : &log_softmax;
      m[name] = {{"[3,4] axis -1", [=] { return one(normal({3, 4}, 170)); },
                  [=](const Inputs& x) { return fn(x[0], -1, Loc::current()); }},
                 {"[3,4] axis 0", [=] { return one(normal({3, 4}, 171)); },
                  [=](const Inputs& x) { return fn(x[0], 0, Loc::current()); }},
                 {"[2,3,4] axis 1", [=] { return one(normal(s234, 172)); },
                  [=](const Inputs& x) { return fn(x[0], 1, Loc::current()); }}};
    }

    m["reshape"] = {{"[2,3,4] -> [4,-1]", [=] { return one(normal(s234, 180)); },
                     [](const Inputs& x) { return reshape(x[0], {4, -1}); }},
                    {"[1,1] -> rank 0", [=] { return one(normal({1, 1}, 181)); },
                     [](const Inputs& x) { return reshape(x[0], Shape{}); }}};
    m["expand_dims"] = {
        {"axis 1", [=] { return one(normal(s23, 182)); }, [](const Inputs& x) { return expand_dims(x[0], 1); }},
        {"axis -1", [=] { return one(normal(s23, 183)); }, [](const Inputs& x) { return expand_dims(x[0], -1); }}};
    m["squeeze"] = {
        {"all size-1 dims", [=] { return one(normal({2, 1, 3, 1}, 184)); },
         [](const Inputs& x) { return squeeze(x[0]); }},
        {"axis -1", [=] { return one(normal({2, 1, 3, 1}, 185)); }, [](const Inputs& x) { return squeeze(x[0], {-1}); }}};
    m["transpose"] = {
        {"last two of [2,3,4]", [=] { return one(normal(s234, 186)); }, [](const Inputs& x) { return transpose(x[0]); }},
        {"perm 2,0,1", [=] { return one(normal(s234, 187)); },
         [](const Inputs& x) { return transpose(x[0], {2, 0, 1}); }}};
    m["broadcast_to"] = {
        {"[3,1] -> [2,3,4]", [=] { return one(normal({3, 1}, 188)); },
         [](const Inputs& x) { return broadcast_to(x[0], {2, 3, 4}); }},
        {"rank 0 -> [2,2]", [=] { return one(normal({}, 189)); },
         [](const Inputs& x) { return broadcast_to(x[0], {2, 2}); }}};
    auto like = [](const Inputs& x) { return broadcast_like(x[0], x[1]); };
    m["broadcast_like"] = {{"[3,1] like f64[2,3,4]", [=] { return pair(normal({3, 1}, 198), normal(s234, 199)); }, like},
                           {"rank 0 like i32[2,2]", [=] { return pair(normal({}, 198), i32s({1, 2, 3, 4}, {2, 2})); },
                            like}};
    m["concat"] = {{"three on axis 1",
                    [=] { return Inputs{normal({2, 1}, 190), normal(s23, 191), normal({2, 2}, 192)}; },
                    [](const Inputs& x) { return concat(x, 1); }},
                   {"two on axis -2", [=] { return pair(normal({1, 3}, 193), normal(s23, 194)); },
                    [](const Inputs& x) { return concat(x, -2); }}};
    m["slice"] = {
        {"axis 1 [1,4)", [=] { return one(normal({4, 5}, 195)); }, [](const Inputs& x) { return slice(x[0], 1, 1, 4); }},
        {"axis 0 [-3,-1)", [=] { return one(normal({4, 5}, 196)); },
         [](const Inputs& x) { return slice(x[0], 0, -3, -1); }},
        {"axis -1 [2,100) clamped", [=] { return one(normal({4, 5}, 197)); },
         [](const Inputs& x) { return slice(x[0], -1, 2, 100); }}};
    auto gather_on = [](int64_t axis) { return [axis](const Inputs& x) { return gather(x[0], x[1], axis); }; };
    m["gather"] = {
        {"axis 0, repeated i32 indices", [=] { return pair(normal({5, 3}, 200), i32s({0, 2, 2, 4}, {4})); },
         gather_on(0)},
        {"axis 1, i64 indices", [=] { return pair(normal({3, 4}, 201), i64s({3, 0, 3}, {3})); }, gather_on(1)},
        {"axis 0, 2-D indices", [=] { return pair(normal({5, 3}, 202), i32s({0, 4, 2, 2}, {2, 2})); }, gather_on(0)}};
    m["embedding"] = {
        {"repeated i64 ids", [=] { return pair(normal({5, 3}, 203), i64s({4, 0, 4, 1}, {4})); },
         [](const Inputs& x) { return embedding(x[0], x[1]); }},
        {"[2,3] i32 ids", [=] { return pair(normal({6, 2}, 204), i32s({5, 1, 1, 0, 3, 5}, {2, 3})); },
         [](const Inputs& x) { return embedding(x[0], x[1]); }}};
    auto scatter_on = [](int64_t axis) {
      return [axis](const Inputs& x) { return scatter_add(x[0], x[1], x[2], axis); };
    };
    m["scatter_add"] = {
        {"axis 0, repeated indices",
         [=] { return Inputs{normal({5, 3}, 210), i32s({1, 3, 1}, {3}), normal({3, 3}, 211)}; }, scatter_on(0)},
        {"axis 1, i64 indices",
         [=] { return Inputs{normal({3, 4}, 212), i64s({0, 0, 3}, {3}), normal({3, 3}, 213)}; }, scatter_on(1)}};
    return t;
  }();
  return *table;
}

// ---- gradients: analytic (a tape) and numeric (central differences) --------------------------

inline std::vector<size_t> floating_inputs(const Inputs& xs) {
  std::vector<size_t> out;
  for (size_t k = 0; k < xs.size(); ++k)
    if (is_floating(xs[k].dtype())) out.push_back(k);
  return out;
}

inline Tensor loss(const OpCall& call, const Inputs& xs, const Tensor& w) { return sum(call(xs) * w); }

// dL/dx for every floating input, from one tape; the body of both the eager and the traced check.
inline std::vector<Tensor> tape_gradients(const OpCall& call, const Inputs& xs, const Tensor& w) {
  GradientTape tape;
  std::vector<Tensor> sources;
  for (size_t k : floating_inputs(xs)) {
    tape.watch(xs[k]);
    sources.push_back(xs[k]);
  }
  return tape.gradient(loss(call, xs, w), sources);
}

// One CHECK per tensor, naming the first elements that differ. An undefined gradient means "does not
// depend on it" (as TensorFlow's None): right only where the numeric gradient is zero.
inline void expect_close(const Tensor& analytic_or_none, const std::vector<double>& numeric, const Tensor& like) {
  Tensor analytic = analytic_or_none.defined() ? analytic_or_none : zeros_like(like);
  CHECK(analytic.dtype() == like.dtype());
  CHECK(analytic.shape() == like.shape());
  if (!(analytic.shape() == like.shape())) return;
  std::vector<double> a = host(analytic);
  int bad = 0;
  std::ostringstream first;
  for (size_t j = 0; j < a.size(); ++j) {
    double tol = kRtol * std::max(std::abs(a[j]), std::abs(numeric[j])) + kAtol;
    if (std::abs(a[j] - numeric[j]) <= tol) continue;
    if (bad++ < 4) first << " [" << j << "] analytic " << a[j] << " vs numeric " << numeric[j] << ";";
  }
  INFO(bad << " of " << a.size() << " elements differ:" << first.str());
  CHECK(bad == 0);
}

inline Tensor weights_for(const Sample& s, const Inputs& xs, uint64_t seed) {
  return randn(s.call(xs).shape(), seed, DType::f64);
}

}  // namespace duet::gradcheck
