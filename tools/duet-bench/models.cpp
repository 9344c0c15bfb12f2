// W4 mlp-infer, W6 rnn-small and W7 cnn: small forward passes, eager and
// traced, in ms per forward, each checked against its eager forward computed
// before the clock starts; their floors are the same forwards' matmuls and
// convolutions alone, straight through oneDNN (onednn_floor).
#include "workloads.h"

#include <string>

#include <fmt/format.h>

#include <duet/duet.h>

#include "modes.h"

namespace duet::bench {
namespace {

// A forward takes well under a millisecond: ten per sample keep the clock's
// granularity and the per-sample overhead out of the figure.
constexpr int kForwardsPerSample = 10;

// ms per forward of forward(inputs...) in one mode.
template <class F, class... Inputs>
Summary run(const std::string& what, bool traced, const Repeats& r, F forward, const Inputs&... inputs) {
  const Tensor want = forward(inputs...);
  const float* ws = floats(want);
  auto check = [&](const Tensor& y) {
    if (y.shape() != want.shape())
      throw Error(fmt::format("{}: result shape {}, expected {}", what, y.shape().str(), want.shape().str()));
    const float* ys = floats(y);
    consume(check_elements(what, want.numel(), [&](int64_t i) { return ys[i]; }, [&](int64_t i) { return ws[i]; },
                           1e-4));
  };
  auto seconds = time_mode(what, traced, r, kForwardsPerSample, forward, check, inputs...);
  return summarize_as(seconds, [](double s) { return s * 1e3 / kForwardsPerSample; });
}

// ---- W4 mlp-infer: batch 256, 784-512-512-10 relu, logits -----------------

Summary mlp_infer(const Repeats& r, bool traced) {
  using nn::Activation;
  nn::Sequential model(nn::Dense(784, 512, Activation::relu, true, 21), nn::Dense(512, 512, Activation::relu, true, 22),
                       nn::Dense(512, 10, Activation::none, true, 23));
  Tensor x = randn({256, 784}, /*seed=*/20);
  return run(traced ? "W4 traced" : "W4 eager", traced, r, [model](Tensor x) mutable { return model(x); }, x);
}

// ---- W6 rnn-small: h = tanh(x_t Wx + h Wh + b), 50 steps ------------------

constexpr int64_t kSteps = 50, kRnnBatch = 32, kHidden = 128, kInput = 64;

// The cell's weights, scaled by 1/sqrt(fan-in) so that tanh stays out of
// saturation over 50 steps (a saturated cell would check nothing).
struct RnnCell {
  Variable wx{randn({kInput, kHidden}, 31) * 0.125f, "wx"};
  Variable wh{randn({kHidden, kHidden}, 32) * 0.088f, "wh"};
  Variable b{randn({kHidden}, 33) * 0.1f, "b"};

  // xs [steps, batch, input], h [batch, hidden]: the last hidden state.
  Tensor operator()(Tensor xs, Tensor h) const {
    for (int64_t t = 0; t < kSteps; ++t) {
      Tensor x = squeeze(slice(xs, 0, t, t + 1), {0});
      h = tanh(matmul(x, wx) + matmul(h, wh) + b);
    }
    return h;
  }
};

Summary rnn(const Repeats& r, bool traced) {
  Tensor xs = randn({kSteps, kRnnBatch, kInput}, /*seed=*/30), h0 = randn({kRnnBatch, kHidden}, 34);
  return run(traced ? "W6 traced" : "W6 eager", traced, r, RnnCell{}, xs, h0);
}

// ---- W7 cnn: LeNet-ish on 28x28, batch 64 ---------------------------------

Summary cnn(const Repeats& r, bool traced) {
  using nn::Activation;
  nn::Sequential model(nn::Conv2D(1, 8, 5, 1, 0, Activation::relu, true, 41), nn::MaxPool2D(2),
                       nn::Conv2D(8, 16, 5, 1, 0, Activation::relu, true, 42), nn::MaxPool2D(2), nn::Flatten(),
                       nn::Dense(256, 10, Activation::none, true, 43));
  Tensor x = randn({64, 1, 28, 28}, /*seed=*/40);
  return run(traced ? "W7 traced" : "W7 eager", traced, r, [model](Tensor x) mutable { return model(x); }, x);
}

}  // namespace

Summary mlp_infer_eager(const Repeats& r) { return mlp_infer(r, false); }
Summary mlp_infer_traced(const Repeats& r) { return mlp_infer(r, true); }
Summary mlp_infer_floor(const Repeats& r) {
  const std::vector<DirectOp> forward = {DirectOp::matmul(256, 784, 512), DirectOp::matmul(256, 512, 512),
                                         DirectOp::matmul(256, 512, 10)};
  return onednn_floor("W4 floor", forward, r, kForwardsPerSample);
}

Summary rnn_eager(const Repeats& r) { return rnn(r, false); }
Summary rnn_traced(const Repeats& r) { return rnn(r, true); }
Summary rnn_floor(const Repeats& r) {
  std::vector<DirectOp> forward;
  for (int64_t t = 0; t < kSteps; ++t) {
    forward.push_back(DirectOp::matmul(kRnnBatch, kInput, kHidden));
    forward.push_back(DirectOp::matmul(kRnnBatch, kHidden, kHidden));
  }
  return onednn_floor("W6 floor", forward, r, kForwardsPerSample);
}

Summary cnn_eager(const Repeats& r) { return cnn(r, false); }
Summary cnn_traced(const Repeats& r) { return cnn(r, true); }
Summary cnn_floor(const Repeats& r) {
  // 28x28 -conv5-> 24x24 -pool-> 12x12 -conv5-> 8x8 -pool-> 4x4: 16*4*4 = 256 features.
  const std::vector<DirectOp> forward = {DirectOp::conv2d(64, 1, 28, 8, 5), DirectOp::conv2d(64, 8, 12, 16, 5),
                                         DirectOp::matmul(64, 256, 10)};
  return onednn_floor("W7 floor", forward, r, kForwardsPerSample);
}

}  // namespace duet::bench
