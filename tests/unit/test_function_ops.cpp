// Registry walk: for every non-structural op, a traced function calling it gives the eager result, bitwise.
#include <catch2/catch.hpp>
#include <duet/duet.h>
#include <duet/graph/op_def.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

using namespace duet;

namespace {

using Inputs = std::vector<Tensor>;

// One sample invocation of an op: inputs from a seed (never all zeros) and a
// call of the public function with fixed attributes.
struct OpCase {
  std::function<Inputs(uint64_t seed)> inputs;
  std::function<Tensor(const Inputs&)> call;
};

// Random tensors of each kind, from a seed.
Tensor f32(const Shape& s, uint64_t seed) { return randn(s, seed); }
Tensor f64(const Shape& s, uint64_t seed) { return randn(s, seed, DType::f64); }
Tensor positive(const Shape& s, uint64_t seed) { return rand(s, seed) + 0.25f; }
// Integers in [-9, 9] (an i32 tensor; zeros appear, but never only zeros).
Tensor ints(const Shape& s, uint64_t seed) { return cast(randn(s, seed) * 4.f, DType::i32); }
// Integers in [1, 5]: safe divisors.
Tensor small_positive_ints(const Shape& s, uint64_t seed) { return cast(rand(s, seed) * 5.f + 1.f, DType::i32); }
// Indices in [0, n).
Tensor indices(const Shape& s, int64_t n, uint64_t seed) {
  return cast(rand(s, seed) * static_cast<float>(n), DType::i32);
}
Tensor bools(const Shape& s, uint64_t seed) { return rand(s, seed) > 0.5f; }

template <class F>
OpCase unary(F gen, std::function<Tensor(const Tensor&)> op) {
  return {[gen](uint64_t s) { return Inputs{gen(s)}; }, [op](const Inputs& in) { return op(in[0]); }};
}
template <class F, class G>
OpCase binary(F gen_a, G gen_b, std::function<Tensor(const Tensor&, const Tensor&)> op) {
  return {[gen_a, gen_b](uint64_t s) { return Inputs{gen_a(s), gen_b(s + 1)}; },
          [op](const Inputs& in) { return op(in[0], in[1]); }};
}

auto shape_gen(Tensor (*g)(const Shape&, uint64_t), Shape shape) {
  return [g, shape](uint64_t s) { return g(shape, s); };
}

// Every non-structural op of the registry must have an entry here.
std::map<std::string, OpCase> op_table() {
  std::map<std::string, OpCase> t;
  auto m34 = shape_gen(f32, {3, 4});
  auto p34 = shape_gen(positive, {3, 4});
  auto i34 = shape_gen(ints, {3, 4});
  auto b34 = shape_gen(bools, {3, 4});

  // Unary elementwise.
  t["neg"] = unary(shape_gen(ints, {2, 5}), [](const Tensor& a) { return neg(a); });
  t["abs"] = unary(m34, [](const Tensor& a) { return abs(a); });
  t["square"] = unary(m34, [](const Tensor& a) { return square(a); });
  t["relu"] = unary(m34, [](const Tensor& a) { return relu(a); });
  t["exp"] = unary(shape_gen(f64, {3, 4}), [](const Tensor& a) { return exp(a); });  // f64
  t["log"] = unary(p34, [](const Tensor& a) { return log(a); });
  t["sqrt"] = unary(p34, [](const Tensor& a) { return sqrt(a); });
  t["rsqrt"] = unary(shape_gen(positive, {17}), [](const Tensor& a) { return rsqrt(a); });
  t["tanh"] = unary(m34, [](const Tensor& a) { return tanh(a); });
  t["sigmoid"] = unary(shape_gen(f64, {5}), [](const Tensor& a) { return sigmoid(a); });  // f64
  t["gelu"] = unary(m34, [](const Tensor& a) { return gelu(a); });
  t["erf"] = unary(m34, [](const Tensor& a) { return erf(a); });
  t["gelu_tanh"] = unary(m34, [](const Tensor& a) { return gelu(a, "tanh"); });
  t["log1p"] = unary(p34, [](const Tensor& a) { return log1p(a); });
  t["softplus"] = unary(shape_gen(f64, {3, 4}), [](const Tensor& a) { return softplus(a); });  // f64
  t["sin"] = unary(m34, [](const Tensor& a) { return sin(a); });
  t["cos"] = unary(shape_gen(f64, {3, 4}), [](const Tensor& a) { return cos(a); });  // f64
  t["sign"] = unary(shape_gen(ints, {2, 5}), [](const Tensor& a) { return sign(a); });
  t["stop_gradient"] = unary(m34, [](const Tensor& a) { return stop_gradient(a); });
  t["logical_not"] = unary(b34, [](const Tensor& a) { return logical_not(a); });
  t["cast"] = unary([](uint64_t s) { return randn({3, 4}, s) * 10.f; },
                    [](const Tensor& a) { return cast(a, DType::i32); });

  // Binary elementwise; add broadcasts [3,4] + [4], mul broadcasts [3,1] * [1,4].
  t["add"] = binary(m34, shape_gen(f32, {4}), [](const Tensor& a, const Tensor& b) { return add(a, b); });
  t["sub"] = binary(shape_gen(f64, {2, 3}), shape_gen(f64, {2, 3}),
                    [](const Tensor& a, const Tensor& b) { return a - b; });  // f64
  t["mul"] = binary(shape_gen(f32, {3, 1}), shape_gen(f32, {1, 4}),
                    [](const Tensor& a, const Tensor& b) { return mul(a, b); });
  t["div"] = binary(m34, p34, [](const Tensor& a, const Tensor& b) { return div(a, b); });
  t["mod"] = binary(i34, shape_gen(small_positive_ints, {3, 4}),
                    [](const Tensor& a, const Tensor& b) { return mod(a, b); });
  t["pow"] = binary(p34, m34, [](const Tensor& a, const Tensor& b) { return pow(a, b); });
  t["maximum"] = binary(m34, m34, [](const Tensor& a, const Tensor& b) { return maximum(a, b); });
  t["minimum"] = binary(i34, i34, [](const Tensor& a, const Tensor& b) { return minimum(a, b); });
  t["logical_and"] = binary(b34, b34, [](const Tensor& a, const Tensor& b) { return logical_and(a, b); });
  t["logical_or"] = binary(b34, shape_gen(bools, {4}), [](const Tensor& a, const Tensor& b) { return logical_or(a, b); });
  t["less"] = binary(m34, m34, [](const Tensor& a, const Tensor& b) { return less(a, b); });
  t["less_equal"] = binary(i34, i34, [](const Tensor& a, const Tensor& b) { return less_equal(a, b); });
  t["greater"] = binary(m34, shape_gen(f32, {1, 4}), [](const Tensor& a, const Tensor& b) { return greater(a, b); });
  t["greater_equal"] = binary(m34, m34, [](const Tensor& a, const Tensor& b) { return greater_equal(a, b); });
  t["equal"] = binary(i34, i34, [](const Tensor& a, const Tensor& b) { return equal(a, b); });
  t["not_equal"] = binary(i34, i34, [](const Tensor& a, const Tensor& b) { return not_equal(a, b); });
  t["where"] = {[](uint64_t s) { return Inputs{bools({3, 4}, s), randn({3, 4}, s + 1), randn({4}, s + 2)}; },
                [](const Inputs& in) { return where(in[0], in[1], in[2]); }};

  // Linear algebra and shapes.
  t["matmul"] = binary(shape_gen(f32, {3, 5}), shape_gen(f32, {5, 4}),
                       [](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  t["transpose"] = unary(shape_gen(f32, {2, 3, 4}), [](const Tensor& a) { return transpose(a, {2, 0, 1}); });
  t["reshape"] = unary(shape_gen(f32, {2, 3, 4}), [](const Tensor& a) { return reshape(a, {4, -1}); });
  t["expand_dims"] = unary(m34, [](const Tensor& a) { return expand_dims(a, 1); });
  t["squeeze"] = unary(shape_gen(f32, {3, 1, 4}), [](const Tensor& a) { return squeeze(a, {1}); });
  t["broadcast_to"] = unary(shape_gen(f32, {4}), [](const Tensor& a) { return broadcast_to(a, {3, 4}); });
  t["broadcast_like"] = binary(shape_gen(f32, {3, 1}), m34,
                               [](const Tensor& a, const Tensor& b) { return broadcast_like(a, b); });
  t["concat"] = {[](uint64_t s) { return Inputs{randn({3, 2}, s), randn({3, 4}, s + 1), randn({3, 1}, s + 2)}; },
                 [](const Inputs& in) { return concat(in, 1); }};
  t["slice"] = unary(shape_gen(f32, {5, 6}), [](const Tensor& a) { return slice(a, 1, 1, 4); });
  t["gather"] = {[](uint64_t s) { return Inputs{randn({6, 3}, s), indices({5}, 6, s + 1)}; },
                 [](const Inputs& in) { return gather(in[0], in[1], 0); }};
  t["embedding"] = {[](uint64_t s) { return Inputs{randn({7, 4}, s), indices({2, 5}, 7, s + 1)}; },
                    [](const Inputs& in) { return embedding(in[0], in[1]); }};
  t["scatter_add"] = {[](uint64_t s) { return Inputs{randn({5, 3}, s), indices({6}, 5, s + 1), randn({6, 3}, s + 2)}; },
                      [](const Inputs& in) { return scatter_add(in[0], in[1], in[2], 0); }};
  t["one_hot"] = unary([](uint64_t s) { return indices({7}, 5, s); }, [](const Tensor& a) { return one_hot(a, 5); });

  // Reductions and normalizations.
  t["sum"] = unary(shape_gen(f32, {4, 37}), [](const Tensor& a) { return sum(a, {1}); });
  t["mean"] = unary(shape_gen(f64, {4, 6}), [](const Tensor& a) { return mean(a, {0}, true); });
  t["max"] = unary(m34, [](const Tensor& a) { return max(a); });
  t["min"] = unary(i34, [](const Tensor& a) { return min(a, {-1}); });
  t["argmax"] = unary(m34, [](const Tensor& a) { return argmax(a, 1); });
  t["softmax"] = unary(m34, [](const Tensor& a) { return softmax(a); });
  t["log_softmax"] = unary(m34, [](const Tensor& a) { return log_softmax(a, 0); });

  // Neural-network ops.
  t["conv2d"] = binary(shape_gen(f32, {2, 3, 6, 6}), shape_gen(f32, {4, 3, 3, 3}),
                       [](const Tensor& x, const Tensor& w) { return conv2d(x, w, 1, 1); });
  t["max_pool2d"] = unary(shape_gen(f32, {2, 3, 6, 6}), [](const Tensor& x) { return max_pool2d(x, 2, 2); });
  t["conv2d_backward_input"] = binary(shape_gen(f32, {2, 4, 6, 6}), shape_gen(f32, {4, 3, 3, 3}),
                                      [](const Tensor& dy, const Tensor& w) {
                                        return conv2d_backward_input(dy, w, {2, 3, 6, 6}, 1, 1);
                                      });
  t["conv2d_backward_filter"] = binary(shape_gen(f32, {2, 3, 6, 6}), shape_gen(f32, {2, 4, 6, 6}),
                                       [](const Tensor& x, const Tensor& dy) {
                                         return conv2d_backward_filter(x, dy, {4, 3, 3, 3}, 1, 1);
                                       });
  t["max_pool2d_backward"] = binary(shape_gen(f32, {2, 3, 6, 6}), shape_gen(f32, {2, 3, 3, 3}),
                                    [](const Tensor& x, const Tensor& dy) { return max_pool2d_backward(x, dy, 2, 2); });
  t["max_pool2d_pick"] = binary(shape_gen(f32, {2, 3, 6, 6}), shape_gen(f32, {2, 3, 6, 6}),
                                [](const Tensor& x, const Tensor& g) {
                                  Attrs attrs{{"kernel", int64_t(2)}, {"stride", int64_t(2)}};
                                  return dispatch1(op_def("max_pool2d_pick"), {&x, &g}, attrs, SrcLoc());
                                });
  t["fused_matmul"] = {[](uint64_t s) { return Inputs{randn({3, 5}, s), randn({5, 4}, s + 1), randn({4}, s + 2)}; },
                       [](const Inputs& in) {
                         Attrs attrs{{"activation", std::string("tanh")}};
                         return dispatch1(op_def("fused_matmul"), {&in[0], &in[1], &in[2]}, attrs, SrcLoc());
                       }};
  t["dropout"] = unary(shape_gen(f32, {4, 8}), [](const Tensor& x) { return dropout(x, 0.5, 7); });
  t["layer_norm"] = {[](uint64_t s) { return Inputs{randn({2, 3, 8}, s) * 3.f + 1.f, randn({8}, s + 1), randn({8}, s + 2)}; },
                     [](const Inputs& in) { return layer_norm(in[0], in[1], in[2]); }};
  t["rms_norm"] = {[](uint64_t s) { return Inputs{randn({5, 16}, s, DType::f64), randn({16}, s + 1, DType::f64)}; },
                   [](const Inputs& in) { return rms_norm(in[0], in[1]); }};
  return t;
}

// The elements as raw bytes, so equality is bitwise (NaN-safe, -0 != +0).
std::vector<unsigned char> bytes_of(const Tensor& t) {
  std::vector<unsigned char> out;
  auto append = [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> v = t.to_vector<T>();
    out.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  };
  switch (t.dtype()) {
    case DType::b8:
      for (bool b : t.to_vector<bool>()) out.push_back(b ? 1 : 0);
      break;
    case DType::i32: append(int32_t{}); break;
    case DType::i64: append(int64_t{}); break;
    case DType::f32: append(float{}); break;
    case DType::f64: append(double{}); break;
  }
  return out;
}

bool all_zero(const Tensor& t) {
  for (unsigned char c : bytes_of(t))
    if (c) return false;
  return true;
}

}  // namespace

TEST_CASE("function ops: every non-structural op has a sample in the table", "[function]") {
  std::map<std::string, OpCase> table = op_table();
  std::set<std::string> registered;
  for (const OpDef* op : OpRegistry::get().all()) {
    if (op->has(kStructural)) continue;
    registered.insert(op->name());
    INFO("op '" << op->name() << "' is registered but has no sample invocation in test_function_ops.cpp");
    CHECK(table.count(op->name()) == 1);
  }
  CHECK(registered.size() >= 50);
  // And the table names only registered, non-structural ops (no stale entries).
  for (const auto& [name, c] : table) {
    INFO("table entry '" << name << "'");
    CHECK(registered.count(name) == 1);
  }
}

TEST_CASE("function ops: a traced call of every op equals the eager call bitwise", "[function]") {
  std::map<std::string, OpCase> table = op_table();
  int checked = 0;
  for (const OpDef* op : OpRegistry::get().all()) {
    if (op->has(kStructural) || !table.count(op->name())) continue;  // a missing entry fails the test above
    const OpCase& c = table.at(op->name());
    INFO("op " << op->name());
    auto call = c.call;
    int calls = 0;
    auto f = function([call, &calls](std::vector<Tensor> xs) {
      ++calls;
      return call(xs);
    });
    // Two calls with the same signature and different values: one trace, and
    // the cached Program must not keep stale data from the first call.
    for (uint64_t seed : {11u, 523u}) {
      Inputs in = c.inputs(seed);
      for (const Tensor& x : in) REQUIRE_FALSE(all_zero(x));
      Tensor eager = c.call(in);
      Tensor traced = f(in);
      REQUIRE(traced.defined());
      CHECK(traced.dtype() == eager.dtype());
      CHECK(traced.shape() == eager.shape());
      // The Program calls the same kernels as eager dispatch: bitwise equal.
      CHECK(bytes_of(traced) == bytes_of(eager));
    }
    CHECK(f.trace_count() == 1);
    CHECK(calls == 1);  // the callable ran once, while tracing
    // The op really was recorded (not folded or run eagerly): the traced IR names it.
    std::string ir = f.get_concrete_function(c.inputs(11)).ir(Stage::traced);
    CHECK(ir.find("= " + op->name() + "(") != std::string::npos);
    ++checked;
  }
  CHECK(checked == static_cast<int>(table.size()));
}

TEST_CASE("function ops: tensors as separate arguments, broadcasting and f64", "[function]") {
  // The walk passes a std::vector<Tensor>; here the same ops through Tensor parameters.
  auto f = function([](Tensor a, Tensor b, Tensor c) {
    Tensor y = a * b + c;                        // [3,1] * [1,4] + [4] -> [3,4], f64
    return std::make_tuple(y, sum(y, {0}), cast(y > 0.0, DType::i64));
  });
  Tensor a = randn({3, 1}, 1, DType::f64), b = randn({1, 4}, 2, DType::f64), c = randn({4}, 3, DType::f64);
  auto [y, s, pos] = f(a, b, c);
  Tensor ye = a * b + c;
  CHECK(y.dtype() == DType::f64);
  CHECK(y.shape() == Shape{3, 4});
  CHECK(bytes_of(y) == bytes_of(ye));
  CHECK(bytes_of(s) == bytes_of(sum(ye, {0})));
  CHECK(pos.dtype() == DType::i64);
  CHECK(bytes_of(pos) == bytes_of(cast(ye > 0.0, DType::i64)));
}
