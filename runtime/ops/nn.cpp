// Public linear-algebra and neural-network ops: matmul, conv2d, max_pool2d,
// dropout.
#include <duet/runtime/dispatch.h>
#include <duet/runtime/ops.h>

namespace duet {

namespace {
const OpDef& k_matmul = op_def("matmul");
const OpDef& k_conv2d = op_def("conv2d");
const OpDef& k_max_pool2d = op_def("max_pool2d");
const OpDef& k_dropout = op_def("dropout");
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, Loc loc) { return dispatch1(k_matmul, {&a, &b}, no_attrs(), loc); }

Tensor conv2d(const Tensor& x, const Tensor& w, int64_t stride, int64_t padding, Loc loc) {
  Attrs attrs{{"stride", stride}, {"padding", padding}};
  return dispatch1(k_conv2d, {&x, &w}, attrs, loc);
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, Loc loc) {
  Attrs attrs{{"kernel", kernel}, {"stride", stride == 0 ? kernel : stride}};
  return dispatch1(k_max_pool2d, {&x}, attrs, loc);
}

Tensor dropout(const Tensor& x, double rate, uint64_t seed, Loc loc) {
  if (rate == 0.0 && x.defined() && is_floating(x.dtype())) return x;  // identity, as DESIGN.md pins
  Attrs attrs{{"rate", rate}, {"seed", static_cast<int64_t>(seed)}};
  return dispatch1(k_dropout, {&x}, attrs, loc);
}

}  // namespace duet
