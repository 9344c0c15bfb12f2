// SGD and Adam, written with duet ops so the same code runs eagerly and
// traced.
#include <duet/runtime/optim.h>

#include <map>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include <duet/runtime/device.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tensor_impl.h>

namespace duet::optim {

struct Optimizer::State {
  std::mutex mu;
  std::map<std::pair<const VariableState*, std::string>, Variable> slots;
  std::vector<Variable> order;  // slots in creation order
};

Optimizer::Optimizer() : state_(std::make_shared<State>()) {}

Variable Optimizer::slot(const Variable& v, const char* name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto key = std::make_pair(static_cast<const VariableState*>(v.state()), std::string(name));
  auto it = state_->slots.find(key);
  if (it != state_->slots.end()) return it->second;
  DeviceScope on(v.device());  // the slot lives where its variable does
  Variable s(zeros(v.shape(), v.dtype()), v.name() + "/" + name, /*trainable=*/false);
  state_->slots.emplace(key, s);
  state_->order.push_back(s);
  return s;
}

std::vector<Variable> Optimizer::variables() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->order;
}

void Optimizer::apply_gradients(const std::vector<Tensor>& grads, const std::vector<Variable>& variables, Loc loc) {
  if (grads.size() != variables.size())
    throw Error(format_error("apply_gradients",
                             fmt::format("{} gradients for {} variables", grads.size(), variables.size()), loc));
  {
    // Per-step state (Adam's counter) lives with the variables.
    DeviceScope on(variables.empty() ? current_device() : variables[0].device(), loc);
    begin_step(loc);
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    if (!(grads[i].shape() == variables[i].shape()))
      throw ShapeError(format_error("apply_gradients",
                                    fmt::format("gradient {} is {} but variable '{}' is {}", i, grads[i].type().str(),
                                                variables[i].name(), TensorType{variables[i].dtype(), variables[i].shape()}.str()),
                                    loc));
    update(variables[i], cast(grads[i], variables[i].dtype(), loc), i, loc);
  }
}

SGD::SGD(double learning_rate, double momentum) : lr_(learning_rate), momentum_(momentum) {
  if (!(learning_rate > 0)) throw Error(fmt::format("SGD: the learning rate must be > 0, got {}", learning_rate));
  if (!(momentum >= 0)) throw Error(fmt::format("SGD: momentum must be >= 0, got {}", momentum));
}

void SGD::update(const Variable& v, const Tensor& g, size_t, Loc loc) {
  if (momentum_ == 0) {
    v.assign_sub(mul(Operand(g, loc), lr_), loc);
    return;
  }
  Variable m = slot(v, "momentum");
  m.assign(add(Operand(mul(Operand(m, loc), momentum_)), g), loc);
  v.assign_sub(mul(Operand(m, loc), lr_), loc);
}

Adam::Adam(double learning_rate, double beta1, double beta2, double epsilon)
    : lr_(learning_rate), beta1_(beta1), beta2_(beta2), eps_(epsilon), step_(std::make_shared<Variable>()),
      lr_t_(std::make_shared<Tensor>()), sqrt_c2_(std::make_shared<Tensor>()) {
  if (!(learning_rate > 0)) throw Error(fmt::format("Adam: the learning rate must be > 0, got {}", learning_rate));
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw Error(fmt::format("Adam: the betas must be in [0, 1), got {} and {}", beta1, beta2));
  if (!(epsilon >= 0)) throw Error(fmt::format("Adam: epsilon must be >= 0, got {}", epsilon));
}

Variable Adam::step() const { return *step_; }

void Adam::begin_step(Loc loc) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!step_->defined()) {
      *step_ = Variable(scalar(0.0, DType::f64), "adam/step", /*trainable=*/false);
      state_->order.push_back(*step_);
    }
  }
  step_->assign_add(scalar(1.0, DType::f64), loc);
  Tensor t = step_->value();
  // PyTorch's form: v -= (lr / (1 - beta1^t)) m / (sqrt(s) / sqrt(1 - beta2^t) + eps),
  // with the corrections computed from the step variable (in f64, cast per
  // variable) so a traced step stays right on every call.
  Tensor c1 = sub(1.0, pow(Operand(scalar(beta1_, DType::f64)), t));
  Tensor c2 = sub(1.0, pow(Operand(scalar(beta2_, DType::f64)), t));
  *lr_t_ = div(lr_, Operand(c1));
  *sqrt_c2_ = sqrt(c2, loc);
}

void Adam::update(const Variable& v, const Tensor& g, size_t, Loc loc) {
  Variable m = slot(v, "m"), s = slot(v, "v");
  m.assign(add(Operand(mul(Operand(m, loc), beta1_)), mul(Operand(g, loc), 1.0 - beta1_)), loc);
  s.assign(add(Operand(mul(Operand(s, loc), beta2_)), mul(Operand(square(g, loc)), 1.0 - beta2_)), loc);
  Tensor lr_t = cast(*lr_t_, v.dtype(), loc), sqrt_c2 = cast(*sqrt_c2_, v.dtype(), loc);
  // The step counter lives where the first step made it; the corrections go
  // where the variable is (a trace's values have no device yet).
  if (!(lr_t.device() == v.device()) && lr_t.impl()->storage) {
    lr_t = lr_t.to(v.device(), loc);
    sqrt_c2 = sqrt_c2.to(v.device(), loc);
  }
  Tensor denom = add(Operand(sqrt(s.value(), loc) / sqrt_c2), eps_);
  v.assign_sub(mul(Operand(lr_t), Operand(m, loc)) / denom, loc);
}

}  // namespace duet::optim
