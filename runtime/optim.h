// Optimizers (DESIGN.md §1). Their slots and step counters are Variables, so a
// traced training step updates them on every call; slots are created on the
// first apply_gradients (inside a trace: on its first trace). Handles: copies
// share state.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>

namespace duet::optim {

// A learning rate that changes with the step: written with duet ops on the
// optimizer's step counter (an f64 scalar, 1 on the first update), so a
// traced training step follows it on every call without retracing.
class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual Tensor operator()(const Tensor& step) const = 0;
  // The same rate on the host, for progress bars and tests.
  virtual double at(double step) const = 0;
};

// Linear warmup from 0 to peak over `warmup` steps, then half a cosine from
// peak down to final over the steps up to `total`, final after (the GPT and
// BERT recipe; PyTorch's LambdaLR with this lambda).
std::shared_ptr<const Schedule> warmup_cosine(double peak, int64_t warmup, int64_t total, double final_lr = 0.0);

// Scales the gradients by min(1, max_norm / (norm + 1e-6)), norm the 2-norm
// of all of them together (PyTorch's clip_grad_norm_); undefined ones stay
// undefined. If global_norm is given, it receives the norm before clipping.
std::vector<Tensor> clip_by_global_norm(const std::vector<Tensor>& grads, double max_norm,
                                        Tensor* global_norm = nullptr, Loc loc = Loc::current());

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

// Adam with bias correction (Kingma & Ba), PyTorch's defaults; the learning
// rate a number or a Schedule.
class Adam : public Optimizer {
 public:
  explicit Adam(double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8);
  explicit Adam(std::shared_ptr<const Schedule> schedule, double beta1 = 0.9, double beta2 = 0.999,
                double epsilon = 1e-8);
  Variable step() const;

 protected:
  double weight_decay_ = 0.0;  // AdamW's

 private:
  void begin_step(Loc loc) override;
  void update(const Variable& v, const Tensor& g, size_t index, Loc loc) override;
  double lr_, beta1_, beta2_, eps_;
  std::shared_ptr<const Schedule> schedule_;
  std::shared_ptr<Variable> step_;
  std::shared_ptr<Tensor> lr_now_;   // this step's learning rate (f64)
  std::shared_ptr<Tensor> lr_t_;     // lr / (1 - beta1^t) of this step
  std::shared_ptr<Tensor> sqrt_c2_;  // sqrt(1 - beta2^t) of this step
};

// Adam with decoupled weight decay (Loshchilov & Hutter; PyTorch's AdamW,
// its defaults): v -= lr * weight_decay * v, then the Adam update.
class AdamW : public Adam {
 public:
  explicit AdamW(double learning_rate = 1e-3, double weight_decay = 1e-2, double beta1 = 0.9, double beta2 = 0.999,
                 double epsilon = 1e-8);
  explicit AdamW(std::shared_ptr<const Schedule> schedule, double weight_decay = 1e-2, double beta1 = 0.9,
                 double beta2 = 0.999, double epsilon = 1e-8);
};

}  // namespace duet::optim
