// The seeded generator of duet-difftest's random programs.
#include "program.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

// NOTE [Random programs]
// A program is a straight line of instructions over a few inputs (rank 0 to
// 3, sizes 1 to 5) and up to two variables: elementwise chains whose second
// operand broadcasts (an earlier value, a variable, a new input or a
// number), matmuls (batched too), reductions, transposes, reshapes,
// expand_dims/squeeze, where, cond (over a sum's sign, branches of 1 to 3
// steps) and while_loop (1 to 3 trips of a body ending in tanh), variable
// reads, and assigns or assign_adds (in branches, in loop bodies and at the
// end). Every value carries a bound on its magnitude: exp sees at most 10,
// anything over 30 is squashed (tanh or a scale), and log, sqrt, rsqrt, div
// and pow only see operands made positive (square + c), so results stay
// finite and comparisons mean something. f64 programs (odd seeds) also have
// their gradients checked against finite differences; the ops with kinks
// (abs, relu, maximum, minimum, where, a cond's predicate) are hit exactly
// with probability near zero on random inputs.

namespace difftest {
namespace {

struct V {
  int id;
  double bound;
};

struct Gen {
  Program& p;
  std::mt19937_64 rng;
  int depth = 0;
  bool in_loop = false;
  std::vector<bool> assigned;  // per variable: assigned already, so no later reads (see below)

  Gen(Program& prog, uint64_t seed) : p(prog), rng(seed * 0x9E3779B97F4A7C15ull + 1) {}

  int pick(size_t n) { return static_cast<int>(rng() % n); }
  bool coin(int percent) { return pick(100) < percent; }
  int64_t dim() { return 1 + pick(5); }
  const Dims& shape(int id) const { return p.shapes[static_cast<size_t>(id)]; }
  int64_t numel(const Dims& d) const { return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>()); }

  int new_value(Dims d) {
    p.shapes.push_back(std::move(d));
    return p.num_values++;
  }
  double uniform() {
    double u = std::uniform_real_distribution<double>(-2, 2)(rng);
    return p.dtype == duet::DType::f32 ? static_cast<double>(static_cast<float>(u)) : u;
  }
  V input(Dims d) {
    std::vector<double> data(static_cast<size_t>(numel(d)));
    for (double& x : data) x = uniform();
    int id = new_value(d);
    p.inputs.push_back(std::move(d));
    p.input_data.push_back(std::move(data));
    p.input_ids.push_back(id);
    return {id, 2};
  }
  Dims random_dims(int max_rank) {
    Dims d(static_cast<size_t>(pick(static_cast<size_t>(max_rank) + 1)));
    for (int64_t& x : d) x = dim();
    return d;
  }

  V emit(std::vector<Instr>& code, Instr ins, Dims result_shape, double bound) {
    ins.result = new_value(std::move(result_shape));
    code.push_back(std::move(ins));
    return {code.back().result, bound};
  }
  V unary(std::vector<Instr>& code, const std::string& op, V x, double bound) {
    Instr i;
    i.kind = Kind::unary;
    i.op = op;
    i.in = {x.id};
    return emit(code, std::move(i), shape(x.id), bound);
  }
  V with_number(std::vector<Instr>& code, const std::string& op, V x, double k, double bound) {
    Instr i;
    i.kind = Kind::binary_k;
    i.op = op;
    i.in = {x.id};
    i.k = k;
    return emit(code, std::move(i), shape(x.id), bound);
  }
  // square(x) + c: positive, for log, sqrt, rsqrt, div and pow.
  V positive(std::vector<Instr>& code, V x, double c) {
    if (x.bound > 30) x = squash(code, x);
    V s = unary(code, "square", x, x.bound * x.bound);
    return with_number(code, "add", s, c, s.bound + c);
  }
  V squash(std::vector<Instr>& code, V x) {
    if (coin(50)) return unary(code, "tanh", x, 1);
    return with_number(code, "mul", x, 1.0 / std::ceil(x.bound), 1);
  }
  V tame(std::vector<Instr>& code, V x) { return x.bound > 30 ? squash(code, x) : x; }

  // A shape that broadcasts to d: some dims 1, maybe fewer leading dims.
  Dims broadcast_source(const Dims& d) {
    Dims s = d;
    for (int64_t& x : s)
      if (coin(30)) x = 1;
    size_t drop = d.empty() ? 0 : static_cast<size_t>(pick(d.size() + 1));
    if (coin(50)) drop = 0;
    s.erase(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(drop));
    return s;
  }
  // A variable's value. Reads come before any assign of that variable: a read
  // after an assign sees the assigned value but no gradient through it (a
  // variable read is a leaf, as in TensorFlow), which finite differences
  // would see.
  V read(std::vector<Instr>& code, int var) {
    Instr i;
    i.kind = Kind::read;
    i.op = "read";
    i.var = var;
    // Assign_adds grow a variable from call to call.
    return emit(code, std::move(i), p.variables[static_cast<size_t>(var)], 40);
  }
  std::vector<int> readable(const Dims* d) const {
    std::vector<int> out;
    for (size_t v = 0; v < p.variables.size(); ++v)
      if (!assigned[v] && (!d || p.variables[v] == *d)) out.push_back(static_cast<int>(v));
    return out;
  }
  // Assigns (or adds) a value of the pool with the variable's shape, if any.
  void assign(std::vector<Instr>& code, const std::vector<V>& pool, int var) {
    std::vector<V> same;
    for (const V& x : pool)
      if (shape(x.id) == p.variables[static_cast<size_t>(var)] && x.bound <= 30) same.push_back(x);
    if (same.empty()) return;
    Instr i;
    i.kind = Kind::assign;
    i.op = coin(50) ? "assign" : "assign_add";
    i.var = var;
    i.in = {same[static_cast<size_t>(pick(same.size()))].id};
    code.push_back(std::move(i));
    assigned[static_cast<size_t>(var)] = true;
  }

  // An operand of shape `d`: an earlier value of that shape, a variable, or a new input.
  V operand(std::vector<Instr>& code, const std::vector<V>& pool, const Dims& d) {
    std::vector<int> vars = readable(&d);
    if (!vars.empty() && coin(15)) return tame(code, read(code, vars[static_cast<size_t>(pick(vars.size()))]));
    std::vector<V> same;
    for (const V& v : pool)
      if (shape(v.id) == d) same.push_back(v);
    if (!same.empty() && coin(60)) return same[static_cast<size_t>(pick(same.size()))];
    return input(d);
  }

  // One step that keeps x's shape: a unary op, a binary op with an operand
  // that broadcasts to it, or a number.
  V elementwise(std::vector<Instr>& code, std::vector<V>& pool, V x) {
    int r = pick(100);
    if (r < 45) {
      static const char* ops[] = {"neg",  "abs",  "square", "exp",       "log",   "sqrt",     "rsqrt", "tanh",
                                  "sigmoid", "relu", "gelu", "erf", "gelu_tanh", "log1p", "softplus", "sign"};
      std::string op = ops[pick(16)];
      if (op == "exp") {
        if (x.bound > 10) x = unary(code, "tanh", x, 1);
        return tame(code, unary(code, op, x, std::exp(x.bound)));
      }
      if (op == "log" || op == "log1p" || op == "sqrt" || op == "rsqrt") {
        V t = positive(code, x, 0.5);
        double b = op == "log"     ? std::max(std::log(t.bound), 0.7)
                   : op == "log1p" ? std::log1p(t.bound)
                   : op == "sqrt"  ? std::sqrt(t.bound)
                                   : 1.5;
        return unary(code, op, t, b);
      }
      double b = op == "square" ? x.bound * x.bound
                 : (op == "tanh" || op == "sigmoid" || op == "erf" || op == "sign") ? 1
                 : op == "softplus"                                               ? x.bound + 0.7
                                                                                  : x.bound + 0.2;
      return tame(code, unary(code, op, x, b));
    }
    if (r < 60) {
      static const double ks[] = {0.5, -1.5, 2.0, 3.0, 0.25};
      double k = ks[pick(5)];
      static const char* ops[] = {"add", "sub", "mul", "pow"};
      std::string op = ops[pick(4)];
      if (op == "pow") {
        V t = positive(code, x, 0.5);
        return tame(code, with_number(code, "pow", t, k, std::pow(std::max(t.bound, 2.0), std::abs(k))));
      }
      double b = op == "mul" ? x.bound * std::abs(k) : x.bound + std::abs(k);
      return tame(code, with_number(code, op, x, k, b));
    }
    V y = operand(code, pool, broadcast_source(shape(x.id)));
    if (r < 68) {
      Instr i;
      i.kind = Kind::where;
      i.op = "where";
      i.in = {x.id, y.id};
      return emit(code, std::move(i), shape(x.id), std::max(x.bound, y.bound));
    }
    static const char* ops[] = {"add", "sub", "mul", "div", "maximum", "minimum"};
    std::string op = ops[pick(6)];
    double b = x.bound + y.bound;
    if (op == "mul") b = x.bound * y.bound;
    if (op == "div") {
      y = positive(code, y, 1.0);
      b = x.bound;
    }
    Instr i;
    i.kind = Kind::binary;
    i.op = op;
    i.in = coin(80) ? std::vector<int>{x.id, y.id} : std::vector<int>{y.id, x.id};
    if (op == "div") i.in = {x.id, y.id};
    return tame(code, emit(code, std::move(i), shape(x.id), b));
  }

  // A block of 1 to 3 shape-keeping steps from `start`.
  Block block(std::vector<V> pool, V start, bool end_in_tanh, double* bound) {
    Block b;
    V x = start;
    int steps = 1 + pick(3);
    for (int s = 0; s < steps; ++s) {
      x = elementwise(b.code, pool, x);
      pool.push_back(x);
    }
    if (end_in_tanh) x = unary(b.code, "tanh", x, 1);
    // An assign inside a branch or a loop body (not in f64 loops: a later
    // trip's read would see it, out of the finite differences' reach).
    if (!p.variables.empty() && coin(30) && !(in_loop && p.dtype == duet::DType::f64))
      assign(b.code, pool, pick(p.variables.size()));
    b.result = x.id;
    *bound = x.bound;
    return b;
  }

  V step(std::vector<Instr>& code, std::vector<V>& pool) {
    V x = pool[static_cast<size_t>(pick(pool.size()))];
    Dims d = shape(x.id);  // a copy: new values grow p.shapes
    int r = pick(100);
    if (r < 50) return elementwise(code, pool, x);
    if (r < 60 && !d.empty()) {
      Instr i;
      i.kind = Kind::reduce;
      static const char* ops[] = {"sum", "mean", "max", "min"};
      i.op = ops[pick(4)];
      i.in = {x.id};
      i.keepdims = coin(40);
      Dims out;
      int64_t count = 1;
      for (size_t a = 0; a < d.size(); ++a) {
        if (coin(50)) {
          i.ints.push_back(static_cast<int64_t>(a));
          count *= d[a];
          if (i.keepdims) out.push_back(1);
        } else {
          out.push_back(d[a]);
        }
      }
      if (i.ints.empty()) {  // every axis, written as {}
        out = i.keepdims ? Dims(d.size(), 1) : Dims{};
        count = numel(d);
      }
      double b = i.op == "sum" ? x.bound * static_cast<double>(count) : x.bound;
      return tame(code, emit(code, std::move(i), out, b));
    }
    if (r < 70 && (d.size() == 2 || d.size() == 3)) {
      int64_t k = d.back(), n = dim();
      Dims yd = {k, n};
      if (d.size() == 3 && coin(50)) yd.insert(yd.begin(), d[0]);
      V y = operand(code, pool, yd);
      Instr i;
      i.kind = Kind::matmul;
      i.op = "matmul";
      i.in = {x.id, y.id};
      Dims out = d;
      out.back() = n;
      return tame(code, emit(code, std::move(i), out, x.bound * y.bound * static_cast<double>(k)));
    }
    if (r < 75 && d.size() >= 2) {
      Instr i;
      i.kind = Kind::transpose;
      i.op = "transpose";
      i.in = {x.id};
      i.ints.resize(d.size());
      std::iota(i.ints.begin(), i.ints.end(), 0);
      std::shuffle(i.ints.begin(), i.ints.end(), rng);
      Dims out;
      for (int64_t a : i.ints) out.push_back(d[static_cast<size_t>(a)]);
      return emit(code, std::move(i), out, x.bound);
    }
    if (r < 80) {
      Instr i;
      i.kind = Kind::reshape;
      i.op = "reshape";
      i.in = {x.id};
      int64_t n = numel(d);
      std::vector<int64_t> divisors;
      for (int64_t a = 1; a <= n; ++a)
        if (n % a == 0) divisors.push_back(a);
      int64_t a = divisors[static_cast<size_t>(pick(divisors.size()))];
      Dims out = coin(30) ? Dims{n} : Dims{a, n / a};
      i.ints = out;
      if (coin(30)) i.ints[0] = -1;  // reshape infers it
      return emit(code, std::move(i), out, x.bound);
    }
    if (r < 85) {
      Instr i;
      i.in = {x.id};
      Dims out = d;
      std::vector<int64_t> ones;
      for (size_t a = 0; a < d.size(); ++a)
        if (d[a] == 1) ones.push_back(static_cast<int64_t>(a));
      if (!ones.empty() && coin(50)) {
        i.kind = Kind::squeeze;
        i.op = "squeeze";
        int64_t a = ones[static_cast<size_t>(pick(ones.size()))];
        i.ints = {a};
        out.erase(out.begin() + a);
      } else {
        if (d.size() >= 3) return elementwise(code, pool, x);
        i.kind = Kind::expand;
        i.op = "expand_dims";
        int64_t a = pick(d.size() + 1);
        i.ints = {a};
        out.insert(out.begin() + a, 1);
      }
      return emit(code, std::move(i), out, x.bound);
    }
    if (r < 92 && depth == 0) {
      Instr i;
      i.kind = Kind::cond;
      i.op = "cond";
      i.in = {x.id};
      i.k = coin(50) ? 0.0 : 0.5;
      V start = pool[static_cast<size_t>(pick(pool.size()))];
      double b1 = 0, b2 = 0;
      ++depth;
      i.blocks.push_back(block(pool, start, false, &b1));
      i.blocks.push_back(block(pool, start, false, &b2));
      --depth;
      return tame(code, emit(code, std::move(i), shape(start.id), std::max(b1, b2)));
    }
    if (r < 97 && depth == 0) {
      Instr i;
      i.kind = Kind::loop;
      i.op = "while_loop";
      i.in = {x.id};
      i.trips = 1 + pick(3);
      double inner = std::max(x.bound, 1.0), b = 0;
      int param = new_value(d);
      ++depth;
      in_loop = true;
      Block body = block(pool, V{param, inner}, true, &b);
      in_loop = false;
      --depth;
      body.param = param;
      i.blocks.push_back(std::move(body));
      return emit(code, std::move(i), d, inner);
    }
    std::vector<int> vars = readable(nullptr);
    if (!vars.empty()) return read(code, vars[static_cast<size_t>(pick(vars.size()))]);
    return elementwise(code, pool, x);
  }
};

}  // namespace

Program generate(uint64_t seed) {
  Program p;
  p.seed = seed;
  p.dtype = seed % 2 ? duet::DType::f64 : duet::DType::f32;
  Gen g(p, seed);
  std::vector<V> pool;
  int num_inputs = 1 + g.pick(3);
  for (int k = 0; k < num_inputs; ++k) pool.push_back(g.input(g.random_dims(3)));
  int num_vars = g.pick(3);
  for (int k = 0; k < num_vars; ++k) {
    Dims d = g.shape(pool[static_cast<size_t>(g.pick(pool.size()))].id);
    std::vector<double> data(static_cast<size_t>(g.numel(d)));
    for (double& x : data) x = g.uniform();
    p.variables.push_back(d);
    p.variable_data.push_back(std::move(data));
  }
  g.assigned.assign(p.variables.size(), false);
  int steps = 4 + g.pick(9);
  for (int s = 0; s < steps; ++s) pool.push_back(g.step(p.code, pool));
  for (size_t v = 0; v < p.variables.size(); ++v)
    if (g.coin(70)) g.assign(p.code, pool, static_cast<int>(v));
  p.outputs.push_back(pool.back().id);
  int extra = g.pick(3);
  for (int k = 0; k < extra; ++k) p.outputs.push_back(pool[static_cast<size_t>(g.pick(pool.size()))].id);
  return p;
}

std::string summary(const Program& p) {
  std::map<std::string, int> count;
  std::function<void(const std::vector<Instr>&)> walk = [&](const std::vector<Instr>& code) {
    for (const Instr& i : code) {
      ++count[i.op];
      for (const Block& b : i.blocks) walk(b.code);
    }
  };
  walk(p.code);
  std::string s = std::string(duet::dtype_name(p.dtype)) + ", " + std::to_string(p.inputs.size()) + " inputs, " +
                  std::to_string(p.variables.size()) + " variables:";
  for (const auto& [op, n] : count) s += " " + op + "x" + std::to_string(n);
  return s;
}

}  // namespace difftest
