// The main demo: an MLP 784-256-10 trained for one epoch on the real
// Fashion-MNIST, once eagerly and once with the training step traced, from
// the same seed; then test accuracy, losses, ms/step and the speedup.
//   fashion_mnist [--steps N]   N > 0: train on the first N batches only
//                               (a quick run; ctest's example.fashion_mnist)
#include <duet/duet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <unistd.h>

#include <fmt/format.h>

using namespace duet;

namespace {

constexpr int64_t kBatch = 128;
constexpr double kLearningRate = 0.1;
constexpr uint64_t kSeed = 42;

struct Result {
  double accuracy = 0;
  double ms_per_step = 0;
  float first_loss = 0, last_loss = 0;
};

void progress(const char* mode, int64_t step, int64_t steps, float loss, double seconds, bool tty) {
  const int width = 30;
  int filled = static_cast<int>(width * (step + 1) / steps);
  double rate = seconds > 0 ? (step + 1) / seconds : 0;
  if (tty) {
    std::string bar = std::string(filled, '=') + (filled < width ? ">" : "") + std::string(std::max(0, width - filled - 1), ' ');
    fmt::print("\r  {:<6} [{}] {:>3}/{}  loss {:.4f}  {:>6.0f} steps/s", mode, bar, step + 1, steps, loss, rate);
    if (step + 1 == steps) fmt::print("\n");
    std::fflush(stdout);
  } else if ((step + 1) % std::max<int64_t>(1, steps / 4) == 0 || step + 1 == steps) {
    fmt::print("  {:<6} {:>3}/{}  loss {:.4f}  {:.0f} steps/s\n", mode, step + 1, steps, loss, rate);
  }
}

double accuracy(nn::Sequential& model, const data::FashionMNIST& test) {
  int64_t correct = 0;
  for (int64_t b = 0; b < test.num_batches(1000); ++b) {
    auto [x, y] = test.batch(b, 1000);
    Tensor predicted = cast(argmax(model(x), 1), DType::i32);
    correct += sum(cast(predicted == y, DType::i32)).item<int64_t>();
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(test.size());
}

Result train(bool traced, data::FashionMNIST& train_set, const data::FashionMNIST& test_set, int64_t max_steps,
             bool tty) {
  nn::manual_seed(kSeed);
  nn::Sequential model{nn::Dense(784, 256, nn::Activation::relu), nn::Dense(256, 10)};
  optim::SGD opt(kLearningRate);
  std::vector<Variable> vars = model.trainable_variables();
  auto step = [&](Tensor x, Tensor y) {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, model(x));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  };
  FunctionOptions options;
  options.name = "train_step";
  options.input_signature = {TensorSpec({-1, 784}, DType::f32), TensorSpec({-1}, DType::i32)};
  auto traced_step = function(step, options);

  train_set.shuffle(kSeed);
  int64_t steps = train_set.num_batches(kBatch);
  if (max_steps > 0) steps = std::min(steps, max_steps);
  Result r;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    auto [x, y] = train_set.batch(s, kBatch);
    Tensor loss = traced ? traced_step(x, y) : step(x, y);
    float l = loss.item<float>();
    if (s == 0) r.first_loss = l;
    r.last_loss = l;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress(traced ? "traced" : "eager", s, steps, l, seconds, tty);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.ms_per_step = seconds * 1e3 / static_cast<double>(steps);
  r.accuracy = accuracy(model, test_set);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t max_steps = 0;
  if (argc == 3 && std::string(argv[1]) == "--steps" && std::atoll(argv[2]) > 0) {
    max_steps = std::atoll(argv[2]);
  } else if (argc != 1) {
    std::cerr << "usage: fashion_mnist [--steps N]   (N > 0: train on the first N batches only)\n";
    return 2;
  }
  try {
    bool tty = isatty(STDOUT_FILENO);
    data::FashionMNIST train_set(data::Split::train), test_set(data::Split::test);
    const std::string length = max_steps > 0 ? fmt::format("the first {} batches", max_steps) : "one epoch";
    fmt::print("Fashion-MNIST: {} training and {} test images; MLP 784-256-10, batch {}, SGD lr {}, {}\n",
               train_set.size(), test_set.size(), kBatch, kLearningRate, length);
    Result eager = train(false, train_set, test_set, max_steps, tty);
    Result traced = train(true, train_set, test_set, max_steps, tty);
    fmt::print("\n  {:<8} {:>10} {:>10} {:>11} {:>11}\n", "mode", "test acc", "ms/step", "first loss", "last loss");
    for (const auto& [mode, r] : {std::pair{"eager", eager}, std::pair{"traced", traced}})
      fmt::print("  {:<8} {:>9.2f}% {:>10.3f} {:>11.4f} {:>11.4f}\n", mode, r.accuracy, r.ms_per_step, r.first_loss,
                 r.last_loss);
    fmt::print("  traced is {:.2f}x the speed of eager\n", eager.ms_per_step / traced.ms_per_step);
    return 0;
  } catch (const Error& e) {
    std::cerr << "fashion_mnist: " << e.what() << "\n";
    return 1;
  }
}
