// Tensor: an immutable, reference-counted n-d array on a device, and Operand,
// the wrapper through which operators take tensors and C++ scalars.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <source_location>
#include <string>
#include <vector>

#include <duet/graph/error.h>
#include <duet/graph/types.h>

namespace duet {

// The caller's position, taken as a defaulted last argument of every public
// op so errors name the user's file:line.
using Loc = std::source_location;

class TensorImpl;
class Variable;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() == false
  Tensor(const Tensor& o);
  Tensor(Tensor&& o) noexcept : impl_(o.impl_) { o.impl_ = nullptr; }
  Tensor& operator=(const Tensor& o);
  Tensor& operator=(Tensor&& o) noexcept;
  ~Tensor();
  Tensor(const Variable& v);  // NOLINT: a Variable reads as its current value

  bool defined() const { return impl_ != nullptr; }
  const TensorType& type() const;
  const Shape& shape() const;
  DType dtype() const;
  Device device() const;
  int64_t numel() const;
  int rank() const;

  // The value of a one-element tensor (any rank), converted to T.
  template <class T> T item(Loc loc = Loc::current()) const;
  // A row-major copy of the elements, converted to T.
  template <class T> std::vector<T> to_vector(Loc loc = Loc::current()) const;
  // A one-element b8 tensor used as a C++ bool.
  explicit operator bool() const;

  Tensor to(Device device, Loc loc = Loc::current()) const;
  Tensor cpu(Loc loc = Loc::current()) const;

  // Method forms of the free functions of <duet/runtime/ops.h>.
  Tensor matmul(const Tensor& other, Loc loc = Loc::current()) const;
  Tensor sum(const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current()) const;
  Tensor mean(const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current()) const;
  Tensor max(const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current()) const;
  Tensor min(const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current()) const;
  Tensor argmax(int64_t axis, Loc loc = Loc::current()) const;
  Tensor reshape(const Shape& shape, Loc loc = Loc::current()) const;
  Tensor transpose(const std::vector<int64_t>& perm = {}, Loc loc = Loc::current()) const;
  Tensor cast(DType dtype, Loc loc = Loc::current()) const;
  Tensor exp(Loc loc = Loc::current()) const;
  Tensor log(Loc loc = Loc::current()) const;
  Tensor sqrt(Loc loc = Loc::current()) const;
  Tensor tanh(Loc loc = Loc::current()) const;
  Tensor sigmoid(Loc loc = Loc::current()) const;
  Tensor relu(Loc loc = Loc::current()) const;
  Tensor abs(Loc loc = Loc::current()) const;
  Tensor square(Loc loc = Loc::current()) const;
  Tensor rsqrt(Loc loc = Loc::current()) const;
  Tensor erf(Loc loc = Loc::current()) const;
  Tensor gelu(Loc loc = Loc::current()) const;
  Tensor log1p(Loc loc = Loc::current()) const;
  Tensor softplus(Loc loc = Loc::current()) const;
  Tensor sign(Loc loc = Loc::current()) const;
  Tensor softmax(int64_t axis = -1, Loc loc = Loc::current()) const;
  Tensor log_softmax(int64_t axis = -1, Loc loc = Loc::current()) const;
  Tensor expand_dims(int64_t axis, Loc loc = Loc::current()) const;
  Tensor squeeze(const Axes& axes = {}, Loc loc = Loc::current()) const;
  Tensor broadcast_to(const Shape& shape, Loc loc = Loc::current()) const;

  // Internal: the implementation object (runtime, tracer and tests).
  TensorImpl* impl() const { return impl_; }
  explicit Tensor(TensorImpl* impl) : impl_(impl) {}  // adopts one reference
  // Raw element pointer of a concrete CPU tensor (read-only by contract).
  const void* data_ptr() const;

 private:
  TensorImpl* impl_ = nullptr;
};

// "tensor([1, 2], shape=[2], dtype=f32)"
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// An operand of an operator or a binary op: a tensor, a variable, or a C++
// scalar. It records where it was built, which is the user's expression, so
// operators report the user's file:line (operators cannot take a defaulted
// source_location themselves). C++ scalars are weakly typed: see
// NOTE [Type promotion] in docs/semantics.md.
class Operand {
 public:
  Operand(const Tensor& t, Loc loc = Loc::current());          // NOLINT
  Operand(const Variable& v, Loc loc = Loc::current());        // NOLINT
  Operand(float v, Loc loc = Loc::current()) : kind_(Kind::floating), f_(v), loc_(loc) {}    // NOLINT
  Operand(double v, Loc loc = Loc::current()) : kind_(Kind::floating), f_(v), loc_(loc) {}   // NOLINT
  Operand(int v, Loc loc = Loc::current()) : kind_(Kind::integer), i_(v), loc_(loc) {}       // NOLINT
  Operand(int64_t v, Loc loc = Loc::current()) : kind_(Kind::integer), i_(v), wide_(true), loc_(loc) {}  // NOLINT
  Operand(bool v, Loc loc = Loc::current()) : kind_(Kind::boolean), i_(v), loc_(loc) {}      // NOLINT

  enum class Kind : uint8_t { tensor, floating, integer, boolean };
  Kind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == Kind::tensor; }
  const Tensor& tensor() const { return t_; }
  double float_value() const { return f_; }
  int64_t int_value() const { return i_; }
  bool is_int64() const { return wide_; }  // an int64_t scalar: i64 on its own
  const Loc& loc() const { return loc_; }

 private:
  Kind kind_;
  Tensor t_;
  double f_ = 0;
  int64_t i_ = 0;
  bool wide_ = false;
  Loc loc_;
};

Tensor operator+(const Operand& a, const Operand& b);
Tensor operator-(const Operand& a, const Operand& b);
Tensor operator*(const Operand& a, const Operand& b);
Tensor operator/(const Operand& a, const Operand& b);
Tensor operator%(const Operand& a, const Operand& b);
Tensor operator-(const Operand& a);
Tensor operator<(const Operand& a, const Operand& b);
Tensor operator<=(const Operand& a, const Operand& b);
Tensor operator>(const Operand& a, const Operand& b);
Tensor operator>=(const Operand& a, const Operand& b);
Tensor operator==(const Operand& a, const Operand& b);
Tensor operator!=(const Operand& a, const Operand& b);
Tensor operator!(const Operand& a);
// `!t` on a Tensor needs an exact overload: converting to Operand would be
// ambiguous with the explicit bool conversion, so this one form cannot name
// the caller's line (logical_not(t) can).
Tensor operator!(const Tensor& a);
Tensor operator&(const Operand& a, const Operand& b);
Tensor operator|(const Operand& a, const Operand& b);

}  // namespace duet
