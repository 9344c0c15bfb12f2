// Public shape ops: reshape, transpose, expand_dims, squeeze, broadcast_to,
// concat, slice, gather.
#include <fmt/format.h>

#include <duet/runtime/device.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/gradient.h>
#include <duet/runtime/ops.h>

namespace duet {

namespace {
const OpDef& k_reshape = op_def("reshape");
const OpDef& k_transpose = op_def("transpose");
const OpDef& k_expand_dims = op_def("expand_dims");
const OpDef& k_squeeze = op_def("squeeze");
const OpDef& k_broadcast_to = op_def("broadcast_to");
const OpDef& k_concat = op_def("concat");
const OpDef& k_slice = op_def("slice");
const OpDef& k_gather = op_def("gather");
const OpDef& k_embedding = op_def("embedding");
}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape, Loc loc) {
  if (shape.excess_rank())  // other bad dims are infer's to name (-1 is "the rest")
    check_shape_argument("reshape", shape, /*allow_dynamic=*/true, effective_location(loc));
  Attrs attrs{{"shape", shape.vec()}};
  return dispatch1(k_reshape, {&a}, attrs, loc);
}

Tensor transpose(const Tensor& a, const std::vector<int64_t>& perm, Loc loc) {
  if (!perm.empty() || !a.defined() || a.rank() == 0) {  // rank 0: {} is the whole permutation
    Attrs attrs{{"perm", perm}};
    return dispatch1(k_transpose, {&a}, attrs, loc);
  }
  // No perm: swap the last two dims (a vector has none to swap: say so).
  if (a.rank() < 2)
    throw ShapeError(format_error("transpose", fmt::format("expects rank >= 2, got {}", a.type().str()), loc));
  std::vector<int64_t> swap;
  for (int i = 0; i < a.rank(); ++i) swap.push_back(i);
  std::swap(swap[a.rank() - 1], swap[a.rank() - 2]);
  Attrs attrs{{"perm", swap}};
  return dispatch1(k_transpose, {&a}, attrs, loc);
}

Tensor expand_dims(const Tensor& a, int64_t axis, Loc loc) {
  Attrs attrs{{"axis", axis}};
  return dispatch1(k_expand_dims, {&a}, attrs, loc);
}

Tensor squeeze(const Tensor& a, const Axes& axes, Loc loc) {
  Attrs attrs{{"axes", axes.vec()}};
  return dispatch1(k_squeeze, {&a}, attrs, loc);
}

// A -1 (a traced value's dynamic dim) has no size to broadcast to: the
// shape-polymorphic form is broadcast_like.
Tensor broadcast_to(const Tensor& a, const Shape& shape, Loc loc) {
  for (int64_t d : shape)
    if (d == -1 && !shape.excess_rank())
      throw ShapeError(format_error("broadcast_to",
                                    fmt::format("dims must be >= 0, got {} for {}: to broadcast to the shape of a "
                                                "traced value with dynamic dims, use broadcast_like(a, value)",
                                                shape.str(), a.defined() ? a.type().str() : "an undefined tensor"),
                                    effective_location(loc)));
  check_shape_argument("broadcast_to", shape, /*allow_dynamic=*/false, effective_location(loc));
  Attrs attrs{{"shape", shape.vec()}};
  return dispatch1(k_broadcast_to, {&a}, attrs, loc);
}

Tensor concat(const std::vector<Tensor>& tensors, int64_t axis, Loc loc) {
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : tensors) ptrs.push_back(&t);
  Attrs attrs{{"axis", axis}};
  TensorList out = dispatch(k_concat, ptrs.data(), static_cast<int>(ptrs.size()), attrs, loc);
  return std::move(out[0]);
}

Tensor slice(const Tensor& a, int64_t axis, int64_t begin, int64_t end, Loc loc) {
  Attrs attrs{{"axis", axis}, {"begin", begin}, {"end", end}};
  return dispatch1(k_slice, {&a}, attrs, loc);
}

Tensor embedding(const Tensor& table, const Tensor& ids, Loc loc) {
  return dispatch1(k_embedding, {&table, &ids}, no_attrs(), loc);
}

Tensor gather(const Tensor& a, const Tensor& indices, int64_t axis, Loc loc) {
  Attrs attrs{{"axis", axis}};
  return dispatch1(k_gather, {&a, &indices}, attrs, loc);
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis, Loc loc) {
  if (tensors.empty()) throw Error(format_error("stack", "expects at least one tensor, got none", loc));
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!tensors[i].defined()) throw Error(format_error("stack", fmt::format("tensor {} is undefined", i), loc));
  const Tensor& first = tensors[0];
  for (size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].shape() != first.shape() || tensors[i].dtype() != first.dtype())
      throw ShapeError(format_error(
          "stack", fmt::format("expects tensors of one type, got {} (tensor 0) and {} (tensor {})", first.type().str(),
                               tensors[i].type().str(), i), loc));
  const int64_t rank = first.rank();
  if (axis < -(rank + 1) || axis > rank)
    throw ShapeError(format_error(
        "stack", fmt::format("axis {} is out of range for a new axis of {} (allowed: [{}, {}])", axis,
                             first.type().str(), -(rank + 1), rank), loc));
  if (axis < 0) axis += rank + 1;
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(expand_dims(t, axis, loc));
  return concat(parts, axis, loc);
}

namespace {
// where(mask, a, 0), mask[i][j] = keep(j - i) over a's last two (static) dims.
template <class Keep>
Tensor triangle(const char* what, const Tensor& a, Loc loc, Keep keep) {
  if (!a.defined()) throw Error(format_error(what, "the tensor is undefined", loc));
  if (a.rank() < 2)
    throw ShapeError(format_error(what, fmt::format("expects rank >= 2, got {}", a.type().str()), loc));
  const int64_t rows = a.shape().dim(a.rank() - 2), cols = a.shape().dim(a.rank() - 1);
  if (rows < 0 || cols < 0)
    throw ShapeError(format_error(what, fmt::format("the last two dims of {} must be static", a.type().str()), loc));
  std::vector<bool> mask(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) mask[static_cast<size_t>(i * cols + j)] = keep(j - i);
  DeviceScope on(a.device(), loc);
  return where(from_vector(mask, Shape{rows, cols}, loc), Operand(a, loc), Operand(scalar(0.0, a.dtype(), loc), loc));
}
}  // namespace

Tensor tril(const Tensor& a, int64_t k, Loc loc) {
  return triangle("tril", a, loc, [k](int64_t d) { return d <= k; });
}
Tensor triu(const Tensor& a, int64_t k, Loc loc) {
  return triangle("triu", a, loc, [k](int64_t d) { return d >= k; });
}

}  // namespace duet

namespace duet {

namespace {
const OpDef& k_scatter_add = op_def("scatter_add");

int norm_axis(int64_t a, int rank) { return static_cast<int>(a < 0 ? a + rank : a); }
}  // namespace

namespace {
const OpDef& k_broadcast_like = op_def("broadcast_like");
}

Tensor broadcast_like(const Tensor& a, const Tensor& b, Loc loc) {
  return dispatch1(k_broadcast_like, {&a, &b}, no_attrs(), loc);
}

Tensor scatter_add(const Tensor& base, const Tensor& indices, const Tensor& updates, int64_t axis, Loc loc) {
  Attrs attrs{{"axis", axis}};
  return dispatch1(k_scatter_add, {&base, &indices, &updates}, attrs, loc);
}

// ---- gradient rules --------------------------------------------------------------------

DUET_GRAD(reshape) { return {reshape(ctx.grad(), ctx.in(0).shape())}; }      // back to the input's shape
DUET_GRAD(expand_dims) { return {reshape(ctx.grad(), ctx.in(0).shape())}; }
DUET_GRAD(squeeze) { return {reshape(ctx.grad(), ctx.in(0).shape())}; }
DUET_GRAD(transpose) {                                                        // the inverse permutation
  const std::vector<int64_t>& perm = ctx.attrs.get_ints("perm");
  int r = static_cast<int>(perm.size());
  std::vector<int64_t> inverse(r);
  for (int i = 0; i < r; ++i) inverse[norm_axis(perm[i], r)] = i;
  return {transpose(ctx.grad(), inverse)};
}
DUET_GRAD(broadcast_to) { return {unbroadcast(ctx.grad(), ctx.in(0).shape())}; }
DUET_GRAD(broadcast_like) { return {unbroadcast(ctx.grad(), ctx.in(0).shape()), Tensor()}; }
DUET_GRAD(concat) {                                                           // each input's slice
  int axis = norm_axis(ctx.attrs.get_int("axis"), ctx.in(0).rank());
  std::vector<Tensor> out;
  int64_t at = 0;
  for (const Tensor& x : ctx.inputs) {
    int64_t n = x.shape().dim(axis);
    out.push_back(slice(ctx.grad(), axis, at, at + n));
    at += n;
  }
  return out;
}
DUET_GRAD(slice) {                                                            // zeros around the slice
  const Tensor& x = ctx.in(0);
  int axis = norm_axis(ctx.attrs.get_int("axis"), x.rank());
  int64_t n = x.shape().dim(axis), len = ctx.result().shape().dim(axis);
  int64_t begin = ctx.attrs.get_int("begin");
  if (begin < 0) begin += n;
  begin = std::clamp<int64_t>(begin, 0, n);
  Shape before = x.shape(), after = x.shape();
  before.at(axis) = begin;
  after.at(axis) = n - begin - len;
  DeviceScope on(ctx.grad().device());
  return {concat({zeros(before, x.dtype()), ctx.grad(), zeros(after, x.dtype())}, axis)};
}
DUET_GRAD(gather) {                                                           // scattered back, summed
  const Tensor& x = ctx.in(0);
  int64_t axis = ctx.attrs.get_int("axis");
  DeviceScope on(x.device());
  return {scatter_add(broadcast_like(scalar(0.0, x.dtype()), x), ctx.in(1), ctx.grad(), axis), Tensor()};
}
DUET_GRAD(embedding) {                                                        // each row's gradients, summed
  const Tensor& table = ctx.in(0);
  DeviceScope on(table.device());
  return {scatter_add(broadcast_like(scalar(0.0, table.dtype()), table), ctx.in(1), ctx.grad(), 0), Tensor()};
}
DUET_GRAD(scatter_add) {                                                      // base: g; updates: gathered g
  int64_t axis = ctx.attrs.get_int("axis");
  return {ctx.grad(), Tensor(), gather(ctx.grad(), ctx.in(1), axis)};
}

}  // namespace duet
