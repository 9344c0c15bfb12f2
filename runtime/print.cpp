// Printing tensors: tensor([[1, 2], [3, 4]], shape=[2,2], dtype=f32); the
// values' text is backends/format.cpp's.
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include <duet/backends/format.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/tensor.h>
#include <duet/runtime/tensor_impl.h>

namespace duet {

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  const TensorImpl* impl = t.impl();
  std::string type = fmt::format("shape={}, dtype={}", impl->type.shape.str(), dtype_name(impl->type.dtype));
  if (!impl->device().is_cpu()) type += ", device=" + impl->device().str();
  if (!impl->storage) return fmt::format("tensor(<symbolic>, {})", type);
  Tensor host = impl->device().is_cpu() ? t : t.cpu();
  std::string body = format_values(host.impl()->data(), impl->type.dtype, impl->type.shape);
  return fmt::format("tensor({}, {})", body, type);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace duet
