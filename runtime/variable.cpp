// Variables: shared mutable state behind a handle.
//
// NOTE [Variables hold immutable tensors]
// A variable's value is a Tensor, and tensors are immutable, so assign swaps
// in a tensor holding the new values and value() hands out the current one:
// a snapshot stays valid forever and costs nothing. The swap is under a
// mutex, so reads and assigns from many threads never tear.
#include <duet/runtime/variable.h>

#include <mutex>

#include <fmt/format.h>

#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tape_hooks.h>
#include <duet/runtime/tensor_impl.h>
#include <duet/runtime/variable_lock.h>

namespace duet {

struct VariableState {
  std::mutex mu;
  Tensor value;  // guarded by mu
  // Fixed at creation, so read without the lock.
  TensorType type;
  Device device;
  std::string name;
  bool trainable = true;
};

Variable::Variable(const Tensor& initial, std::string name, bool trainable, Loc loc)
    : state_(std::make_shared<VariableState>()) {
  if (!initial.defined()) throw Error(format_error("Variable", "the initial value is undefined", loc));
  state_->value = initial;
  state_->type = initial.type();
  state_->device = initial.device();
  state_->name = std::move(name);
  state_->trainable = trainable;
  if (!initial.impl()->storage)
    throw TraceError(format_error("Variable",
                                  fmt::format("'{}' needs a concrete initial value, got a traced {}; create it from "
                                              "a concrete tensor (zeros, randn, ...)",
                                              state_->name, initial.type().str()),
                                  loc));
  if (Recorder* rec = current_recorder()) rec->variable_created(*this, loc);
}

static VariableState& checked(const std::shared_ptr<VariableState>& s) {
  if (!s) throw Error("Variable: the handle is empty (default-constructed)");
  return *s;
}
static VariableState& checked_state(const Variable& v) {
  if (!v.state()) throw Error("Variable: the handle is empty (default-constructed)");
  return *v.state();
}

Tensor Variable::value() const {
  checked(state_);
  Tensor v = current_recorder() ? current_recorder()->read_variable(*this) : concrete_value();
  if (detail::tapes_recording()) detail::tape_variable_read(*this, v);
  return v;
}

Tensor Variable::concrete_value() const {
  VariableState& s = checked(state_);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.value;
}
const std::string& Variable::name() const { return checked(state_).name; }
bool Variable::trainable() const { return checked(state_).trainable; }
const Shape& Variable::shape() const { return checked(state_).type.shape; }
DType Variable::dtype() const { return checked(state_).type.dtype; }
Device Variable::device() const { return checked(state_).device; }

void Variable::assign(const Tensor& t, Loc loc) const {
  VariableState& s = checked(state_);
  if (!t.defined()) throw Error(format_error("assign", "the value is undefined", loc));
  const TensorType& cur = s.type;  // never the current value: another thread may be replacing it
  if (t.dtype() != cur.dtype)
    throw DTypeError(format_error("assign", fmt::format("variable '{}' is {}, the value is {}", s.name, cur.str(),
                                                        t.type().str()), loc));
  if (!(t.shape() == cur.shape))
    throw ShapeError(format_error("assign", fmt::format("variable '{}' is {}, the value is {}", s.name, cur.str(),
                                                        t.type().str()), loc));
  if (Recorder* rec = current_recorder()) return rec->assign_variable(*this, t, loc);
  if (!(t.device() == s.device))
    throw DeviceError(format_error("assign", fmt::format("variable '{}' is on {}, the value is on {}", s.name,
                                                         s.device.str(), t.device().str()), loc));
  if (!t.impl()->storage)
    throw TraceError(format_error("assign", fmt::format("variable '{}' cannot take a symbolic value outside its trace", s.name), loc));
  std::lock_guard<std::mutex> lock(s.mu);
  s.value = t;
}

namespace detail {

VariableLock::VariableLock(const Variable& v) : state_(&checked_state(v)) { state_->mu.lock(); }
VariableLock::~VariableLock() { state_->mu.unlock(); }
const Tensor& VariableLock::value() const { return state_->value; }
void VariableLock::set(const Tensor& t) { state_->value = t; }
bool VariableLock::sole_owner() const {
  const TensorImpl* impl = state_->value.impl();
  return impl && impl->storage && impl->use_count() == 1 && impl->storage->use_count() == 1 && impl->storage->owned();
}

}  // namespace detail

void Variable::assign_add(const Tensor& t, Loc loc) const { assign(add(Operand(value(), loc), Operand(t, loc)), loc); }
void Variable::assign_sub(const Tensor& t, Loc loc) const { assign(sub(Operand(value(), loc), Operand(t, loc)), loc); }

}  // namespace duet
