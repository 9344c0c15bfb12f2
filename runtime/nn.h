// Layers (DESIGN.md §1): handles whose copies share state. A custom layer
// derives from nn::Module, registers its variables and sub-modules, and
// overrides forward.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>

namespace duet::nn {

enum class Activation { none, relu, tanh, sigmoid, gelu };
Tensor activate(const Tensor& x, Activation a, Loc loc = Loc::current());

// The seed of the next layer created without one: a fixed global sequence, so
// programs that build the same layers in the same order start the same.
uint64_t next_seed();
void manual_seed(uint64_t seed);  // restarts the sequence

class Module {
 public:
  Module();
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  // Errors inside the layer name the line that called it.
  Tensor operator()(const Tensor& x, Loc loc = Loc::current());

  // Own variables in registration order, then each sub-module's, in order.
  std::vector<Variable> variables() const;
  std::vector<Variable> trainable_variables() const;

 protected:
  Variable register_variable(const Variable& v);
  template <class M>
  M register_module(const M& m) {
    children_->push_back(std::make_shared<M>(m));  // a copy of the handle shares m's state
    return m;
  }

 private:
  std::shared_ptr<std::vector<Variable>> variables_;
  std::shared_ptr<std::vector<std::shared_ptr<Module>>> children_;
};

// y = activation(x @ kernel + bias); kernel [in, out], bias [out]. PyTorch's
// initialisation: both uniform in +-1/sqrt(in).
class Dense : public Module {
 public:
  Dense(int64_t in, int64_t out, Activation activation = Activation::none, bool use_bias = true,
        uint64_t seed = next_seed());
  Tensor forward(const Tensor& x) override;
  Variable kernel() const { return kernel_; }
  Variable bias() const { return bias_; }

 private:
  Variable kernel_, bias_;
  Activation activation_;
};

// NCHW convolution with OIHW weights [out, in, k, k] and a bias [out].
class Conv2D : public Module {
 public:
  Conv2D(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         Activation activation = Activation::none, bool use_bias = true, uint64_t seed = next_seed());
  Tensor forward(const Tensor& x) override;

 private:
  Variable weight_, bias_;
  int64_t stride_, padding_;
  Activation activation_;
};

// Rows of a [num, dim] table by integer id: forward(ids) -> [ids..., dim].
// PyTorch's initialisation: N(0, 1).
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, uint64_t seed = next_seed());
  Tensor forward(const Tensor& ids) override;
  Variable table() const { return table_; }

 private:
  Variable table_;
};

// layer_norm over the last axis of size dim; gamma 1, beta 0 to start.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  Variable gamma() const { return gamma_; }
  Variable beta() const { return beta_; }

 private:
  Variable gamma_, beta_;
  double eps_;
};

class MaxPool2D : public Module {
 public:
  explicit MaxPool2D(int64_t kernel, int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  Tensor forward(const Tensor& x) override;

 private:
  int64_t kernel_, stride_;
};

// [N, ...] -> [N, prod(...)]
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

class Sequential : public Module {
 public:
  template <class... M>
  explicit Sequential(const M&... layers) {
    (add(layers), ...);
  }
  template <class M>
  void add(const M& layer) {
    layers_->push_back(std::make_shared<M>(register_module(layer)));
  }
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_->size(); }

 private:
  std::shared_ptr<std::vector<std::shared_ptr<Module>>> layers_ = std::make_shared<std::vector<std::shared_ptr<Module>>>();
};

}  // namespace duet::nn
