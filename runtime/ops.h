// The public ops (DESIGN.md §1): free functions that go through dispatch.
// Each op's IR name is the function's name; every op takes the caller's
// location as a defaulted last argument for its errors.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <vector>

#include <duet/runtime/tensor.h>

namespace duet {

// ---- creation (default dtype f32 on the current scope's device) ----------------
namespace detail {
Tensor tensor_1d(std::initializer_list<float> values, DType dtype, Loc loc);
Tensor tensor_1d(std::initializer_list<double> values, DType dtype, Loc loc);
Tensor tensor_1d(std::initializer_list<int> values, DType dtype, Loc loc);
Tensor tensor_1d(std::initializer_list<int64_t> values, DType dtype, Loc loc);
Tensor tensor_1d(std::initializer_list<bool> values, DType dtype, Loc loc);
template <class T>
using Rows = std::initializer_list<std::initializer_list<T>>;
Tensor tensor_2d(Rows<float> rows, DType dtype, Loc loc);
Tensor tensor_2d(Rows<double> rows, DType dtype, Loc loc);
Tensor tensor_2d(Rows<int> rows, DType dtype, Loc loc);
template <class T>
constexpr DType literal_dtype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int> ||
                    std::is_same_v<T, int64_t> || std::is_same_v<T, bool>,
                "tensor({...}): elements are float, double, int, int64_t or bool, all of one type");
  if constexpr (std::is_floating_point_v<T>) return DType::f32;  // every floating literal is f32
  else if constexpr (std::is_same_v<T, bool>) return DType::b8;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::i64;
  else return DType::i32;
}
}  // namespace detail

// 1-D lists are templates so that a nested list ({{2.f}}) never matches them:
// a braced element cannot deduce T.
template <class T>
Tensor tensor(std::initializer_list<T> values, Loc loc = Loc::current()) {
  return detail::tensor_1d(values, detail::literal_dtype<T>(), loc);
}
template <class T>
Tensor tensor(std::initializer_list<T> values, DType dtype, Loc loc = Loc::current()) {
  detail::literal_dtype<T>();
  return detail::tensor_1d(values, dtype, loc);
}
// Rows too, one template rather than an overload per element type: clang
// finds a nested braced list an equally good match for all of those.
template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows, Loc loc = Loc::current()) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int>,
                "tensor({{...}}): 2-D lists hold float, double or int");
  return detail::tensor_2d(rows, detail::literal_dtype<T>(), loc);
}
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype, Loc loc = Loc::current());

Tensor zeros(const Shape& shape, DType dtype = DType::f32, Loc loc = Loc::current());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Loc loc = Loc::current());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Loc loc = Loc::current());
Tensor zeros_like(const Tensor& t, Loc loc = Loc::current());
Tensor ones_like(const Tensor& t, Loc loc = Loc::current());
// Normal(0, 1) and uniform [0, 1), reproducible from the seed on any thread count.
Tensor randn(const Shape& shape, uint64_t seed = 0, DType dtype = DType::f32, Loc loc = Loc::current());
Tensor rand(const Shape& shape, uint64_t seed = 0, DType dtype = DType::f32, Loc loc = Loc::current());
// Integers uniform in [low, high), i64 or i32; a pure function of (seed, element).
Tensor randint(int64_t low, int64_t high, const Shape& shape, uint64_t seed = 0, DType dtype = DType::i64,
               Loc loc = Loc::current());
Tensor scalar(float v, Loc loc = Loc::current());
Tensor scalar(double v, Loc loc = Loc::current());  // f32, as tensor({1.5})
Tensor scalar(int v, Loc loc = Loc::current());
Tensor scalar(int64_t v, Loc loc = Loc::current());
Tensor scalar(bool v, Loc loc = Loc::current());
Tensor scalar(double v, DType dtype, Loc loc = Loc::current());
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Loc loc = Loc::current());
Tensor arange(int64_t n, DType dtype = DType::i32, Loc loc = Loc::current());
Tensor eye(int64_t n, DType dtype = DType::f32, Loc loc = Loc::current());

// ---- elementwise -------------------------------------------------------------------
Tensor add(const Operand& a, const Operand& b);
Tensor sub(const Operand& a, const Operand& b);
Tensor mul(const Operand& a, const Operand& b);
Tensor div(const Operand& a, const Operand& b);
Tensor mod(const Operand& a, const Operand& b);
Tensor pow(const Operand& a, const Operand& b);
Tensor maximum(const Operand& a, const Operand& b);
Tensor minimum(const Operand& a, const Operand& b);
Tensor less(const Operand& a, const Operand& b);
Tensor less_equal(const Operand& a, const Operand& b);
Tensor greater(const Operand& a, const Operand& b);
Tensor greater_equal(const Operand& a, const Operand& b);
Tensor equal(const Operand& a, const Operand& b);
Tensor not_equal(const Operand& a, const Operand& b);
Tensor logical_and(const Operand& a, const Operand& b);
Tensor logical_or(const Operand& a, const Operand& b);
Tensor logical_not(const Tensor& a, Loc loc = Loc::current());
Tensor where(const Tensor& cond, const Operand& a, const Operand& b);

Tensor neg(const Tensor& x, Loc loc = Loc::current());
Tensor abs(const Tensor& x, Loc loc = Loc::current());
Tensor square(const Tensor& x, Loc loc = Loc::current());
Tensor exp(const Tensor& x, Loc loc = Loc::current());
Tensor log(const Tensor& x, Loc loc = Loc::current());
Tensor sqrt(const Tensor& x, Loc loc = Loc::current());
Tensor rsqrt(const Tensor& x, Loc loc = Loc::current());
Tensor tanh(const Tensor& x, Loc loc = Loc::current());
Tensor sigmoid(const Tensor& x, Loc loc = Loc::current());
Tensor relu(const Tensor& x, Loc loc = Loc::current());
Tensor gelu(const Tensor& x, Loc loc = Loc::current());
Tensor erf(const Tensor& x, Loc loc = Loc::current());
// approximate: "none" (the erf form, as gelu(x)) or "tanh" (GPT-2's; the op gelu_tanh).
Tensor gelu(const Tensor& x, std::string_view approximate, Loc loc = Loc::current());
Tensor log1p(const Tensor& x, Loc loc = Loc::current());     // log(1 + x), accurate near 0
Tensor softplus(const Tensor& x, Loc loc = Loc::current());  // log(1 + e^x), without overflow
Tensor sign(const Tensor& x, Loc loc = Loc::current());      // -1, 0, 1; zeros and NaN as given
Tensor sin(const Tensor& x, Loc loc = Loc::current());       // libm's, in f64 for f32 too
Tensor cos(const Tensor& x, Loc loc = Loc::current());
// min(max(x, lo), hi); the gradient is 1 where lo <= x <= hi, else 0.
Tensor clip(const Tensor& x, const Operand& lo, const Operand& hi);
Tensor cast(const Tensor& x, DType dtype, Loc loc = Loc::current());

// ---- linear algebra and shapes -------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b, Loc loc = Loc::current());  // 2-D, or batched N-D with broadcasting
// transpose(a) swaps the last two dims; transpose(a, perm) permutes them all.
Tensor transpose(const Tensor& a, const std::vector<int64_t>& perm = {}, Loc loc = Loc::current());
Tensor reshape(const Tensor& a, const Shape& shape, Loc loc = Loc::current());  // one -1 allowed
Tensor expand_dims(const Tensor& a, int64_t axis, Loc loc = Loc::current());
Tensor squeeze(const Tensor& a, const Axes& axes = {}, Loc loc = Loc::current());  // {} = every size-1 dim
Tensor broadcast_to(const Tensor& a, const Shape& shape, Loc loc = Loc::current());
// a broadcast to the shape of b (b's values are not read); works with dynamic dims.
Tensor broadcast_like(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor concat(const std::vector<Tensor>& tensors, int64_t axis = 0, Loc loc = Loc::current());
Tensor slice(const Tensor& a, int64_t axis, int64_t begin, int64_t end, Loc loc = Loc::current());
// Rows of a [V, D] table by id: [ids..., D]. Every id must be in [0, V) (an
// IndexError naming the first bad one); the table's gradient sums each row's.
Tensor embedding(const Tensor& table, const Tensor& ids, Loc loc = Loc::current());
// Tensors of one shape joined along a new axis (in [-(rank + 1), rank]).
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis = 0, Loc loc = Loc::current());
// The lower (upper) triangle of the last two dims: elements with col - row <= k
// (>= k) kept, the rest 0. The last two dims must be static.
Tensor tril(const Tensor& a, int64_t k = 0, Loc loc = Loc::current());
Tensor triu(const Tensor& a, int64_t k = 0, Loc loc = Loc::current());
Tensor gather(const Tensor& a, const Tensor& indices, int64_t axis = 0, Loc loc = Loc::current());
// base with updates added at indices along axis (gather's gradient).
Tensor scatter_add(const Tensor& base, const Tensor& indices, const Tensor& updates, int64_t axis = 0,
                   Loc loc = Loc::current());

// ---- reductions and normalizations ---------------------------------------------------
Tensor sum(const Tensor& a, const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor mean(const Tensor& a, const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current());
// The mean squared deviation over axes, divided by (n - correction): 0 is the
// population variance (numpy, JAX, TensorFlow), 1 the sample one (PyTorch's default).
Tensor var(const Tensor& a, const Axes& axes = {}, bool keepdims = false, int64_t correction = 0,
           Loc loc = Loc::current());
Tensor max(const Tensor& a, const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor min(const Tensor& a, const Axes& axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor argmax(const Tensor& a, int64_t axis, Loc loc = Loc::current());  // -> i64
Tensor softmax(const Tensor& a, int64_t axis = -1, Loc loc = Loc::current());
Tensor log_softmax(const Tensor& a, int64_t axis = -1, Loc loc = Loc::current());
Tensor one_hot(const Tensor& labels, int64_t depth, Loc loc = Loc::current());  // -> f32

// ---- neural-network ops ----------------------------------------------------------------
Tensor conv2d(const Tensor& x, const Tensor& w, int64_t stride = 1, int64_t padding = 0, Loc loc = Loc::current());
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, Loc loc = Loc::current());  // stride 0 = kernel
Tensor dropout(const Tensor& x, double rate, uint64_t seed = 0, Loc loc = Loc::current());
// Over the last axis (PyTorch's layer_norm with normalized_shape = [D]):
// (x - mean) / sqrt(var + eps) * gamma + beta, gamma and beta of shape [D].
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5,
                  Loc loc = Loc::current());
// x / sqrt(mean(x^2) + eps) * gamma over the last axis.
Tensor rms_norm(const Tensor& x, const Tensor& gamma, double eps = 1e-6, Loc loc = Loc::current());
// The backward passes of conv2d and max_pool2d (their gradients).
Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& input_shape, int64_t stride = 1,
                             int64_t padding = 0, Loc loc = Loc::current());
Tensor conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Shape& filter_shape, int64_t stride = 1,
                              int64_t padding = 0, Loc loc = Loc::current());
Tensor max_pool2d_backward(const Tensor& x, const Tensor& dy, int64_t kernel, int64_t stride = 0,
                           Loc loc = Loc::current());

}  // namespace duet
