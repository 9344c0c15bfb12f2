// Property test of the "default" pass pipeline: for 1,000 random graphs the
// optimized graph computes the same values as the unoptimized one. Graph i is
// built by a generator seeded with i, twice (one copy is optimized, with
// verify_each), from: elementwise chains with broadcasts ([M,N] with [N],
// [M,1], [], constants), matmuls (batched too) with bias / activation
// epilogues, reductions (sum, mean, max, min; keepdims or not), softmax (op
// and pattern), movement (transpose, reshape, expand_dims, squeeze,
// broadcast_to/_like, slice, concat), where / compares / casts via f64 and
// i32, and fodder for canonicalize, constant-fold, cse and dce. Results: the
// last value, some unused ones, random earlier ones (siblings, repeats,
// parameters). With a CPU TargetInfo from the backends, each graph is also
// optimized for it (fused_matmul). Both run through codegen::Program on the
// same inputs (uniform in [-2, 2]); every output element must agree to
//   |a - b| <= 1e-5 * max(1, |a|, |b|)   (relative 1e-5, absolute near 0),
// NaN matching NaN (magnitudes are bounded so none should appear). Also: no
// program writes its inputs, a second run agrees (plans and arenas reused),
// and enough graphs fuse that the test is not vacuous. Plus focused cases
// with a dynamic batch dim.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <duet/backends/storage.h>
#include <duet/codegen/llvm/kernels.h>
#include <duet/codegen/gpu/ptx.h>
#include <duet/codegen/program.h>
#include <duet/graph/ir.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>

#include "test_ptx.h"
#if __has_include(<duet/backends/target.h>)
#include <duet/backends/target.h>
#define DUET_TEST_CPU_TARGET 1
#endif

using namespace duet;

namespace {

using Dims = std::vector<int64_t>;

bool broadcasts(const Dims& a, const Dims& b) {
  for (size_t i = 1; i <= std::min(a.size(), b.size()); ++i) {
    int64_t x = a[a.size() - i], y = b[b.size() - i];
    if (x != y && x != 1 && y != 1) return false;
  }
  return true;
}
Attrs reduce_attrs(Dims axes, bool keepdims) { return {{"axes", std::move(axes)}, {"keepdims", keepdims}}; }

// The generator. Each value carries a bound on its magnitude, so exp never
// overflows and operands over 30 are squashed (tanh, or divided by the bound);
// log, sqrt, rsqrt and div only see operands made positive.
struct Gen {
  struct V { Value* v; double bound; };
  std::mt19937 rng;
  Graph& g;
  std::vector<V> pool;  // f32 values steps may use

  Gen(uint32_t seed, Graph& graph) : rng(seed), g(graph) {}
  int pick(size_t n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); }
  bool coin(int percent) { return pick(100) < percent; }
  int64_t dim() { static const int64_t ds[] = {1, 2, 3, 4, 5, 7, 8, 9}; return ds[pick(8)]; }
  static Dims dims(const Value* v) { return v->type().tensor.shape.vec(); }

  Value* push(Value* v, double bound) { pool.push_back({v, bound}); return v; }
  Value* param(const Dims& d) {
    return push(g.add_param(TensorType{DType::f32, Shape(d)}, std::string("p") + std::to_string(g.num_params())), 2);
  }
  Value* op(const char* name, const std::vector<Value*>& in, const Attrs& a = {}) { return g.append(op_def(name), in, a)->result(); }
  Value* cast(Value* x, DType t) { return op("cast", {x}, {{"dtype", t}}); }
  // A constant of shape d: every element `splat`, or random in [-2, 2].
  Value* constant(const Dims& d, bool random, float splat = 0) {
    auto data = std::make_shared<DenseData>();
    data->shape = Shape(d);
    data->bytes.resize(static_cast<size_t>(data->shape.numel()) * sizeof(float));
    float* f = reinterpret_cast<float*>(data->bytes.data());
    for (int64_t i = 0; i < data->shape.numel(); ++i) f[i] = random ? static_cast<float>(pick(4001)) / 1000 - 2 : splat;
    return op("constant", {}, Attrs{{"value", Dense{data}}});
  }
  // A shape that broadcasts with d: d itself, its last dim, [d0, 1], [] or d with some 1s.
  Dims partner(Dims d) {
    switch (pick(5)) {
      case 0: return d;
      case 1: return d.empty() ? d : Dims{d.back()};
      case 2: if (d.size() >= 2) return Dims{d[d.size() - 2], 1}; [[fallthrough]];
      case 3: return {};
      default: for (int64_t& x : d) if (coin(40)) x = 1; return d;
    }
  }
  // An operand: recent values preferred; large ones squashed first.
  V operand() {
    V x = coin(65) ? pool[pool.size() - 1 - pick(std::min<size_t>(pool.size(), 3))] : pool[pick(pool.size())];
    if (x.bound <= 30) return x;
    if (coin(50)) return {push(op("tanh", {x.v}), 1), 1};
    return {push(op("div", {x.v, constant({}, false, static_cast<float>(x.bound))}), 1), 1};
  }
  // A value that broadcasts with d: an earlier one, or a new parameter.
  V other(const Dims& d) {
    for (int t = 0; t < 6; ++t) {
      V c = pool[pick(pool.size())];
      if (c.bound <= 30 && broadcasts(d, dims(c.v)) && coin(70)) return c;
    }
    return {param(partner(d)), 2};
  }
  V positive(V y) {  // >= 1, or exp of a bounded value
    if (coin(50)) return {op("add", {op("abs", {y.v}), constant({}, false, 1.0f)}), y.bound + 1};
    return {op("exp", {op("tanh", {y.v})}), 3};
  }

  Value* step() {  // one random construct; returns its value (also pushed)
    V x = operand();
    Dims d = dims(x.v);
    int r = static_cast<int>(d.size());
    switch (pick(12)) {
      case 0: {  // unary
        static const char* ops[] = {"neg", "abs", "relu", "tanh", "sigmoid", "gelu", "erf", "square", "exp"};
        int k = pick(9);
        if (k == 8 && x.bound > 4) x = {op("tanh", {x.v}), 1};
        return push(op(ops[k], {x.v}), k == 3 || k == 4 ? 1 : k == 7 ? x.bound * x.bound : k == 8 ? std::exp(x.bound) : x.bound);
      }
      case 1: {  // restricted domains, on positive operands
        int k = pick(4);
        if (k == 0) return push(op("log", {positive(x).v}), 2 + x.bound);
        if (k == 1) return push(op("sqrt", {op("abs", {x.v})}), std::sqrt(x.bound) + 1);
        if (k == 2) return push(op("rsqrt", {positive(x).v}), 2);
        return push(op("log", {op("sigmoid", {x.v})}), x.bound + 1);
      }
      case 2: case 3: {  // binary, with broadcasting
        V y = other(d);
        if (coin(50)) std::swap(x, y);
        static const char* ops[] = {"add", "sub", "mul", "maximum", "minimum", "div"};
        int k = pick(6);
        if (k == 5) return push(op("div", {x.v, positive(y).v}), x.bound);
        return push(op(ops[k], {x.v, y.v}), k == 2 ? x.bound * y.bound : x.bound + y.bound);
      }
      case 4: {  // constants: identities (canonicalize), foldable pairs, broadcasts
        Dims cd = partner(d);
        int k = pick(7);
        if (k == 0) return push(op("mul", {x.v, constant(cd, false, 1.0f)}), x.bound);
        if (k == 1) return push(op("mul", {constant(cd, false, 1.0f), x.v}), x.bound);
        if (k == 2) return push(coin(50) ? op("div", {x.v, constant(cd, false, 1.0f)}) : op("sub", {x.v, constant(cd, false, 0.0f)}), x.bound);
        if (k == 3) return push(op("add", {constant(cd, false, coin(50) ? -0.0f : 0.0f), x.v}), x.bound);
        if (k == 4) return push(op("mul", {x.v, push(op("add", {constant(cd, true), constant({}, true)}), 4)}), 4 * x.bound);
        return push(op(k == 5 ? "add" : "maximum", {x.v, constant(cd, true)}), x.bound + 2);
      }
      case 5: {  // matmul [a,k] x [k,n] or batched [b,a,k] x [k,n]; + a bias; + an activation
        if (r == 0) x.v = op("reshape", {x.v}, {{"shape", Dims{1, 1}}});
        if (r == 1) x.v = op("expand_dims", {x.v}, {{"axis", int64_t{0}}});
        if (r == 3 && coin(50)) x.v = op("reshape", {x.v}, {{"shape", Dims{d[0] * d[1], d[2]}}});
        Dims a = dims(x.v);
        bool self = a.size() == 2 && coin(25);
        Value* y = op("matmul", {x.v, self ? op("transpose", {x.v}, {{"perm", Dims{1, 0}}}) : param({a.back(), dim()})});
        double b = x.bound * (self ? x.bound : 2) * static_cast<double>(a.back());
        Dims out = dims(y);
        if (coin(75)) {  // a row [n] or [1,n], full, a column [a,1], a scalar, larger than the product, or y itself
          int kind = pick(9);
          Dims bd = kind < 3 ? Dims{out.back()} : kind == 3 ? Dims{1, out.back()} : kind == 4 ? out
                  : kind == 5 ? Dims{out[out.size() - 2], 1} : kind == 6 ? Dims{} : out;
          if (kind == 7) bd.insert(bd.begin(), 2);
          Value* bias = kind == 8 ? y : coin(70) ? param(bd) : constant(bd, true);
          y = coin(80) ? op("add", {y, bias}) : op("add", {bias, y});
          b = kind == 8 ? 2 * b : b + 2;
        }
        static const char* acts[] = {"relu", "relu", "tanh", "sigmoid", "gelu"};
        if (coin(60)) y = op(acts[pick(5)], {y});
        return push(y, b);
      }
      case 6: {  // reductions
        static const char* ops[] = {"sum", "mean", "max", "min"};
        int k = pick(4);
        Dims axes = r == 0 || coin(15) ? Dims{} : coin(60) ? Dims{-1} : Dims{0};
        if (r >= 2 && coin(15)) axes = {0, -1};
        double n = 1;
        for (int64_t e : d) n *= static_cast<double>(e);
        return push(op(ops[k], {x.v}, reduce_attrs(axes, coin(50))), k == 0 ? x.bound * n : x.bound);
      }
      case 7: {  // softmax over the last axis: the op, or x - max -> exp -> / sum
        if (r == 0) return push(op("sigmoid", {x.v}), 1);
        if (coin(25)) return push(op("softmax", {x.v}, {{"axis", int64_t{-1}}}), 1);
        Value* e = op("exp", {op("sub", {x.v, op("max", {x.v}, reduce_attrs({-1}, true))})});
        return push(op("div", {e, op("sum", {e}, reduce_attrs({-1}, true))}), 1);
      }
      case 8: case 9: {  // movement
        int k = pick(7);
        if (k == 0 && r >= 2) {
          Dims perm;
          for (int i = 0; i < r; ++i) perm.push_back(i);
          for (int i = r - 1; i > 0; --i) std::swap(perm[i], perm[pick(i + 1)]);
          return push(op("transpose", {x.v}, {{"perm", perm}}), x.bound);
        }
        if (k <= 1) return push(op("reshape", {x.v}, {{"shape", coin(50) ? Dims{-1} : Dims(d.rbegin(), d.rend())}}), x.bound);
        if (k == 2 && r < 3) return push(op("expand_dims", {x.v}, {{"axis", int64_t{pick(r + 1)}}}), x.bound);
        if (k == 3 && std::count(d.begin(), d.end(), 1) > 0) return push(op("squeeze", {x.v}, {{"axes", Dims{}}}), x.bound);
        if (k == 4 && r >= 1 && d.back() > 1) {
          int64_t b = pick(static_cast<size_t>(d.back())), e = b + 1 + pick(static_cast<size_t>(d.back() - b));
          return push(op("slice", {x.v}, {{"axis", int64_t{-1}}, {"begin", b}, {"end", e}}), x.bound);
        }
        if (k == 5 && r >= 1) return push(op("concat", {x.v, op("neg", {x.v})}, {{"axis", int64_t{0}}}), x.bound);
        Dims t = d;
        if (r < 3) t.insert(t.begin(), dim());
        if (coin(50)) return push(op("broadcast_to", {x.v}, {{"shape", t}}), x.bound);
        return push(op("broadcast_like", {x.v, param(t)}), x.bound);
      }
      case 10: {  // b8, f64 and i32 inside elementwise chains
        int k = pick(4);
        if (k == 0) {
          V y = other(d);
          return push(op("where", {op("greater", {x.v, y.v}), x.v, op("neg", {y.v})}), std::max(x.bound, y.bound));
        }
        if (k == 1) return push(cast(op("exp", {cast(op("tanh", {x.v}), DType::f64)}), DType::f32), 3);
        if (k == 2) return push(cast(cast(op("mul", {x.v, constant({}, false, 4.0f)}), DType::i32), DType::f32), 4 * x.bound);
        return push(cast(x.v, DType::f32), x.bound);
      }
      default: {  // redundancy: neg(neg), transpose pairs, reshape chains, no-op broadcasts, duplicates (cse)
        int k = pick(4);
        if (k == 0) return push(op("neg", {op("neg", {x.v})}), x.bound);
        if (k == 1 && r == 2) return push(op("transpose", {op("transpose", {x.v}, {{"perm", Dims{1, 0}}})}, {{"perm", Dims{-1, 0}}}), x.bound);
        if (k == 1) return push(op("reshape", {op("reshape", {x.v}, {{"shape", Dims{-1}}})}, {{"shape", d}}), x.bound);
        if (k == 2) return push(op("broadcast_to", {x.v}, {{"shape", d}}), x.bound);
        return push(op("add", {op("tanh", {x.v}), op("tanh", {x.v})}), 2);
      }
    }
  }

  void build() {
    Dims d;
    for (int i = 0, r = 1 + pick(3); i < r; ++i) d.push_back(dim());
    param(d);
    if (coin(50)) param(partner(d));
    for (int i = 0, n = 2 + pick(9); i < n; ++i) step();
    std::vector<Value*> results{pool.back().v};
    for (size_t i = 0; i + 1 < pool.size(); ++i)  // some values nothing uses (the rest stays dead)
      if (pool[i].v->producer() && pool[i].v->uses().empty() && coin(40)) results.push_back(pool[i].v);
    for (int i = 0, n = pick(3); i < n; ++i) results.push_back(pool[pick(pool.size())].v);
    if (coin(5)) results.push_back(g.param(0));
    g.set_results(results);
  }
};

// Inputs for a graph's parameters (dynamic dims set to `batch`), released at scope exit.
struct Inputs {
  std::vector<codegen::Buffer> bufs;
  std::vector<std::vector<float>> copy;  // to check that no program writes its inputs
  Inputs(const Graph& g, std::mt19937& rng, int64_t batch = 1) {
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    for (int i = 0; i < g.num_params(); ++i) {
      Dims d = g.param(i)->type().tensor.shape.vec();
      for (int64_t& x : d) if (x < 0) x = batch;
      TensorType t{DType::f32, Shape(d)};
      Storage* s = Storage::allocate(static_cast<size_t>(t.shape.numel()) * sizeof(float), Device::cpu());
      bufs.push_back({t, s});
      float* f = static_cast<float*>(s->data());
      for (int64_t k = 0; k < t.shape.numel(); ++k) f[k] = u(rng);
      if (f[0] == 0) f[0] = 0.5f;  // never all zeros
      copy.emplace_back(f, f + t.shape.numel());
    }
  }
  ~Inputs() { for (auto& b : bufs) b.storage->release(); }
  bool unchanged() const {
    for (size_t i = 0; i < bufs.size(); ++i)
      if (!std::equal(copy[i].begin(), copy[i].end(), static_cast<const float*>(bufs[i].storage->data()))) return false;
    return true;
  }
};

using Outputs = std::vector<std::pair<TensorType, std::vector<float>>>;

Outputs run(const codegen::Program& p, const Inputs& in) {
  std::vector<codegen::Buffer> out;
  p.run(in.bufs, &out);
  Outputs r;
  for (codegen::Buffer& b : out) {
    const float* f = static_cast<const float*>(b.storage->data());
    r.emplace_back(b.type, std::vector<float>(f, f + b.type.shape.numel()));
    b.storage->release();  // each output comes with one reference for the caller
  }
  return r;
}

// "" when got matches want, else the first difference. Counts compared outputs.
std::string diff(const Outputs& want, const Outputs& got, int64_t* compared) {
  if (want.size() != got.size()) return "different numbers of outputs";
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(want[i].first == got[i].first))
      return "output " + std::to_string(i) + ": type " + got[i].first.str() + " != " + want[i].first.str();
    for (size_t k = 0; k < want[i].second.size(); ++k) {
      double a = want[i].second[k], b = got[i].second[k];
      if (!(a == b || (std::isnan(a) && std::isnan(b)) ||
            std::fabs(a - b) <= 1e-5 * std::max({1.0, std::fabs(a), std::fabs(b)})))
        return "output " + std::to_string(i) + " element " + std::to_string(k) + ": optimized " + std::to_string(b) +
               ", unoptimized " + std::to_string(a);
    }
    ++*compared;
  }
  return "";
}

bool has(const Graph& g, const char* op) {
  return std::any_of(g.nodes().begin(), g.nodes().end(), [&](const auto& n) { return n->name() == op; });
}

#ifdef DUET_TEST_CPU_TARGET
constexpr int kTargets = 2;
#else
constexpr int kTargets = 1;
#endif
const char* const kTargetNames[] = {"no target", "cpu target"};

std::unique_ptr<Graph> optimized(std::unique_ptr<Graph> g, int target) {
  passes::PassManagerOptions options;
  options.verify_each = true;
#ifdef DUET_TEST_CPU_TARGET
  passes::PassManager("default", options).run(*g, target ? &cpu_target() : nullptr);
#else
  passes::PassManager("default", options).run(*g);
#endif
  verify(*g);
  return g;
}

// Graphs over x: f32[?,5]. Variant 0: a dense layer (bias, relu), softmax, a
// sibling chain and a sum over the batch; variant 1: broadcasts with
// y: f32[?,1] and v: f32[5], a mean, a reshape to [-1], transpose(x) x x, x.
std::unique_ptr<Graph> dynamic_graph(int variant) {
  auto g = std::make_unique<Graph>("dyn");
  Gen gen(0, *g);
  Value* x = gen.param({-1, 5});
  if (variant == 0) {
    Value* h = gen.op("relu", {gen.op("add", {gen.op("matmul", {x, gen.param({5, 3})}), gen.param({3})})});
    Value* e = gen.op("exp", {gen.op("sub", {h, gen.op("max", {h}, reduce_attrs({-1}, true))})});
    Value* s = gen.op("div", {e, gen.op("sum", {e}, reduce_attrs({-1}, true))});
    Value* t = gen.op("sub", {gen.op("mul", {gen.op("tanh", {x}), gen.constant({}, false, 2.0f)}), x});
    g->set_results({s, t, gen.op("sum", {t}, reduce_attrs({0}, false)), h});
  } else {
    Value* a = gen.op("add", {x, gen.param({-1, 1})});
    Value* c = gen.op("maximum", {gen.op("mul", {a, gen.param({5})}), gen.op("neg", {a})});
    Value* d = gen.op("sub", {c, gen.op("mean", {c}, reduce_attrs({-1}, true))});
    Value* f = gen.op("reshape", {gen.op("mul", {d, gen.constant({}, false, 1.0f)})}, {{"shape", Dims{-1}}});
    g->set_results({d, f, gen.op("matmul", {gen.op("transpose", {x}, {{"perm", Dims{1, 0}}}), x}), x});
  }
  verify(*g);
  return g;
}

}  // namespace

TEST_CASE("the default pipeline preserves the values of 1000 random graphs", "[passes]") {
  constexpr uint32_t kGraphs = 1000;
  int fused[2] = {0, 0}, epilogues[2] = {0, 0};
  int64_t compared = 0, expected = 0;
  std::vector<std::string> failures;
  for (uint32_t seed = 0; seed < kGraphs; ++seed) {
    auto ref = std::make_unique<Graph>("rand");
    Gen(seed, *ref).build();
    std::string before = print_graph(*ref);
    std::mt19937 rng(seed + 1000003u);
    Inputs in(*ref, rng);
    for (int target = 0; target < kTargets; ++target) {
      auto opt = std::make_unique<Graph>("rand");
      Gen(seed, *opt).build();
      std::string after = "(not optimized)", what;
      try {
        verify(*ref);
        if (print_graph(*opt) != before) throw std::runtime_error("the generator is not deterministic");
        opt = optimized(std::move(opt), target);
        after = print_graph(*opt);
        fused[target] += has(*opt, "fusion");
        epilogues[target] += has(*opt, "fused_matmul");
        auto p_ref = codegen::Program::lower(*ref);
        auto p_opt = codegen::Program::lower(*opt);
        Outputs want = run(*p_ref, in);
        expected += 2 * static_cast<int64_t>(ref->results().size());
        what = diff(want, run(*p_opt, in), &compared);
        if (what.empty()) what = diff(want, run(*p_opt, in), &compared);
        if (what.empty() && !in.unchanged()) what = "a program wrote one of its inputs";
      } catch (const std::exception& e) {
        what = std::string("threw: ") + e.what();
      }
      if (what.empty()) continue;
      failures.push_back("seed " + std::to_string(seed) + " (" + kTargetNames[target] + "): " + what);
      if (failures.size() <= 3) {
        INFO(failures.back() << "\nunoptimized:\n" << before << "optimized:\n" << after);
        CHECK(false);
      }
    }
  }
  std::string all;
  for (const std::string& f : failures) all += f + "\n";
  INFO(failures.size() << " failures over " << kGraphs << " graphs:\n" << all);
  CHECK(failures.empty());
  INFO("graphs with fusion nodes: " << fused[0] << " without a target, " << fused[1] << " for the cpu; with "
                                     << "fused_matmul: " << epilogues[1] << " for the cpu");
  CHECK(fused[0] > 300);  // not vacuous
  if (kTargets == 2) CHECK(epilogues[1] > 100);
  CHECK(compared == expected);
}

// Every compilable fusion of those graphs (elementwise, or ending in a row or
// column reduction), as a GPU kernel (NOTE [GPU kernels]); `reductions`
// counts those ending in a reduction, `skipped` those the PTX generator
// refuses.
static std::vector<codegen::ptx::KernelSpec> random_graph_kernels(int& reductions, int& skipped) {
  std::vector<codegen::ptx::KernelSpec> kernels;
  reductions = 0, skipped = 0;
  for (uint32_t seed = 0; seed < 1000; ++seed) {
    auto g = std::make_unique<Graph>("rand");
    Gen(seed, *g).build();
    g = optimized(std::move(g), 0);
    std::function<void(const Graph&)> walk = [&](const Graph& graph) {
      for (const auto& n : graph.nodes()) {
        for (int r = 0; r < n->num_regions(); ++r)
          if (n->name() != "fusion") walk(*n->region(r));
        if (n->name() != "fusion" || !codegen::unsupported(*n->region(0)).empty()) continue;
        codegen::BodySpec body = codegen::describe(*n->region(0));
        if (!codegen::gpu_refusal(body).empty()) {
          ++skipped;
          continue;
        }
        reductions += body.reduction_yield >= 0;
        int rank = std::max(1, n->result(0)->type().tensor.shape.rank());
        std::string name = std::to_string(seed) + "_" + std::to_string(kernels.size());
        kernels.push_back({name.insert(0, 1, 'g'), body, rank});
      }
    };
    walk(*g);
  }
  INFO(kernels.size() << " fusions, " << reductions << " of them ending in a reduction; " << skipped << " skipped");
  CHECK(skipped == 0);
  CHECK(reductions > 300);
  CHECK(kernels.size() > 1000);
  return kernels;
}

// The PTX generator takes every one (random_graph_kernels CHECKs it). The
// generation itself, the slow part, runs once, with the assembly below;
// PTX for every op and reduction is generated by test_ptx.cpp's [ptx] cases.
TEST_CASE("the fusions of the 1000 random graphs are GPU kernels the PTX generator takes", "[passes][ptx]") {
  int reductions = 0, skipped = 0;
  CHECK(!random_graph_kernels(reductions, skipped).empty());
}

// ... and generate and assemble with ptxas: ctest's ptx.ptxas (NOTE [Skips
// that show] in main.cpp).
TEST_CASE("the fusions of the 1000 random graphs assemble as GPU kernels", "[.ptxas]") {
  int reductions = 0, skipped = 0;
  CHECK(duet_test::ptxas_accepts(random_graph_kernels(reductions, skipped), "graphs"));
}

TEST_CASE("optimized programs with a dynamic batch dim match for batch sizes 1, 7 and 3", "[passes]") {
  for (int variant = 0; variant < 2; ++variant) {
    for (int target = 0; target < kTargets; ++target) {
      auto ref = dynamic_graph(variant);
      auto opt = optimized(dynamic_graph(variant), target);
      INFO("variant " << variant << ", " << kTargetNames[target] << "\nunoptimized:\n" << print_graph(*ref)
                      << "optimized:\n" << print_graph(*opt));
      CHECK(has(*opt, "fusion"));
      auto p_ref = codegen::Program::lower(*ref);
      auto p_opt = codegen::Program::lower(*opt);
      std::mt19937 rng(42);
      for (int64_t batch : {1, 7, 3, 7}) {  // 7 again: a memoized plan
        INFO("batch " << batch);
        Inputs in(*ref, rng, batch);
        Outputs want = run(*p_ref, in);
        REQUIRE(want.size() == 4);
        CHECK(want[0].first.shape.dim(0) == batch);
        int64_t compared = 0;
        CHECK(diff(want, run(*p_opt, in), &compared) == "");
        CHECK(compared == 4);
        CHECK(in.unchanged());
      }
    }
  }
}
