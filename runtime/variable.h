// Variable: the only mutable state. Every copy of the handle is the same
// variable; reading it gives its current value, value() a snapshot.
#pragma once

#include <memory>
#include <string>

#include <duet/runtime/tensor.h>

namespace duet {

struct VariableState;

class Variable {
 public:
  Variable() = default;  // an empty handle: defined() == false
  explicit Variable(const Tensor& initial, std::string name = "", bool trainable = true,
                    Loc loc = Loc::current());

  bool defined() const { return state_ != nullptr; }
  // The current value. Tensors are immutable, so a later assign never
  // changes a tensor returned before it.
  Tensor value() const;
  // The stored value, even while tracing (the tracer reads it at call time).
  Tensor concrete_value() const;
  // A Variable reads as its value through Tensor's converting constructor
  // (one conversion path, so a const Variable converts unambiguously).
  const std::string& name() const;
  bool trainable() const;
  const Shape& shape() const;
  DType dtype() const;
  Device device() const;

  // Replaces the value with t's values; dtype and shape must match.
  void assign(const Tensor& t, Loc loc = Loc::current()) const;
  void assign_add(const Tensor& t, Loc loc = Loc::current()) const;
  void assign_sub(const Tensor& t, Loc loc = Loc::current()) const;

  // Identity: two handles of the same variable compare equal.
  bool same_as(const Variable& o) const { return state_ == o.state_; }
  VariableState* state() const { return state_.get(); }

 private:
  std::shared_ptr<VariableState> state_;
};

}  // namespace duet
