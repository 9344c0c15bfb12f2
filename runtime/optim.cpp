// SGD and Adam, written with duet ops so the same code runs eagerly and
// traced.
#include <duet/runtime/optim.h>

#include <algorithm>
#include <cmath>
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
      lr_now_(std::make_shared<Tensor>()), lr_t_(std::make_shared<Tensor>()), sqrt_c2_(std::make_shared<Tensor>()) {
  if (!(learning_rate > 0)) throw Error(fmt::format("Adam: the learning rate must be > 0, got {}", learning_rate));
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    throw Error(fmt::format("Adam: the betas must be in [0, 1), got {} and {}", beta1, beta2));
  if (!(epsilon >= 0)) throw Error(fmt::format("Adam: epsilon must be >= 0, got {}", epsilon));
}

Adam::Adam(std::shared_ptr<const Schedule> schedule, double beta1, double beta2, double epsilon)
    : Adam(1.0, beta1, beta2, epsilon) {
  if (!schedule) throw Error("Adam: the schedule is empty");
  schedule_ = std::move(schedule);
}

AdamW::AdamW(double learning_rate, double weight_decay, double beta1, double beta2, double epsilon)
    : Adam(learning_rate, beta1, beta2, epsilon) {
  if (!(weight_decay >= 0)) throw Error(fmt::format("AdamW: weight_decay must be >= 0, got {}", weight_decay));
  weight_decay_ = weight_decay;
}
AdamW::AdamW(std::shared_ptr<const Schedule> schedule, double weight_decay, double beta1, double beta2, double epsilon)
    : Adam(std::move(schedule), beta1, beta2, epsilon) {
  if (!(weight_decay >= 0)) throw Error(fmt::format("AdamW: weight_decay must be >= 0, got {}", weight_decay));
  weight_decay_ = weight_decay;
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
  *lr_now_ = schedule_ ? (*schedule_)(t) : scalar(lr_, DType::f64);
  *lr_t_ = div(Operand(*lr_now_), Operand(c1));
  *sqrt_c2_ = sqrt(c2, loc);
}

void Adam::update(const Variable& v, const Tensor& g, size_t, Loc loc) {
  Variable m = slot(v, "m"), s = slot(v, "v");
  if (weight_decay_ > 0) {  // decoupled: on the value, before the Adam step
    Tensor decay = cast(*lr_now_, v.dtype(), loc);
    if (!(decay.device() == v.device()) && decay.impl()->storage) decay = decay.to(v.device(), loc);
    v.assign_sub(mul(Operand(mul(Operand(decay), weight_decay_)), Operand(v, loc)), loc);
  }
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

namespace {
class WarmupCosine : public Schedule {
 public:
  WarmupCosine(double peak, int64_t warmup, int64_t total, double final_lr)
      : peak_(peak), final_(final_lr), warmup_(double(warmup)), total_(double(total)) {}
  Tensor operator()(const Tensor& step) const override {
    // warmup: peak t / w; then final + (peak - final) (1 + cos(pi p)) / 2, p = min(1, (t - w) / (T - w)).
    Tensor rising = mul(Operand(step), peak_ / std::max(warmup_, 1.0));
    Tensor p = minimum(Operand(div(Operand(sub(Operand(step), warmup_)), std::max(total_ - warmup_, 1.0))), 1.0);
    Tensor falling = add(Operand(mul(Operand(add(Operand(cos(mul(Operand(p), M_PI))), 1.0)), (peak_ - final_) / 2)), final_);
    return where(less(Operand(step), warmup_), Operand(rising), Operand(falling));
  }
  double at(double t) const override {
    if (t < warmup_) return t * (peak_ / std::max(warmup_, 1.0));
    double p = std::min(1.0, (t - warmup_) / std::max(total_ - warmup_, 1.0));
    return (std::cos(p * M_PI) + 1.0) * ((peak_ - final_) / 2) + final_;
  }

 private:
  double peak_, final_, warmup_, total_;
};
}  // namespace

std::shared_ptr<const Schedule> warmup_cosine(double peak, int64_t warmup, int64_t total, double final_lr) {
  if (!(peak > 0)) throw Error(fmt::format("warmup_cosine: the peak rate must be > 0, got {}", peak));
  if (warmup < 0 || total <= warmup)
    throw Error(fmt::format("warmup_cosine: expects 0 <= warmup < total, got warmup {} and total {}", warmup, total));
  if (!(final_lr >= 0 && final_lr <= peak))
    throw Error(fmt::format("warmup_cosine: the final rate must be in [0, peak], got {}", final_lr));
  return std::make_shared<WarmupCosine>(peak, warmup, total, final_lr);
}

std::vector<Tensor> clip_by_global_norm(const std::vector<Tensor>& grads, double max_norm, Tensor* global_norm,
                                        Loc loc) {
  if (!(max_norm > 0)) throw Error(format_error("clip_by_global_norm", fmt::format("max_norm must be > 0, got {}", max_norm), loc));
  Tensor total;
  for (const Tensor& g : grads) {
    if (!g.defined()) continue;
    Tensor s = sum(square(cast(g, DType::f64, loc), loc), {}, false, loc);
    if (total.defined() && !(total.device() == s.device()) && s.impl()->storage) s = s.to(total.device(), loc);
    total = total.defined() ? add(Operand(total, loc), Operand(s, loc)) : s;
  }
  if (!total.defined()) return grads;
  Tensor norm = sqrt(total, loc);
  if (global_norm) *global_norm = norm;
  Tensor scale = minimum(Operand(div(max_norm, Operand(add(Operand(norm, loc), 1e-6))), loc), Operand(1.0, loc));
  std::vector<Tensor> out;
  for (const Tensor& g : grads) {
    if (!g.defined()) {
      out.push_back(g);
      continue;
    }
    Tensor k = cast(scale, g.dtype(), loc);
    if (!(k.device() == g.device()) && k.impl()->storage) k = k.to(g.device(), loc);
    out.push_back(mul(Operand(g, loc), Operand(k, loc)));
  }
  return out;
}

}  // namespace duet::optim
