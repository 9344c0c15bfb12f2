// Printing tensors: tensor([[1, 2], [3, 4]], shape=[2,2], dtype=f32).
// Floats print in their shortest round-trip form; more than kSummarize
// elements print the first and last kEdge of each dim around "...".
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include <duet/runtime/dispatch.h>
#include <duet/runtime/tensor.h>
#include <duet/runtime/tensor_impl.h>

namespace duet {
namespace {

constexpr int64_t kSummarize = 1000;
constexpr int64_t kEdge = 3;

std::string element_str(const TensorImpl* t, int64_t i) {
  switch (t->type.dtype) {
    case DType::b8: return t->ptr<bool>()[i] ? "true" : "false";
    case DType::i32: return fmt::format("{}", t->ptr<int32_t>()[i]);
    case DType::i64: return fmt::format("{}", t->ptr<int64_t>()[i]);
    case DType::f32: return fmt::format("{}", t->ptr<float>()[i]);
    case DType::f64: return fmt::format("{}", t->ptr<double>()[i]);
  }
  return "?";
}

void print_dim(std::string& out, const TensorImpl* t, int dim, int64_t offset, bool summarize) {
  const Shape& s = t->type.shape;
  if (s.rank() == 0) {
    out += element_str(t, 0);
    return;
  }
  int64_t n = s.dim(dim), stride = 1;
  for (int d = dim + 1; d < s.rank(); ++d) stride *= s.dim(d);
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdge && i == kEdge) {
      out += "..., ";
      i = n - kEdge - 1;
      continue;
    }
    if (dim + 1 == s.rank()) out += element_str(t, offset + i);
    else print_dim(out, t, dim + 1, offset + i * stride, summarize);
    if (i + 1 < n) out += ", ";
  }
  out += ']';
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const TensorImpl* impl = t.impl();
  std::string type = fmt::format("shape={}, dtype={}", impl->type.shape.str(), dtype_name(impl->type.dtype));
  if (!impl->device().is_cpu()) type += ", device=" + impl->device().str();
  if (!impl->storage) return fmt::format("tensor(<symbolic>, {})", type);
  std::string body;
  print_dim(body, impl, 0, 0, impl->type.shape.numel() > kSummarize);
  return fmt::format("tensor({}, {})", body, type);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace duet
