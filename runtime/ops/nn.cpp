// Public linear-algebra and neural-network ops: matmul, conv2d, max_pool2d,
// dropout.
#include <duet/runtime/dispatch.h>
#include <duet/runtime/gradient.h>
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

namespace duet {

namespace {
const OpDef& k_conv2d_backward_input = op_def("conv2d_backward_input");
const OpDef& k_conv2d_backward_filter = op_def("conv2d_backward_filter");
const OpDef& k_max_pool2d_backward = op_def("max_pool2d_backward");
}  // namespace

Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& input_shape, int64_t stride,
                             int64_t padding, Loc loc) {
  // -1 only while tracing: a gradient passes its input's dynamic batch.
  check_shape_argument("conv2d_backward_input", input_shape, current_recorder() != nullptr, effective_location(loc));
  Attrs attrs{{"stride", stride}, {"padding", padding}, {"input_shape", input_shape.vec()}};
  return dispatch1(k_conv2d_backward_input, {&dy, &w}, attrs, loc);
}

Tensor conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Shape& filter_shape, int64_t stride,
                              int64_t padding, Loc loc) {
  check_shape_argument("conv2d_backward_filter", filter_shape, current_recorder() != nullptr, effective_location(loc));
  Attrs attrs{{"stride", stride}, {"padding", padding}, {"filter_shape", filter_shape.vec()}};
  return dispatch1(k_conv2d_backward_filter, {&x, &dy}, attrs, loc);
}

Tensor max_pool2d_backward(const Tensor& x, const Tensor& dy, int64_t kernel, int64_t stride, Loc loc) {
  Attrs attrs{{"kernel", kernel}, {"stride", stride == 0 ? kernel : stride}};
  return dispatch1(k_max_pool2d_backward, {&x, &dy}, attrs, loc);
}

// ---- gradient rules --------------------------------------------------------------------

DUET_GRAD(matmul) {                                     // g B^T, A^T g, batch dims summed back
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad();
  return {unbroadcast(matmul(g, transpose(b)), a.shape()), unbroadcast(matmul(transpose(a), g), b.shape())};
}
DUET_GRAD(fused_matmul) {  // y = act(z), z = A B + bias (A, B maybe transposed): dz = g act'(z), then matmul's rule
  const Tensor &a = ctx.in(0), &b = ctx.in(1), &g = ctx.grad(), &y = ctx.result();
  const std::string& act = ctx.attrs.get_string("activation");
  auto flag = [&](const char* name) { return ctx.attrs.has(name) && ctx.attrs.get_bool(name); };
  const bool ta = flag("transpose_a"), tb = flag("transpose_b");
  const Tensor A = ta ? transpose(a) : a, B = tb ? transpose(b) : b;
  Tensor dz = g;
  if (act == "relu") dz = where(y > 0, g, 0);
  else if (act == "tanh") dz = g * (1 - y * y);
  else if (act == "sigmoid") dz = g * y * (1 - y);
  else if (act == "gelu") {  // needs z itself: recomputed
    Tensor z = matmul(A, B);
    for (size_t k = 2; k < ctx.inputs.size(); ++k) z = z + ctx.in(static_cast<int>(k));
    Tensor cdf = (erf(z * 0.70710678118654752440) + 1) * 0.5;
    Tensor pdf = exp(square(z) * -0.5) * 0.39894228040143267794;
    dz = g * (cdf + z * pdf);
  }
  Tensor dA = unbroadcast(matmul(dz, transpose(B)), A.shape()), dB = unbroadcast(matmul(transpose(A), dz), B.shape());
  std::vector<Tensor> grads{ta ? transpose(dA) : dA, tb ? transpose(dB) : dB};
  for (size_t k = 2; k < ctx.inputs.size(); ++k) grads.push_back(unbroadcast(dz, ctx.in(static_cast<int>(k)).shape()));
  return grads;
}
DUET_GRAD(conv2d) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  int64_t stride = ctx.attrs.get_int("stride"), padding = ctx.attrs.get_int("padding");
  return {conv2d_backward_input(ctx.grad(), w, x.shape(), stride, padding),
          conv2d_backward_filter(x, ctx.grad(), w.shape(), stride, padding)};
}
DUET_GRAD(max_pool2d) {                                 // to each window's maximum
  return {max_pool2d_backward(ctx.in(0), ctx.grad(), ctx.attrs.get_int("kernel"), ctx.attrs.get_int("stride"))};
}
DUET_GRAD(conv2d_backward_input) {                      // linear in dy and w: dx = conv^T(dy, w)
  const Tensor &dy = ctx.in(0), &w = ctx.in(1), &g = ctx.grad();
  int64_t stride = ctx.attrs.get_int("stride"), padding = ctx.attrs.get_int("padding");
  return {conv2d(g, w, stride, padding), conv2d_backward_filter(g, dy, w.shape(), stride, padding)};
}
DUET_GRAD(conv2d_backward_filter) {                     // linear in x and dy
  const Tensor &x = ctx.in(0), &dy = ctx.in(1), &g = ctx.grad();
  int64_t stride = ctx.attrs.get_int("stride"), padding = ctx.attrs.get_int("padding");
  return {conv2d_backward_input(dy, g, x.shape(), stride, padding), conv2d(x, g, stride, padding)};
}
DUET_GRAD(max_pool2d_backward) {                        // linear in dy; piecewise constant in x
  const Tensor &x = ctx.in(0);
  Attrs attrs{{"kernel", ctx.attrs.get_int("kernel")}, {"stride", ctx.attrs.get_int("stride")}};
  const Tensor& g = ctx.grad();
  return {Tensor(), dispatch1(op_def("max_pool2d_pick"), {&x, &g}, attrs, SrcLoc())};
}
DUET_GRAD(max_pool2d_pick) {                            // linear in g: routed back to the maxima
  return {Tensor(), max_pool2d_backward(ctx.in(0), ctx.grad(), ctx.attrs.get_int("kernel"), ctx.attrs.get_int("stride"))};
}
DUET_GRAD(dropout) {                                    // the same mask and scale (same seed)
  return {dropout(ctx.grad(), ctx.attrs.get_float("rate"), static_cast<uint64_t>(ctx.attrs.get_int("seed")))};
}

}  // namespace duet
