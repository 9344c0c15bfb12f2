// Ops that move data without arithmetic: reshape, transpose, expand_dims,
// squeeze, broadcast_to, concat, slice, gather, one_hot.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <duet/graph/op_def.h>
#include <duet/graph/ops/infer_util.h>

namespace duet {
namespace {

void infer_reshape(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const std::vector<int64_t>& req = ctx.attrs().get_ints("shape");
  Shape out;
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < req.size(); ++i) {
    if (req[i] == -1) {
      if (infer_at >= 0)
        ctx.shape_error(fmt::format("only one -1 is allowed in [{}] (reshaping {})", fmt::join(req, ","), x.str()));
      infer_at = static_cast<int>(i);
    } else if (req[i] < 0) {
      ctx.shape_error(fmt::format("bad dim {} in [{}] (reshaping {})", req[i], fmt::join(req, ","), x.str()));
    } else if (__builtin_mul_overflow(known, req[i], &known)) {
      ctx.shape_error(fmt::format("[{}] has more elements than int64 counts (reshaping {})", fmt::join(req, ","), x.str()));
    }
    out.push_back(req[i]);
  }
  int64_t n = x.shape.numel();
  if (n < 0) {  // dynamic input: trust the request (checked at run time)
    ctx.add_result(x.dtype, out);
    return;
  }
  if (infer_at >= 0) {
    if (known == 0 || n % known != 0)
      ctx.shape_error(fmt::format("cannot reshape {} into [{}]", x.str(), fmt::join(req, ",")));
    out.at(infer_at) = n / known;
  } else if (known != n) {
    ctx.shape_error(fmt::format("cannot reshape {} ({} elements) into [{}]", x.str(), n, fmt::join(req, ",")));
  }
  ctx.add_result(x.dtype, out);
}

void infer_transpose(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const std::vector<int64_t>& perm = ctx.attrs().get_ints("perm");
  int r = x.shape.rank();
  if (static_cast<int>(perm.size()) != r)
    ctx.shape_error(fmt::format("perm [{}] does not match rank {} of {}", fmt::join(perm, ","), r, x.str()));
  std::vector<bool> seen(r, false);
  Shape out;
  for (int64_t p : perm) {
    int64_t a = p < 0 ? p + r : p;
    if (a < 0 || a >= r || seen[a])
      ctx.shape_error(fmt::format("perm [{}] is not a permutation of the {} axes of {}", fmt::join(perm, ","), r, x.str()));
    seen[a] = true;
    out.push_back(x.shape.dim(static_cast<int>(a)));
  }
  ctx.add_result(x.dtype, out);
}

void infer_expand_dims(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  int r = x.shape.rank();
  int64_t axis = ctx.attrs().get_int("axis");
  int64_t a = axis < 0 ? axis + r + 1 : axis;
  if (a < 0 || a > r) ctx.error(fmt::format("axis {} is out of range for {}", axis, x.str()));
  Shape out;
  for (int i = 0; i <= r; ++i) {
    if (i == a) out.push_back(1);
    if (i < r) out.push_back(x.shape.dim(i));
  }
  ctx.add_result(x.dtype, out);
}

void infer_squeeze(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const std::vector<int64_t>& given = ctx.attrs().get_ints("axes");
  std::vector<int> axes;
  if (given.empty()) {
    for (int i = 0; i < x.shape.rank(); ++i)
      if (x.shape.dim(i) == 1) axes.push_back(i);
  } else {
    axes = reduction_axes(given, x.shape.rank(), &ctx);
    for (int a : axes)
      if (x.shape.dim(a) != 1) ctx.shape_error(fmt::format("axis {} of {} is not of size 1", a, x.str()));
  }
  Shape out;
  for (int i = 0; i < x.shape.rank(); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) out.push_back(x.shape.dim(i));
  ctx.add_result(x.dtype, out);
}

void infer_broadcast_to(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  Shape target(ctx.attrs().get_ints("shape"));
  Shape out;
  if (!broadcast_shapes(x.shape, target, &out) || !(out == target))
    ctx.shape_error(fmt::format("cannot broadcast {} to {}", x.str(), target.str()));
  ctx.add_result(x.dtype, target);
}

// broadcast_like(a, b): a broadcast to b's shape, which may be dynamic (the
// shape-polymorphic form gradients use).
void infer_broadcast_like(InferContext& ctx) {
  const TensorType& a = ctx.in(0);
  const TensorType& b = ctx.in(1);
  Shape out;
  if (!broadcast_shapes(a.shape, b.shape, &out) || out.rank() != b.shape.rank())
    ctx.shape_error(fmt::format("cannot broadcast {} to the shape of {}", a.str(), b.str()));
  for (int i = 0; i < out.rank(); ++i)
    if (b.shape.dim(i) >= 0 && out.dim(i) != b.shape.dim(i))
      ctx.shape_error(fmt::format("cannot broadcast {} to the shape of {}", a.str(), b.str()));
  ctx.add_result(a.dtype, b.shape);
}

void infer_concat(InferContext& ctx) {
  if (ctx.num_inputs() == 0) ctx.error("expects at least one tensor");
  const TensorType& first = ctx.in(0);
  if (first.shape.rank() == 0) ctx.shape_error(fmt::format("cannot concatenate rank-0 tensors ({})", ctx.operand_types()));
  int axis = ctx.normalize_axis(ctx.attrs().get_int("axis"), first.shape.rank());
  Shape out = first.shape;
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    const TensorType& t = ctx.in(i);
    if (t.dtype != first.dtype) ctx.dtype_error(fmt::format("dtypes differ: {}", ctx.operand_types()));
    if (t.shape.rank() != first.shape.rank())
      ctx.shape_error(fmt::format("ranks differ: {}", ctx.operand_types()));
    for (int d = 0; d < out.rank(); ++d) {
      if (d == axis) continue;
      if (t.shape.dim(d) != first.shape.dim(d))
        ctx.shape_error(fmt::format("dims other than axis {} differ: {}", axis, ctx.operand_types()));
    }
    int64_t a = out.dim(axis), b = t.shape.dim(axis);
    out.at(axis) = (a < 0 || b < 0) ? -1 : a + b;
  }
  ctx.add_result(first.dtype, out);
}

void infer_slice(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  if (x.shape.rank() == 0) ctx.shape_error(fmt::format("cannot slice a rank-0 tensor ({})", x.str()));
  int axis = ctx.normalize_axis(ctx.attrs().get_int("axis"), x.shape.rank());
  int64_t n = x.shape.dim(axis);
  Shape out = x.shape;
  if (n >= 0) {
    int64_t b = ctx.attrs().get_int("begin"), e = ctx.attrs().get_int("end");
    // Python's rules: negative counts from the end, then clamp to [0, n].
    if (b < 0) b += n;
    if (e < 0) e += n;
    b = std::clamp<int64_t>(b, 0, n);
    e = std::clamp<int64_t>(e, 0, n);
    out.at(axis) = std::max<int64_t>(e - b, 0);
  }
  ctx.add_result(x.dtype, out);
}

void infer_gather(InferContext& ctx) {
  const TensorType& x = ctx.in(0);
  const TensorType& idx = ctx.in(1);
  if (!is_integral(idx.dtype)) ctx.dtype_error(fmt::format("indices must be i32 or i64, got {}", ctx.operand_types()));
  if (x.shape.rank() == 0) ctx.shape_error(fmt::format("cannot gather from a rank-0 tensor ({})", x.str()));
  int axis = ctx.normalize_axis(ctx.attrs().get_int("axis"), x.shape.rank());
  Shape out;
  for (int i = 0; i < axis; ++i) out.push_back(x.shape.dim(i));
  for (int64_t d : idx.shape) out.push_back(d);
  for (int i = axis + 1; i < x.shape.rank(); ++i) out.push_back(x.shape.dim(i));
  ctx.add_result(x.dtype, out);
}

// table [V, D], ids of any shape -> [ids..., D].
void infer_embedding(InferContext& ctx) {
  const TensorType& table = ctx.in(0);
  const TensorType& ids = ctx.in(1);
  if (!is_integral(ids.dtype)) ctx.dtype_error(fmt::format("ids must be i32 or i64, got {}", ctx.operand_types()));
  if (table.dtype == DType::b8) ctx.dtype_error(fmt::format("expects a table of numbers, got {}", ctx.operand_types()));
  if (table.shape.rank() != 2)
    ctx.shape_error(fmt::format("expects a table of rank 2 ([rows, dim]), got {}", ctx.operand_types()));
  Shape out = ids.shape;
  out.push_back(table.shape.dim(1));
  ctx.add_result(table.dtype, out);
}

void infer_one_hot(InferContext& ctx) {
  const TensorType& labels = ctx.in(0);
  if (!is_integral(labels.dtype)) ctx.dtype_error(fmt::format("labels must be i32 or i64, got {}", labels.str()));
  int64_t depth = ctx.attrs().get_int("depth");
  // depth 0 would leave no class for any label: refused here, since an empty
  // result runs no kernel that could check the labels (NOTE [Labels are checked]).
  if (depth < 1) ctx.error(fmt::format("depth must be >= 1, got {} (labels {})", depth, labels.str()));
  Shape out = labels.shape;
  out.push_back(depth);
  ctx.add_result(DType::f32, out);
}

}  // namespace

DUET_OP(reshape).traits(kPure | kView).operands(1).attr("shape", AttrKind::ints).infer(infer_reshape);
DUET_OP(expand_dims).traits(kPure | kView).operands(1).attr("axis", AttrKind::integer).infer(infer_expand_dims);
DUET_OP(squeeze).traits(kPure | kView).operands(1).attr("axes", AttrKind::ints).infer(infer_squeeze);
DUET_OP(transpose).traits(kPure).operands(1).attr("perm", AttrKind::ints).infer(infer_transpose);
DUET_OP(broadcast_to).traits(kPure).operands(1).attr("shape", AttrKind::ints).infer(infer_broadcast_to);
DUET_OP(broadcast_like).traits(kPure).operands(2).infer(infer_broadcast_like);
DUET_OP(concat).traits(kPure | kVariadic).operands(-1).attr("axis", AttrKind::integer).infer(infer_concat);
DUET_OP(slice).traits(kPure).operands(1)
    .attr("axis", AttrKind::integer).attr("begin", AttrKind::integer).attr("end", AttrKind::integer)
    .infer(infer_slice);
DUET_OP(gather).traits(kPure).operands(2).attr("axis", AttrKind::integer).infer(infer_gather);
DUET_OP(embedding).traits(kPure).operands(2).infer(infer_embedding)
    .summary("rows of a [V, D] table by id: gather on axis 0, ids checked against V");
DUET_OP(one_hot).traits(kPure | kNotDifferentiable).operands(1).attr("depth", AttrKind::integer).infer(infer_one_hot);

}  // namespace duet
