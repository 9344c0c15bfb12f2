// Reverse-mode autodiff: GradientTape, stop_gradient, custom_gradient
// (DESIGN.md §1). NOTE [Tapes] in runtime/autodiff.cpp.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>

namespace duet {

// A gradient source: a Tensor or a Variable.
class GradSource {
 public:
  GradSource(const Tensor& t) : tensor_(t) {}      // NOLINT
  GradSource(const Variable& v) : variable_(v) {}  // NOLINT
  bool is_variable() const { return variable_.defined(); }
  const Tensor& tensor() const { return tensor_; }
  const Variable& variable() const { return variable_; }

 private:
  Tensor tensor_;
  Variable variable_;
};

class TapeImpl;

// Records the ops run from its construction until stop() or, unless
// persistent, the first gradient(). Trainable variables are watched
// automatically; other tensors need watch(). Tapes are per thread.
class GradientTape {
 public:
  explicit GradientTape(bool persistent = false);
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  void watch(const Tensor& t);
  void watch(const Variable& v);
  void stop();  // stops recording

  // d target / d source. A target with several elements is differentiated as
  // the sum of its elements; output_gradient weights them instead. A source
  // the target does not depend on gets an undefined Tensor.
  Tensor gradient(const Tensor& target, const GradSource& source, Loc loc = Loc::current());
  Tensor gradient(const Tensor& target, const GradSource& source, const Tensor& output_gradient,
                  Loc loc = Loc::current());
  std::vector<Tensor> gradient(const Tensor& target, std::initializer_list<GradSource> sources,
                               Loc loc = Loc::current());
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Tensor>& sources, Loc loc = Loc::current());
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Variable>& sources, Loc loc = Loc::current());
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<GradSource>& sources,
                               const Tensor& output_gradient, Loc loc = Loc::current());

 private:
  std::unique_ptr<TapeImpl> impl_;
};

// The identity whose gradient is zero: blocks the flow of gradients.
Tensor stop_gradient(const Tensor& t, Loc loc = Loc::current());

// An op with a hand-written gradient: forward(inputs) computes the output
// with any duet ops (not recorded by tapes); backward(inputs, output, dy)
// returns one gradient per input (undefined where none), written with duet
// ops so it works eagerly, traced and under outer tapes.
//   auto clip = custom_gradient(
//       [](const std::vector<Tensor>& x) { return x[0] * 1.f; },
//       [](const std::vector<Tensor>& x, const Tensor& y, const Tensor& dy) {
//         return std::vector<Tensor>{minimum(maximum(dy, -1.f), 1.f)}; });
//   Tensor y = clip({x});
using CustomForward = std::function<Tensor(const std::vector<Tensor>& inputs)>;
using CustomBackward =
    std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const Tensor& output, const Tensor& dy)>;

class CustomGradientOp {
 public:
  CustomGradientOp(CustomForward forward, CustomBackward backward)
      : forward_(std::move(forward)), backward_(std::move(backward)) {}
  Tensor operator()(const std::vector<Tensor>& inputs, Loc loc = Loc::current()) const;

 private:
  CustomForward forward_;
  CustomBackward backward_;
};

inline CustomGradientOp custom_gradient(CustomForward forward, CustomBackward backward) {
  return CustomGradientOp(std::move(forward), std::move(backward));
}

}  // namespace duet
