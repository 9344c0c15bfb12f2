// The built-in examples of duet-dump (examples.h). Weights and inputs are
// seeded random tensors: dumping needs their shapes, not a data set.
#include "examples.h"

namespace duet::dump {
namespace {

ConcreteFunction mlp_train() {
  static nn::Sequential model(nn::Dense(784, 256, nn::Activation::relu, true, 1),
                              nn::Dense(256, 10, nn::Activation::none, true, 2));
  static optim::SGD opt(0.1);
  static std::vector<Variable> vars = model.trainable_variables();
  static auto step = function([](Tensor x, Tensor y) {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(y, model(x));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  }, FunctionOptions{"mlp_train_step", {}, false, 0, 64});
  return step.get_concrete_function(rand({128, 784}, 3), cast(arange(128, DType::i32) % 10, DType::i32));
}

ConcreteFunction mlp_infer() {
  static nn::Sequential model(nn::Dense(784, 512, nn::Activation::relu, true, 21),
                              nn::Dense(512, 512, nn::Activation::relu, true, 22),
                              nn::Dense(512, 10, nn::Activation::none, true, 23));
  FunctionOptions o;
  o.name = "mlp_infer";
  o.input_signature = {TensorSpec({-1, 784})};
  static auto f = function([](Tensor x) { return softmax(model(x)); }, o);
  return f.get_concrete_function(rand({256, 784}, 20));
}

ConcreteFunction cnn() {
  static nn::Sequential model(nn::Conv2D(1, 8, 5, 1, 0, nn::Activation::relu, true, 41), nn::MaxPool2D(2),
                              nn::Conv2D(8, 16, 5, 1, 0, nn::Activation::relu, true, 42), nn::MaxPool2D(2),
                              nn::Flatten(), nn::Dense(256, 10, nn::Activation::none, true, 43));
  static auto f = function([](Tensor x) { return model(x); }, FunctionOptions{"cnn", {}, false, 0, 64});
  return f.get_concrete_function(randn({64, 1, 28, 28}, 40));
}

ConcreteFunction rnn() {
  static Variable wx(randn({64, 128}, 31) * 0.125f, "wx"), wh(randn({128, 128}, 32) * 0.088f, "wh"),
      b(randn({128}, 33) * 0.1f, "b");
  static auto f = function([](Tensor xs, Tensor h) {
    for (int64_t t = 0; t < 4; ++t) {
      Tensor x = squeeze(slice(xs, 0, t, t + 1), {0});
      h = tanh(matmul(x, wx.value()) + matmul(h, wh.value()) + b.value());
    }
    return h;
  }, FunctionOptions{"rnn_cell_4_steps", {}, false, 0, 64});
  return f.get_concrete_function(randn({4, 32, 64}, 30), randn({32, 128}, 34));
}

ConcreteFunction collatz() {
  FunctionOptions o;
  o.name = "collatz";
  o.input_signature = {TensorSpec({-1}, DType::i64)};
  static auto f = function([](Tensor n) {
    std::vector<Tensor> out = while_loop(
        [](const std::vector<Tensor>& v) { return max(v[0]) != 1; },
        [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
          Tensor odd = (v[0] % 2) == 1;
          Tensor next = where(v[0] == 1, v[0], where(odd, v[0] * 3 + 1, v[0] / 2));
          return {next, v[1] + cast(v[0] != 1, DType::i64)};
        },
        {n, n * 0});
    Tensor total = sum(out[1]);
    return cond(total > 100, [&] { return out[1] * 2; }, [&] { return out[1]; });
  }, o);
  return f.get_concrete_function((arange(8, DType::i64) + 1) * 7);
}

}  // namespace

const std::vector<Example>& examples() {
  static const std::vector<Example> all = {
      {"mlp-train", "W5: one SGD step of a 784-256-10 MLP with softmax cross-entropy, batch 128"},
      {"mlp-infer", "W4: a 784-512-512-10 MLP forward with softmax, any batch size"},
      {"cnn", "W7: LeNet-ish forward (conv, relu, pool twice, dense), batch 64"},
      {"rnn", "W6's tanh RNN cell unrolled over 4 steps, batch 32"},
      {"collatz", "a while_loop counting Collatz steps per element, then a cond; any length"},
  };
  return all;
}

ConcreteFunction trace_example(const std::string& name) {
  if (name == "mlp-train") return mlp_train();
  if (name == "mlp-infer") return mlp_infer();
  if (name == "cnn") return cnn();
  if (name == "rnn") return rnn();
  if (name == "collatz") return collatz();
  return ConcreteFunction();
}

}  // namespace duet::dump
