// Exclusive access to a variable's stored value, for duet::function's
// in-place updates (NOTE [Donated variables] in docs/ir.md).
// Internal to duet's layers.
#pragma once

#include <duet/runtime/variable.h>

namespace duet::detail {

// Holds the variable's lock from construction to destruction: no read or
// assign of it, from any thread, runs in between.
class VariableLock {
 public:
  explicit VariableLock(const Variable& v);
  ~VariableLock();
  VariableLock(const VariableLock&) = delete;
  VariableLock& operator=(const VariableLock&) = delete;
  // The stored value.
  const Tensor& value() const;
  // Whether nothing but the variable references the value's buffer (no
  // snapshot, no view, no tape, no borrowed memory): writing into it is
  // then visible to no one but the variable.
  bool sole_owner() const;
  // Stores t as the value (its type must be the variable's).
  void set(const Tensor& t);

 private:
  VariableState* state_;
};

}  // namespace duet::detail
