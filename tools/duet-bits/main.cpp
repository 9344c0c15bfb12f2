// duet-bits: counts the results of traced (compiled) programs that equal the
// eager ones to the bit, for the claims of docs/reliability.md:
//   duet-bits reductions   a fusion ending in sum, mean or max, over the
//                          innermost axis (a row kernel) and over the outer
//                          one (a column kernel), f32 and f64
//   duet-bits training [N] the demo's recipe (examples/fashion_mnist.cpp:
//                          MLP 784-256-10, batch 128, SGD 0.1, seed 42) for
//                          N steps (default: one epoch), eager and traced:
//                          the step losses and the final weights
// Prints one line per comparison: identical / compared, the worst difference.
#include <duet/duet.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace duet;

namespace {

struct Count {
  int64_t same = 0, total = 0;
  double worst_abs = 0, worst_rel = 0;
  void add(double a, double b, bool bits_equal) {
    ++total;
    if (bits_equal) {
      ++same;
      return;
    }
    double d = std::abs(a - b);
    worst_abs = std::max(worst_abs, d);
    worst_rel = std::max(worst_rel, d / std::max(std::abs(b), 1e-300));
  }
  void print(const std::string& what) const {
    std::printf("%s: %lld of %lld identical to the bit; worst |traced - eager| %.3g (relative %.3g)\n", what.c_str(),
                static_cast<long long>(same), static_cast<long long>(total), worst_abs, worst_rel);
  }
};

void compare(Count& c, const Tensor& traced, const Tensor& eager) {
  if (traced.dtype() == DType::f32) {
    std::vector<float> a = traced.to_vector<float>(), b = eager.to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) c.add(a[i], b[i], std::memcmp(&a[i], &b[i], sizeof(float)) == 0);
  } else {
    std::vector<double> a = traced.to_vector<double>(), b = eager.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) c.add(a[i], b[i], std::memcmp(&a[i], &b[i], sizeof(double)) == 0);
  }
}

int reductions() {
  for (DType t : {DType::f32, DType::f64})
    for (const std::string red : {"sum", "mean", "max"})
      for (int axis : {1, 0}) {
        Count c;
        bool compiled = true;
        for (int64_t n : {1, 7, 64, 1000, 4099, 65536}) {
          Tensor x = randn({64, n}, static_cast<uint64_t>(7 + n), t);
          auto body = [&](const Tensor& v) {
            Tensor e = exp(v * 0.5) - 0.25;
            return red == "sum" ? sum(e, {axis}) : red == "mean" ? mean(e, {axis}) : max(e, {axis});
          };
          auto f = function([&](Tensor v) { return body(v); });
          compare(c, f(x), body(x));
          compiled = compiled && f.get_concrete_function(x).ir(Stage::lowered).find("compiled") != std::string::npos;
        }
        c.print(std::string(dtype_name(t)) + " exp(x/2) - 1/4, then " + red + " over " +
                (axis == 1 ? "rows" : "columns") + " of [64, n], n in 1..65536" +
                (compiled ? "" : " (NOT every one compiled)"));
      }
  return 0;
}

int training(int64_t max_steps) {
  data::FashionMNIST train_set(data::Split::train);
  struct Run {
    std::vector<Tensor> losses, weights;
  };
  auto run = [&](bool traced) {
    train_set.shuffle(42);
    nn::manual_seed(42);
    nn::Sequential model{nn::Dense(784, 256, nn::Activation::relu), nn::Dense(256, 10)};
    optim::SGD opt(0.1);
    std::vector<Variable> vars = model.trainable_variables();
    auto step = [&](Tensor x, Tensor y) {
      GradientTape tape;
      Tensor loss = losses::sparse_softmax_cross_entropy(y, model(x));
      opt.apply_gradients(tape.gradient(loss, vars), vars);
      return loss;
    };
    FunctionOptions options;
    options.input_signature = {TensorSpec({-1, 784}, DType::f32), TensorSpec({-1}, DType::i32)};
    auto traced_step = function(step, options);
    Run r;
    int64_t steps = train_set.num_batches(128);
    if (max_steps > 0) steps = std::min(steps, max_steps);
    for (int64_t s = 0; s < steps; ++s) {
      auto [x, y] = train_set.batch(s, 128);
      r.losses.push_back(traced ? traced_step(x, y) : step(x, y));
    }
    for (const Variable& v : vars) r.weights.push_back(v.value());
    return r;
  };
  Run eager = run(false), traced = run(true);
  Count losses, weights;
  for (size_t i = 0; i < eager.losses.size(); ++i) compare(losses, traced.losses[i], eager.losses[i]);
  for (size_t i = 0; i < eager.weights.size(); ++i) compare(weights, traced.weights[i], eager.weights[i]);
  losses.print("training, the step losses of " + std::to_string(eager.losses.size()) + " steps");
  weights.print("training, the weights after them");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  try {
    if (what == "reductions" && argc == 2) return reductions();
    if (what == "training" && argc <= 3) return training(argc == 3 ? std::atoll(argv[2]) : 0);
  } catch (const Error& e) {
    std::fprintf(stderr, "duet-bits: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: duet-bits reductions | duet-bits training [STEPS]\n");
  return 2;
}
