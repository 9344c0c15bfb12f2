// W5 mlp-train: one training step of WORKLOADS.md's recipe (Fashion-MNIST,
// batch 128, MLP 784-256-10 relu, softmax cross-entropy, SGD 0.1), eager and
// as one traced function, and its floor: the step's five matmuls alone,
// straight through oneDNN on the same shapes. Also the first calls of fresh
// traced steps, which W5-compile times (compile.cpp).
#include "workloads.h"

#include <chrono>
#include <vector>

#include <fmt/format.h>

#include <duet/codegen/llvm/kernels.h>
#include <duet/duet.h>

namespace duet::bench {
namespace {

constexpr int64_t kBatch = 128;
constexpr int kStepsPerSample = 10;

struct Recipe {
  data::FashionMNIST train{data::Split::train};
  nn::Sequential model;
  optim::SGD opt{0.1};
  std::vector<Variable> vars;
  int64_t next = 0;
  Recipe() : model(nn::Dense(784, 256, nn::Activation::relu, true, 1), nn::Dense(256, 10, nn::Activation::none, true, 2)) {
    vars = model.trainable_variables();
    train.shuffle(5);
  }
  std::pair<Tensor, Tensor> batch() {
    auto b = train.batch(next, kBatch);
    next = (next + 1) % (train.size() / kBatch);  // full batches only: one shape
    return b;
  }
  Tensor step(const Tensor& x, const Tensor& y) {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, model(x));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  }
};

// A step's loss is a cross-entropy over 10 classes: positive, and far below
// 10 unless the step computed garbage.
void check_loss(const char* what, const Tensor& loss) {
  double l = loss.item<float>();
  if (!(l > 0 && l < 10)) throw Error(fmt::format("{}: the loss is {}", what, l));
  consume(l);
}

Summary run(const Repeats& r, bool traced) {
  Recipe recipe;
  FunctionOptions options;
  options.name = "w5_train_step";
  auto traced_step = function([&recipe](Tensor x, Tensor y) { return recipe.step(x, y); }, options);
  // Batches are made before the clock starts: the step is what is timed.
  std::vector<std::pair<Tensor, Tensor>> batches;
  for (int i = 0; i < kStepsPerSample; ++i) batches.push_back(recipe.batch());
  auto body = [&] {
    Tensor loss;
    for (auto& [x, y] : batches) loss = traced ? traced_step(x, y) : recipe.step(x, y);
    return loss;
  };
  auto check = [&](const Tensor& loss) { check_loss(traced ? "W5 traced" : "W5 eager", loss); };
  auto seconds = time_repeats(r, body, check);
  if (traced && traced_step.trace_count() != 1) throw Error("W5 traced: the step was traced more than once");
  return summarize_as(seconds, [](double s) { return s * 1e3 / kStepsPerSample; });
}

}  // namespace

Summary mlp_train_eager(const Repeats& r) { return run(r, false); }
Summary mlp_train_traced(const Repeats& r) { return run(r, true); }

Summary mlp_train_floor(const Repeats& r) {
  // Two forward matmuls, then three backward: dW2 = h^T dlogits, dh = dlogits W2^T, dW1 = x^T dh.
  const std::vector<DirectOp> step = {DirectOp::matmul(128, 784, 256), DirectOp::matmul(128, 256, 10),
                                      DirectOp::matmul(256, 128, 10), DirectOp::matmul(128, 10, 256),
                                      DirectOp::matmul(784, 128, 256)};
  return onednn_floor("W5 floor", step, r, kStepsPerSample);
}

std::vector<FirstCall> mlp_train_first_calls(int count) {
  Recipe recipe;
  auto [x, y] = recipe.batch();
  check_loss("W5 first call, eager", recipe.step(x, y));
  std::vector<FirstCall> calls;
  for (int i = 0; i < count; ++i) {
    FunctionOptions options;
    options.name = "w5_train_step";
    auto fresh = function([&recipe](Tensor x, Tensor y) { return recipe.step(x, y); }, options);
    // Reading the counters starts the JIT (about 1 ms, once per process)
    // before the clock does: the figure is the call's own cost.
    codegen::jit::Stats before = codegen::jit::stats();
    auto start = std::chrono::steady_clock::now();
    Tensor loss = fresh(x, y);
    auto stop = std::chrono::steady_clock::now();
    codegen::jit::Stats after = codegen::jit::stats();
    check_loss("W5 first call, traced", loss);
    calls.push_back({std::chrono::duration<double, std::milli>(stop - start).count(), after.compiled - before.compiled,
                     after.disk_hits - before.disk_hits});
  }
  return calls;
}

}  // namespace duet::bench
