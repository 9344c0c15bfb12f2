// Creation functions: literals, filled tensors, random tensors, ranges.
// Literal typing: floating -> f32, integers -> i32 (int64_t -> i64), bool -> b8.
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include <duet/backends/copy.h>
#include <duet/backends/random.h>
#include <duet/graph/scalar.h>
#include <duet/runtime/device.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tensor_impl.h>

namespace duet {

namespace {

// Every dim >= 0, the list within the maximum rank, the type within 2^48
// bytes (NOTE [Result sizes]): checked before anything is allocated.
void check_shape(const Shape& shape, DType dtype, const char* what, SrcLoc loc) {
  if (current_recorder() && !shape.excess_rank())
    for (int i = 0; i < shape.rank(); ++i)
      if (shape.dim(i) == -1)
        throw ShapeError(format_error(
            what, fmt::format("dim {} of {} is dynamic in this trace (-1, an input's unknown size): make the value "
                              "from a traced tensor instead, e.g. zeros_like(x), ones_like(x) or "
                              "broadcast_like(scalar(v), x)", i, shape.str()), loc));
  check_shape_argument(what, shape, /*allow_dynamic=*/false, loc);
  if (std::string problem = type_size_problem(TensorType{dtype, shape}, false); !problem.empty())
    throw ShapeError(format_error(what, problem, loc));
}

// New values are made on the host, then moved to the scope's device.
TensorImpl* fresh(const Shape& shape, DType dtype, const char* what, SrcLoc loc) {
  check_shape(shape, dtype, what, loc);
  detail::check_device(current_device(), what, loc);
  TensorImpl* t = TensorImpl::create_result(what, TensorType{dtype, shape}, Device::cpu(), loc);
  t->made_by = what;
  t->made_at = loc;
  return t;
}
Tensor placed(Tensor t, const char* what, SrcLoc loc) {
  Device d = current_device();
  if (d.is_cpu()) return t;
  Tensor out(TensorImpl::create_result(what, t.type(), d, loc));
  copy_bytes(out.impl()->data(), d, t.impl()->data(), Device::cpu(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  return out;
}

// Fills element i with f(i), converted to the tensor's dtype.
template <class F>
Tensor generate(const Shape& shape, DType dtype, const char* what, SrcLoc loc, F f) {
  TensorImpl* t = fresh(shape, dtype, what, loc);
  Tensor out(t);
  int64_t n = shape.numel();
  switch (dtype) {
    case DType::b8: for (int64_t i = 0; i < n; ++i) t->ptr<bool>()[i] = scalar_math::cast<bool>(f(i)); break;
    case DType::i32: for (int64_t i = 0; i < n; ++i) t->ptr<int32_t>()[i] = scalar_math::cast<int32_t>(f(i)); break;
    case DType::i64: for (int64_t i = 0; i < n; ++i) t->ptr<int64_t>()[i] = scalar_math::cast<int64_t>(f(i)); break;
    case DType::f32: for (int64_t i = 0; i < n; ++i) t->ptr<float>()[i] = static_cast<float>(f(i)); break;
    case DType::f64: for (int64_t i = 0; i < n; ++i) t->ptr<double>()[i] = static_cast<double>(f(i)); break;
  }
  return placed(std::move(out), what, loc);
}

template <class T>
Tensor from_list(std::initializer_list<T> values, DType dtype, SrcLoc loc) {
  const T* v = values.begin();
  return generate(Shape{static_cast<int64_t>(values.size())}, dtype, "tensor", loc, [&](int64_t i) { return v[i]; });
}

template <class T>
Tensor from_rows(std::initializer_list<std::initializer_list<T>> rows, DType dtype, SrcLoc loc) {
  size_t cols = rows.size() ? rows.begin()->size() : 0;
  std::vector<T> flat;
  for (const auto& r : rows) {
    if (r.size() != cols)
      throw ShapeError(format_error("tensor", fmt::format("rows have different lengths ({} and {})", cols, r.size()), loc));
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return generate(Shape{static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols)}, dtype, "tensor", loc,
                  [&](int64_t i) { return flat[static_cast<size_t>(i)]; });
}

}  // namespace

namespace detail {
Tensor tensor_1d(std::initializer_list<float> v, DType dtype, Loc loc) { return from_list(v, dtype, loc); }
Tensor tensor_1d(std::initializer_list<double> v, DType dtype, Loc loc) { return from_list(v, dtype, loc); }
Tensor tensor_1d(std::initializer_list<int> v, DType dtype, Loc loc) { return from_list(v, dtype, loc); }
Tensor tensor_1d(std::initializer_list<int64_t> v, DType dtype, Loc loc) { return from_list(v, dtype, loc); }
Tensor tensor_1d(std::initializer_list<bool> v, DType dtype, Loc loc) { return from_list(v, dtype, loc); }
Tensor tensor_2d(Rows<float> r, DType dtype, Loc loc) { return from_rows(r, dtype, loc); }
Tensor tensor_2d(Rows<double> r, DType dtype, Loc loc) { return from_rows(r, dtype, loc); }
Tensor tensor_2d(Rows<int> r, DType dtype, Loc loc) { return from_rows(r, dtype, loc); }
}  // namespace detail
Tensor tensor(std::initializer_list<std::initializer_list<double>> r, DType dtype, Loc loc) {
  return from_rows(r, dtype, loc);
}

Tensor full(const Shape& shape, double value, DType dtype, Loc loc) {
  return generate(shape, dtype, "full", loc, [&](int64_t) { return value; });
}
Tensor zeros(const Shape& shape, DType dtype, Loc loc) {
  TensorImpl* t = fresh(shape, dtype, "zeros", loc);
  std::memset(t->data(), 0, static_cast<size_t>(shape.numel()) * dtype_size(dtype));
  return placed(Tensor(t), "zeros", loc);
}
Tensor ones(const Shape& shape, DType dtype, Loc loc) {
  return generate(shape, dtype, "ones", loc, [](int64_t) { return 1.0; });
}
// On t's device, whatever the scope says. A traced value of dynamic shape
// gets a broadcast of one element to its shape (resolved on every call).
static Tensor filled_like(const Tensor& t, double value, const char* what, Loc loc) {
  if (!t.defined()) throw Error(format_error(what, "the tensor is undefined", loc));
  DeviceScope on(t.device(), loc);
  if (current_recorder() && !t.shape().is_static()) return broadcast_like(full({}, value, t.dtype(), loc), t, loc);
  return value == 0 ? zeros(t.shape(), t.dtype(), loc) : full(t.shape(), value, t.dtype(), loc);
}
Tensor zeros_like(const Tensor& t, Loc loc) { return filled_like(t, 0.0, "zeros_like", loc); }
Tensor ones_like(const Tensor& t, Loc loc) { return filled_like(t, 1.0, "ones_like", loc); }

static void require_float(DType dtype, const char* what, SrcLoc loc) {
  if (!is_floating(dtype))
    throw DTypeError(format_error(what, fmt::format("expects a floating dtype, got {}", dtype_name(dtype)), loc));
}

Tensor randn(const Shape& shape, uint64_t seed, DType dtype, Loc loc) {
  require_float(dtype, "randn", loc);
  uint64_t s = random::stream_seed(seed, random::kRandn);
  return generate(shape, dtype, "randn", loc, [&](int64_t i) { return random::normal(s, uint64_t(i)); });
}
Tensor rand(const Shape& shape, uint64_t seed, DType dtype, Loc loc) {
  require_float(dtype, "rand", loc);
  // In f32, round down so that the result stays < 1.
  uint64_t s = random::stream_seed(seed, random::kRand);
  return generate(shape, dtype, "rand", loc, [&](int64_t i) {
    double u = random::uniform(s, uint64_t(i));
    return dtype == DType::f32 ? double(float(u) < 1.0f ? float(u) : 0x1.fffffep-1f) : u;
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, uint64_t seed, DType dtype, Loc loc) {
  if (dtype != DType::i32 && dtype != DType::i64)
    throw DTypeError(format_error("randint", fmt::format("expects an integer dtype (i32, i64), got {}", dtype_name(dtype)), loc));
  if (low >= high)
    throw Error(format_error("randint", fmt::format("expects low < high, got low={}, high={}", low, high), loc));
  if (dtype == DType::i32 && (low < std::numeric_limits<int32_t>::min() || high - 1 > std::numeric_limits<int32_t>::max()))
    throw Error(format_error("randint", fmt::format("[{}, {}) does not fit i32", low, high), loc));
  const uint64_t s = random::stream_seed(seed, random::kRandint);
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  return generate(shape, dtype, "randint", loc, [&](int64_t i) {
    return static_cast<int64_t>(static_cast<uint64_t>(low) + random::below(s, uint64_t(i), range));
  });
}

Tensor scalar(float v, Loc loc) { return full({}, v, DType::f32, loc); }
Tensor scalar(double v, Loc loc) { return full({}, v, DType::f32, loc); }
Tensor scalar(int v, Loc loc) { return full({}, v, DType::i32, loc); }
Tensor scalar(int64_t v, Loc loc) { return generate({}, DType::i64, "scalar", loc, [&](int64_t) { return v; }); }
Tensor scalar(bool v, Loc loc) { return full({}, v ? 1.0 : 0.0, DType::b8, loc); }
Tensor scalar(double v, DType dtype, Loc loc) { return full({}, v, dtype, loc); }

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Loc loc) {
  check_shape(shape, dtype_of<T>::value, "from_vector", loc);
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw ShapeError(format_error(
        "from_vector", fmt::format("{} values do not fill the shape {} ({} elements)", values.size(), shape.str(),
                                   shape.numel()), loc));
  return generate(shape, dtype_of<T>::value, "from_vector", loc,
                  [&](int64_t i) { return values[static_cast<size_t>(i)]; });
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Loc);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Loc);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Loc);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Loc);
template Tensor from_vector<bool>(const std::vector<bool>&, const Shape&, Loc);

Tensor arange(int64_t n, DType dtype, Loc loc) {
  if (n < 0) throw ShapeError(format_error("arange", fmt::format("n must be >= 0, got {}", n), loc));
  return generate(Shape{n}, dtype, "arange", loc, [](int64_t i) { return i; });
}

Tensor eye(int64_t n, DType dtype, Loc loc) {
  if (n < 0) throw ShapeError(format_error("eye", fmt::format("n must be >= 0, got {}", n), loc));
  return generate(Shape{n, n}, dtype, "eye", loc, [n](int64_t i) { return i / n == i % n ? 1 : 0; });
}

}  // namespace duet
