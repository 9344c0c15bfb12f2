// CPU kernels of the data-movement ops: views (reshape, expand_dims,
// squeeze) alias their operand; transpose, broadcast_to, concat, slice and
// gather copy.
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <duet/backends/cpu/loops.h>

namespace duet::cpu {
namespace {

void alias_kernel(KernelContext& ctx) {
  ctx.out(0).storage = ctx.in(0).storage;
  ctx.out(0).data = ctx.in(0).data;
}

// Copies with elements of `bytes` bytes, through the strided plan.
template <class E>
void strided_copy(const StridedPlan& p, const E* src, E* dst, int64_t n) {
  int last = p.rank - 1;
  int64_t s = p.strides[0][last];
  parallel_for(n, kParallelGrain, [&](int64_t lo, int64_t hi) {
    for_each_run(p, lo, hi, [&](int64_t pos, const int64_t* off, int64_t count) {
      const E* from = src + off[0];
      E* to = dst + pos;
      if (s == 1) std::memcpy(to, from, static_cast<size_t>(count) * sizeof(E));
      else for (int64_t i = 0; i < count; ++i) to[i] = from[i * s];
    });
  });
}

template <class F>
void visit_width(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: return f(uint8_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

void broadcast_to_kernel(KernelContext& ctx) {
  const Shape* in[1] = {ctx.in(0).shape};
  StridedPlan p = make_plan(*ctx.out(0).shape, in, 1);
  visit_width(dtype_size(ctx.in(0).dtype), [&](auto e) {
    using E = decltype(e);
    strided_copy(p, ctx.in(0).ptr<E>(), ctx.out(0).ptr<E>(), ctx.out(0).numel());
  });
}

void transpose_kernel(KernelContext& ctx) {
  const Shape& in = *ctx.in(0).shape;
  const std::vector<int64_t>& perm = ctx.attrs.get_ints("perm");
  int r = in.rank();
  // Output dim d reads input dim perm[d]: build the plan by hand.
  int64_t in_strides[Shape::kMaxRank];
  int64_t s = 1;
  for (int d = r - 1; d >= 0; --d) {
    in_strides[d] = s;
    s *= in.dim(d);
  }
  StridedPlan p;
  p.num_operands = 1;
  for (int d = 0; d < r; ++d) {
    int src = static_cast<int>(perm[d] < 0 ? perm[d] + r : perm[d]);
    int64_t n = in.dim(src);
    if (n == 1) continue;
    if (p.rank > 0 && p.strides[0][p.rank - 1] == in_strides[src] * n) {
      p.dims[p.rank - 1] *= n;
      p.strides[0][p.rank - 1] = in_strides[src];
      continue;
    }
    p.dims[p.rank] = n;
    p.strides[0][p.rank] = in_strides[src];
    ++p.rank;
  }
  if (p.rank == 0) {
    p.rank = 1;
    p.dims[0] = 1;
    p.strides[0][0] = 0;
  }
  visit_width(dtype_size(ctx.in(0).dtype), [&](auto e) {
    using E = decltype(e);
    const E* src = ctx.in(0).ptr<E>();
    E* dst = ctx.out(0).ptr<E>();
    if (p.rank == 2 && p.strides[0][1] != 1) {
      // A 2-D transpose: copy in tiles so both sides stay in cache.
      int64_t rows = p.dims[0], cols = p.dims[1], ld = p.strides[0][1];
      constexpr int64_t kTile = 32;
      parallel_for((rows + kTile - 1) / kTile, std::max<int64_t>(1, kParallelGrain / (kTile * cols)), [&](int64_t lo, int64_t hi) {
        for (int64_t ib = lo * kTile; ib < std::min(rows, hi * kTile); ib += kTile)
          for (int64_t jb = 0; jb < cols; jb += kTile)
            for (int64_t i = ib; i < std::min(rows, ib + kTile); ++i)
              for (int64_t j = jb; j < std::min(cols, jb + kTile); ++j) dst[i * cols + j] = src[j * ld + i];
      });
      return;
    }
    strided_copy(p, src, dst, ctx.out(0).numel());
  });
}

void concat_kernel(KernelContext& ctx) {
  const Shape& out = *ctx.out(0).shape;
  int r = out.rank();
  int64_t a = ctx.attrs.get_int("axis");
  int axis = static_cast<int>(a < 0 ? a + r : a);
  int64_t outer = prod(out, 0, axis), inner = prod(out, axis + 1, r);
  size_t esize = dtype_size(ctx.out(0).dtype);
  char* dst = static_cast<char*>(ctx.out(0).data);
  int64_t out_row = out.dim(axis) * inner;
  int64_t col = 0;
  for (int k = 0; k < ctx.num_inputs; ++k) {
    int64_t chunk = ctx.in(k).shape->dim(axis) * inner;
    const char* src = static_cast<const char*>(ctx.in(k).data);
    if (chunk == 0) continue;  // an empty input (its data may be null)
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (o * out_row + col) * esize, src + o * chunk * esize, static_cast<size_t>(chunk) * esize);
    col += chunk;
  }
}

void slice_kernel(KernelContext& ctx) {
  const Shape& in = *ctx.in(0).shape;
  int r = in.rank();
  int64_t a = ctx.attrs.get_int("axis");
  int axis = static_cast<int>(a < 0 ? a + r : a);
  int64_t n = in.dim(axis), begin = ctx.attrs.get_int("begin");
  if (begin < 0) begin += n;
  begin = std::clamp<int64_t>(begin, 0, n);
  int64_t len = ctx.out(0).shape->dim(axis);
  int64_t outer = prod(in, 0, axis), inner = prod(in, axis + 1, r);
  size_t esize = dtype_size(ctx.in(0).dtype);
  const char* src = static_cast<const char*>(ctx.in(0).data);
  char* dst = static_cast<char*>(ctx.out(0).data);
  if (len * inner == 0) return;  // nothing to copy (and the buffers may be null)
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + o * len * inner * esize, src + (o * n + begin) * inner * esize,
                static_cast<size_t>(len * inner) * esize);
}

void gather_kernel(KernelContext& ctx) {
  IndexedAxis ax = indexed_axis(ctx, *ctx.in(0).shape, ctx.in(1));
  const int64_t n = ax.n, outer = ax.outer, inner = ax.inner, count = static_cast<int64_t>(ax.idx.size());
  const std::vector<int64_t>& idx = ax.idx;
  size_t esize = dtype_size(ctx.in(0).dtype);
  const char* src = static_cast<const char*>(ctx.in(0).data);
  char* dst = static_cast<char*>(ctx.out(0).data);
  size_t row = static_cast<size_t>(inner) * esize;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(dst + (o * count + i) * row, src + (o * n + idx[i]) * row, row);
}

// NOTE [Labels are checked]: every id is checked against the table's rows
// before any row is copied; the first bad one is the op's IndexError.
void embedding_kernel(KernelContext& ctx) {
  const Shape& table = *ctx.in(0).shape;
  const int64_t rows = table.dim(0), count = ctx.in(1).numel();
  const size_t row = static_cast<size_t>(table.dim(1)) * dtype_size(ctx.in(0).dtype);
  std::vector<int64_t> ids(static_cast<size_t>(count));
  visit_dtype(ctx.in(1).dtype, [&](auto t) {
    using T = decltype(t);
    const T* p = ctx.in(1).ptr<T>();
    for (int64_t i = 0; i < count; ++i) ids[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
  });
  for (int64_t k = 0; k < count; ++k) {
    const int64_t id = ids[static_cast<size_t>(k)];
    if (id < 0 || id >= rows)
      throw IndexError(format_error(
          ctx.op.name(),
          fmt::format("id {} {} of the ids {} is out of range [0, {}) (the rows of the table {})", id,
                      index_position(*ctx.in(1).shape, k), TensorType{ctx.in(1).dtype, *ctx.in(1).shape}.str(), rows,
                      TensorType{ctx.in(0).dtype, table}.str()),
          ctx.loc));
  }
  if (row == 0) return;
  const char* src = static_cast<const char*>(ctx.in(0).data);
  char* dst = static_cast<char*>(ctx.out(0).data);
  parallel_for(count, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(table.dim(1), 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t k = lo; k < hi; ++k)
                   std::memcpy(dst + static_cast<size_t>(k) * row, src + static_cast<size_t>(ids[static_cast<size_t>(k)]) * row, row);
               });
}

DUET_REGISTER_KERNEL(reshape, cpu, alias_kernel);
DUET_REGISTER_KERNEL(expand_dims, cpu, alias_kernel);
DUET_REGISTER_KERNEL(squeeze, cpu, alias_kernel);
DUET_REGISTER_KERNEL(stop_gradient, cpu, alias_kernel);
// A view only aliases its operand's storage: the same kernel on any device.
DUET_REGISTER_KERNEL(reshape, cuda, alias_kernel);
DUET_REGISTER_KERNEL(expand_dims, cuda, alias_kernel);
DUET_REGISTER_KERNEL(squeeze, cuda, alias_kernel);
DUET_REGISTER_KERNEL(stop_gradient, cuda, alias_kernel);
DUET_REGISTER_KERNEL(broadcast_to, cpu, broadcast_to_kernel);
DUET_REGISTER_KERNEL(broadcast_like, cpu, broadcast_to_kernel);  // the output shape is b's
DUET_REGISTER_KERNEL(transpose, cpu, transpose_kernel);
DUET_REGISTER_KERNEL(concat, cpu, concat_kernel);
DUET_REGISTER_KERNEL(slice, cpu, slice_kernel);
DUET_REGISTER_KERNEL(gather, cpu, gather_kernel);
DUET_REGISTER_KERNEL(embedding, cpu, embedding_kernel);

}  // namespace

IndexedAxis indexed_axis(const KernelContext& ctx, const Shape& data, const KernelTensor& indices) {
  int r = data.rank();
  int64_t a = ctx.attrs.get_int("axis");
  IndexedAxis ax;
  ax.axis = static_cast<int>(a < 0 ? a + r : a);
  ax.n = data.dim(ax.axis);
  ax.outer = prod(data, 0, ax.axis);
  ax.inner = prod(data, ax.axis + 1, r);
  int64_t count = indices.numel();
  ax.idx.resize(static_cast<size_t>(count));
  visit_dtype(indices.dtype, [&](auto t) {
    using T = decltype(t);
    const T* p = indices.ptr<T>();
    for (int64_t i = 0; i < count; ++i) ax.idx[i] = static_cast<int64_t>(p[i]);
  });
  for (int64_t k = 0; k < count; ++k) {
    const int64_t i = ax.idx[static_cast<size_t>(k)];
    if (i < 0 || i >= ax.n)
      throw IndexError(format_error(
          ctx.op.name(),
          fmt::format("index {} {} of the indices {} is out of range [0, {}) of axis {} of {}", i,
                      index_position(*indices.shape, k), TensorType{indices.dtype, *indices.shape}.str(), ax.n,
                      ax.axis, TensorType{ctx.in(0).dtype, data}.str()),
          ctx.loc));
  }
  return ax;
}

std::string index_position(const Shape& shape, int64_t flat) {
  if (shape.rank() <= 1) return fmt::format("at position {}", flat);
  std::vector<int64_t> at(static_cast<size_t>(shape.rank()));
  for (int d = shape.rank() - 1; d >= 0; --d) {
    at[static_cast<size_t>(d)] = shape.dim(d) ? flat % shape.dim(d) : 0;
    flat = shape.dim(d) ? flat / shape.dim(d) : 0;
  }
  return fmt::format("at [{}]", fmt::join(at, ","));
}

void check_labels(const KernelContext& ctx, const KernelTensor& labels, int64_t depth) {
  const int64_t n = labels.numel();
  visit_dtype(labels.dtype, [&](auto t) {
    using T = decltype(t);
    const T* p = labels.ptr<T>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t l = static_cast<int64_t>(p[i]);
      if (l < 0 || l >= depth)
        throw IndexError(format_error(
            ctx.op.name(),
            fmt::format("label {} {} of {} is out of range [0, {})", l, index_position(*labels.shape, i),
                        TensorType{labels.dtype, *labels.shape}.str(), depth),
            ctx.loc));
    }
  });
}

}  // namespace duet::cpu
