// Layers: registration of variables and sub-modules, and the built-in layers.
#include <duet/runtime/nn.h>

#include <atomic>
#include <cmath>

#include <fmt/format.h>

#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>

namespace duet::nn {

namespace {
constexpr uint64_t kFirstSeed = 0x5eed;
std::atomic<uint64_t> g_next_seed{kFirstSeed};

// Uniform in [-bound, bound) from a seed.
Tensor uniform(const Shape& shape, double bound, uint64_t seed) { return rand(shape, seed) * (2 * bound) - bound; }
}  // namespace

uint64_t next_seed() { return g_next_seed.fetch_add(1); }
void manual_seed(uint64_t seed) { g_next_seed.store(seed); }

Tensor activate(const Tensor& x, Activation a, Loc loc) {
  switch (a) {
    case Activation::none: return x;
    case Activation::relu: return relu(x, loc);
    case Activation::tanh: return tanh(x, loc);
    case Activation::sigmoid: return sigmoid(x, loc);
    case Activation::gelu: return gelu(x, loc);
  }
  return x;
}

Module::Module()
    : variables_(std::make_shared<std::vector<Variable>>()),
      children_(std::make_shared<std::vector<std::shared_ptr<Module>>>()) {}

Tensor Module::operator()(const Tensor& x, Loc loc) {
  if (location_override().file) return forward(x);  // an outer layer's call already names the user's line
  LocationOverride at(loc);
  return forward(x);
}

Variable Module::register_variable(const Variable& v) {
  variables_->push_back(v);
  return v;
}

std::vector<Variable> Module::variables() const {
  std::vector<Variable> out = *variables_;
  for (const auto& c : *children_) {
    std::vector<Variable> sub = c->variables();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Variable> Module::trainable_variables() const {
  std::vector<Variable> out;
  for (const Variable& v : variables())
    if (v.trainable()) out.push_back(v);
  return out;
}

Embedding::Embedding(int64_t num, int64_t dim, uint64_t seed) {
  if (num <= 0 || dim <= 0) throw ShapeError(fmt::format("Embedding: sizes must be positive, got {} x {}", num, dim));
  table_ = register_variable(Variable(randn({num, dim}, seed), "embedding/table"));
}
Tensor Embedding::forward(const Tensor& ids) { return embedding(table_.value(), ids); }

LayerNorm::LayerNorm(int64_t dim, double eps) : eps_(eps) {
  if (dim <= 0) throw ShapeError(fmt::format("LayerNorm: the dim must be positive, got {}", dim));
  gamma_ = register_variable(Variable(ones({dim}), "layer_norm/gamma"));
  beta_ = register_variable(Variable(zeros({dim}), "layer_norm/beta"));
}
Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, gamma_.value(), beta_.value(), eps_); }

Dense::Dense(int64_t in, int64_t out, Activation activation, bool use_bias, uint64_t seed) : activation_(activation) {
  if (in <= 0 || out <= 0) throw ShapeError(fmt::format("Dense: sizes must be positive, got {} -> {}", in, out));
  double bound = 1.0 / std::sqrt(static_cast<double>(in));
  kernel_ = register_variable(Variable(uniform({in, out}, bound, seed), "dense/kernel"));
  if (use_bias) bias_ = register_variable(Variable(uniform({out}, bound, seed + 0x9e3779b9u), "dense/bias"));
}

Tensor Dense::forward(const Tensor& x) {
  Tensor y = matmul(x, kernel_);
  if (bias_.defined()) y = y + bias_;
  return activate(y, activation_);
}

Conv2D::Conv2D(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
               Activation activation, bool use_bias, uint64_t seed)
    : stride_(stride), padding_(padding), activation_(activation) {
  if (in_channels <= 0 || out_channels <= 0 || kernel <= 0)
    throw ShapeError(fmt::format("Conv2D: channels and kernel must be positive, got {} -> {}, kernel {}",
                                 in_channels, out_channels, kernel));
  double bound = 1.0 / std::sqrt(static_cast<double>(in_channels * kernel * kernel));
  weight_ = register_variable(Variable(uniform({out_channels, in_channels, kernel, kernel}, bound, seed), "conv2d/kernel"));
  if (use_bias)
    bias_ = register_variable(Variable(uniform({out_channels}, bound, seed + 0x9e3779b9u), "conv2d/bias"));
}

Tensor Conv2D::forward(const Tensor& x) {
  Tensor y = conv2d(x, weight_, stride_, padding_);
  if (bias_.defined()) y = y + reshape(bias_, {1, bias_.shape()[0], 1, 1});
  return activate(y, activation_);
}

Tensor MaxPool2D::forward(const Tensor& x) { return max_pool2d(x, kernel_, stride_); }

Tensor Flatten::forward(const Tensor& x) {
  if (x.rank() < 1) throw ShapeError("Flatten: expects rank >= 1, got " + x.type().str());
  int64_t rest = 1;
  for (int i = 1; i < x.rank(); ++i) rest *= x.shape()[i];
  if (rest > 0) return reshape(x, {-1, rest});  // the batch dim may be dynamic in a trace
  return reshape(x, {x.shape()[0], 0});
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& layer : *layers_) y = layer->forward(y);
  return y;
}

}  // namespace duet::nn
