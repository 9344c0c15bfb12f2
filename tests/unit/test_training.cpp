// CI-sized training on the real Fashion-MNIST: MLP with SGD and Adam, a small CNN, eager vs traced.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

using namespace duet;

namespace {

constexpr int64_t kBatch = 64;
constexpr int64_t kTrainBatches = 47;  // the first 3008 training images
constexpr int64_t kTestImages = 2000;

struct Batches {
  std::vector<Tensor> x, y;
};

// The first kTrainBatches batches of the training split, in file order.
const Batches& train_batches() {
  static const Batches b = [] {
    data::FashionMNIST train(data::Split::train);
    Batches out;
    for (int64_t i = 0; i < kTrainBatches; ++i) {
      auto [x, y] = train.batch(i, kBatch);
      out.x.push_back(x);
      out.y.push_back(y);
    }
    return out;
  }();
  return b;
}

// The first kTestImages test images and labels.
const std::pair<Tensor, Tensor>& test_set() {
  static const std::pair<Tensor, Tensor> t = data::FashionMNIST(data::Split::test).batch(0, kTestImages);
  return t;
}

using Reshape = std::function<Tensor(const Tensor&)>;
Tensor as_vectors(const Tensor& x) { return x; }
Tensor as_images(const Tensor& x) { return reshape(x, {-1, 1, 28, 28}); }

double accuracy(nn::Sequential& model, const Reshape& input) {
  const auto& [x, y] = test_set();
  Tensor predicted = cast(argmax(model(input(x)), 1), DType::i32);
  return sum(cast(predicted == y, DType::i32)).item<int>() / double(kTestImages);
}

double mean(const std::vector<float>& v, size_t begin, size_t end) {
  return std::accumulate(v.begin() + long(begin), v.begin() + long(end), 0.0) / double(end - begin);
}

// Trains `model` for `epochs` passes over the batches, traced or eagerly; returns the loss of every step.
template <class Opt>
std::vector<float> train(nn::Sequential& model, Opt& opt, const Reshape& input, int epochs, bool traced) {
  std::vector<Variable> vars = model.trainable_variables();
  auto step = [&](Tensor x, Tensor y) {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, model(input(x)));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  };
  FunctionOptions options;
  options.name = "train_step";
  options.input_signature = {TensorSpec({-1, 784}, DType::f32), TensorSpec({-1}, DType::i32)};
  auto traced_step = function(step, options);
  const Batches& data = train_batches();
  std::vector<float> losses;
  for (int e = 0; e < epochs; ++e)
    for (size_t b = 0; b < data.x.size(); ++b) {
      Tensor loss = traced ? traced_step(data.x[b], data.y[b]) : step(data.x[b], data.y[b]);
      losses.push_back(loss.item<float>());
    }
  if (traced) CHECK(traced_step.trace_count() == 1);
  return losses;
}

void check_learned(const std::vector<float>& losses, double acc) {
  REQUIRE(losses.size() >= 20);
  for (float l : losses) REQUIRE(std::isfinite(l));
  double first = mean(losses, 0, 10), last = mean(losses, losses.size() - 10, losses.size());
  INFO("mean loss of the first 10 steps " << first << ", of the last 10 " << last << "; test accuracy " << acc);
  CHECK(first > 1.5);  // ~ln 10 at the start
  CHECK(last < 0.6 * first);
  CHECK(acc > 0.70);
}

}  // namespace

TEST_CASE("training an MLP with SGD on 3000 Fashion-MNIST images beats 70 percent", "[training]") {
  nn::manual_seed(1);
  nn::Sequential model{nn::Dense(784, 128, nn::Activation::relu), nn::Dense(128, 10)};
  optim::SGD opt(0.1);
  std::vector<float> losses = train(model, opt, as_vectors, 8, /*traced=*/true);
  check_learned(losses, accuracy(model, as_vectors));
}

TEST_CASE("training an MLP with Adam on 3000 Fashion-MNIST images beats 70 percent", "[training]") {
  nn::manual_seed(2);
  nn::Sequential model{nn::Dense(784, 128, nn::Activation::relu), nn::Dense(128, 10)};
  optim::Adam opt(1e-3);
  std::vector<float> losses = train(model, opt, as_vectors, 4, /*traced=*/false);
  check_learned(losses, accuracy(model, as_vectors));
  CHECK(opt.step().value().item<float>() == float(4 * kTrainBatches));
}

TEST_CASE("training a small CNN on 3000 Fashion-MNIST images beats 70 percent", "[training]") {
  nn::manual_seed(3);
  nn::Sequential model{nn::Conv2D(1, 8, 5, 1, 0, nn::Activation::relu), nn::MaxPool2D(2),
                       nn::Conv2D(8, 16, 5, 1, 0, nn::Activation::relu), nn::MaxPool2D(2),
                       nn::Flatten(), nn::Dense(256, 10)};
  optim::Adam opt(5e-3);
  std::vector<float> losses = train(model, opt, as_images, 3, /*traced=*/true);
  check_learned(losses, accuracy(model, as_images));
}

TEST_CASE("training eager and traced steps from the same seed agree step by step", "[training]") {
  // The demo's recipe: MLP 784-256-10, batch 128, SGD 0.1, shuffled with the seed.
  constexpr uint64_t kSeed = 42;
  data::FashionMNIST train_set(data::Split::train);
  train_set.shuffle(kSeed);
  auto run = [&](bool traced) {
    nn::manual_seed(kSeed);
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
    std::vector<float> losses;
    for (int64_t s = 0; s < 20; ++s) {
      auto [x, y] = train_set.batch(s, 128);
      losses.push_back((traced ? traced_step(x, y) : step(x, y)).item<float>());
    }
    if (traced) CHECK(traced_step.trace_count() == 1);
    std::vector<float> first_kernel = vars[0].value().to_vector<float>();
    return std::make_pair(losses, first_kernel);
  };
  auto [eager, eager_kernel] = run(false);
  auto [traced, traced_kernel] = run(true);
  REQUIRE(eager.size() == traced.size());
  for (size_t i = 0; i < eager.size(); ++i) {
    INFO("step " << i);
    CHECK(traced[i] == Approx(eager[i]).margin(1e-4).epsilon(0));
  }
  CHECK(eager.front() > 2.0);  // starts near ln 10 ...
  CHECK(mean(eager, 15, 20) < 0.8 * mean(eager, 0, 5));  // ... and learns within 20 steps
  REQUIRE(eager_kernel.size() == traced_kernel.size());
  float worst = 0;
  for (size_t i = 0; i < eager_kernel.size(); ++i) worst = std::max(worst, std::abs(eager_kernel[i] - traced_kernel[i]));
  CHECK(worst < 1e-4f);
}
