// A tanh RNN over sequences whose length is known only at run time: the time
// loop is a while_loop and the input signature has a dynamic time dim, so one
// trace serves every length; the gradients flow back through the iterations
// actually run, and match the eager ones.
#include <duet/duet.h>

#include <iostream>

using namespace duet;

int main() {
  try {
    const int64_t batch = 4, input = 8, hidden = 16;
    Variable wx(randn({input, hidden}, 1, DType::f64) * 0.3, "rnn/wx");
    Variable wh(randn({hidden, hidden}, 2, DType::f64) * 0.3, "rnn/wh");
    Variable b(zeros({hidden}, DType::f64), "rnn/b");

    // xs: [T, batch, input], length: i32[] = T. Returns the loss (the mean of
    // the last hidden state) and its gradients w.r.t. the weights.
    auto loss_and_grads = [&](Tensor xs, Tensor length) -> std::vector<Tensor> {
      GradientTape tape;
      std::vector<Tensor> out = while_loop(
          [&](const std::vector<Tensor>& v) { return v[0] < length; },
          [&](const std::vector<Tensor>& v) -> std::vector<Tensor> {
            Tensor x_t = squeeze(gather(xs, reshape(v[0], {1}), 0), {0});  // [batch, input]
            Tensor h = tanh(matmul(x_t, wx) + matmul(v[1], wh) + b);
            return {v[0] + 1, h};
          },
          {scalar(0), zeros({batch, hidden}, DType::f64)});
      Tensor loss = mean(out[1]);
      std::vector<Tensor> grads = tape.gradient(loss, {wx, wh, b});
      grads.insert(grads.begin(), loss);
      return grads;
    };
    FunctionOptions options;
    options.name = "rnn_step";
    options.input_signature = {TensorSpec({-1, batch, input}, DType::f64), TensorSpec({}, DType::i32)};
    auto traced = function(loss_and_grads, options);

    for (int64_t steps : {3, 7, 12}) {
      Tensor xs = randn({steps, batch, input}, 10 + steps, DType::f64);
      Tensor length = scalar(static_cast<int>(steps));
      std::vector<Tensor> eager = loss_and_grads(xs, length), compiled = traced(xs, length);
      double diff = 0;
      for (size_t i = 0; i < eager.size(); ++i) diff = std::max(diff, max(abs(eager[i] - compiled[i])).item<double>());
      std::cout << "T = " << steps << ": loss " << compiled[0].item<double>() << ", |grad wh| "
                << sqrt(sum(square(compiled[2]))).item<double>() << ", max |eager - traced| " << diff << "\n";
    }
    std::cout << "traces: " << traced.trace_count() << "\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "rnn: " << e.what() << "\n";
    return 1;
  }
}
