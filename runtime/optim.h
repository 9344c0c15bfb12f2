// Optimizers (DESIGN.md §1). Their slots and step counters are Variables, so a
// traced training step updates them on every call; slots are created on the
// first apply_gradients (inside a trace: on its first trace). Handles: copies
// share state.
#pragma once

#include <memory>
#include <vector>

#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>

namespace duet::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of each variable by its gradient; an undefined gradient (a
  // variable the loss does not reach) leaves its variable alone.
  void apply_gradients(const std::vector<Tensor>& grads, const std::vector<Variable>& variables,
                       Loc loc = Loc::current());
  // Every slot and counter, for checkpoints.
  std::vector<Variable> variables() const;

 protected:
  struct State;
  Optimizer();
  virtual void update(const Variable& v, const Tensor& g, size_t index, Loc loc) = 0;
  virtual void begin_step(Loc loc) {}
  Variable slot(const Variable& v, const char* name);  // zeros like v, one per (variable, name)
  std::shared_ptr<State> state_;
};

// v -= lr * g, or with momentum m = momentum * m + g; v -= lr * m (PyTorch's form).
class SGD : public Optimizer {
 public:
  explicit SGD(double learning_rate, double momentum = 0.0);

 private:
  void update(const Variable& v, const Tensor& g, size_t index, Loc loc) override;
  double lr_, momentum_;
};

// Adam with bias correction (Kingma & Ba), PyTorch's defaults.
class Adam : public Optimizer {
 public:
  explicit Adam(double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8);
  Variable step() const;

 private:
  void begin_step(Loc loc) override;
  void update(const Variable& v, const Tensor& g, size_t index, Loc loc) override;
  double lr_, beta1_, beta2_, eps_;
  std::shared_ptr<Variable> step_;
  std::shared_ptr<Tensor> lr_t_;     // lr / (1 - beta1^t) of this step
  std::shared_ptr<Tensor> sqrt_c2_;  // sqrt(1 - beta2^t) of this step
};

}  // namespace duet::optim
