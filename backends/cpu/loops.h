// Loop helpers shared by the CPU kernels: the parallel range split and the
// strided iteration plan for broadcasting operands.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <duet/backends/kernel.h>

namespace duet::cpu {

// Below this many elements a kernel stays on the calling thread.
constexpr int64_t kParallelGrain = int64_t(1) << 15;

// Runs f(begin, end) over [0, n) split into contiguous ranges, one per thread
// of the team when n is large enough. f must not throw.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  int threads = num_threads();
#ifdef _OPENMP
  const bool nested = omp_in_parallel();
#else
  const bool nested = true;  // built without OpenMP: always on the calling thread
#endif
  if (n < 2 * grain || threads <= 1 || nested) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
  int chunks = static_cast<int>(std::min<int64_t>(threads, n / grain));
#pragma omp parallel for num_threads(chunks) schedule(static)
  for (int c = 0; c < chunks; ++c) f(n * c / chunks, n * (c + 1) / chunks);
}

// How operands map onto the output: dims after dropping size-1 dims and
// merging dims that are contiguous for every operand; strides in elements,
// 0 where an operand is broadcast.
struct StridedPlan {
  static constexpr int kMaxOperands = 3;
  int rank = 0;
  int num_operands = 0;
  int64_t dims[Shape::kMaxRank] = {};
  int64_t strides[kMaxOperands][Shape::kMaxRank] = {};
};

inline StridedPlan make_plan(const Shape& out, const Shape* const* in, int num_in) {
  StridedPlan p;
  p.num_operands = num_in;
  int r = out.rank();
  int64_t st[StridedPlan::kMaxOperands][Shape::kMaxRank];
  for (int k = 0; k < num_in; ++k) {
    const Shape& s = *in[k];
    int64_t stride = 1;
    for (int d = r - 1; d >= 0; --d) {
      int sd = d - (r - s.rank());
      int64_t dim = sd >= 0 ? s.dim(sd) : 1;
      st[k][d] = (dim == 1) ? 0 : stride;
      stride *= dim;
    }
  }
  // Keep dims of size != 1, merging a dim into the previous kept one when
  // every operand is contiguous across the two.
  for (int d = 0; d < r; ++d) {
    int64_t n = out.dim(d);
    if (n == 1) continue;
    if (p.rank > 0) {
      bool merge = true;
      int q = p.rank - 1;
      for (int k = 0; k < num_in; ++k)
        if (p.strides[k][q] != st[k][d] * n) merge = false;
      if (merge) {
        p.dims[q] *= n;
        for (int k = 0; k < num_in; ++k) p.strides[k][q] = st[k][d];
        continue;
      }
    }
    p.dims[p.rank] = n;
    for (int k = 0; k < num_in; ++k) p.strides[k][p.rank] = st[k][d];
    ++p.rank;
  }
  if (p.rank == 0) {  // a single element
    p.rank = 1;
    p.dims[0] = 1;
    for (int k = 0; k < num_in; ++k) p.strides[k][0] = 0;
  }
  return p;
}

// Calls body(out_offset, offsets, count) for runs along the innermost dim of
// the output range [begin, end); offsets[k] is operand k's element offset.
template <class Body>
void for_each_run(const StridedPlan& p, int64_t begin, int64_t end, Body&& body) {
  int r = p.rank;
  int64_t idx[Shape::kMaxRank];
  int64_t off[StridedPlan::kMaxOperands] = {};
  int64_t rem = begin;
  for (int d = r - 1; d >= 0; --d) {
    idx[d] = rem % p.dims[d];
    rem /= p.dims[d];
  }
  for (int k = 0; k < p.num_operands; ++k)
    for (int d = 0; d < r; ++d) off[k] += idx[d] * p.strides[k][d];
  int64_t pos = begin;
  while (pos < end) {
    int64_t count = std::min(p.dims[r - 1] - idx[r - 1], end - pos);
    body(pos, off, count);
    pos += count;
    for (int k = 0; k < p.num_operands; ++k) off[k] += count * p.strides[k][r - 1];
    idx[r - 1] += count;
    for (int d = r - 1; d > 0 && idx[d] == p.dims[d]; --d) {
      for (int k = 0; k < p.num_operands; ++k) off[k] -= p.dims[d] * p.strides[k][d] - p.strides[k][d - 1];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// The product of dims [from, to) of s: the outer/inner extents around an axis.
inline int64_t prod(const Shape& s, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; ++i) n *= s.dim(i);
  return n;
}

// The offset in an [H, W] plane of the first maximum of the k x k window at
// output (oh, ow) with stride s; NaN counts as the maximum (as in the forward).
template <class T>
int64_t window_argmax(const T* plane, int64_t W, int64_t oh, int64_t ow, int64_t k, int64_t s) {
  int64_t best = (oh * s) * W + ow * s;
  T m = plane[best];
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      int64_t at = (oh * s + i) * W + ow * s + j;
      T v = plane[at];
      if (v > m || (v != v && m == m)) {
        m = v;
        best = at;
      }
    }
  return best;
}

// The axis attribute of an indexing op (gather, scatter_add) applied to
// `data`: [outer, n, inner] around it, and the indices as int64, each checked
// to be in [0, n) (an IndexError naming the index, its position, the range
// and the data's type).
struct IndexedAxis {
  int axis;
  int64_t n, outer, inner;
  std::vector<int64_t> idx;
};
IndexedAxis indexed_axis(const KernelContext& ctx, const Shape& data, const KernelTensor& indices);
// An IndexError naming the first of the host `labels` (i32 or i64) outside
// [0, depth), and its position; nothing when all are in range.
void check_labels(const KernelContext& ctx, const KernelTensor& labels, int64_t depth);
// "at position 3" for a rank-1 or rank-0 operand, "at [1,2]" for higher ranks.
std::string index_position(const Shape& shape, int64_t flat);

// Calls f with a value of the C++ type of dtype (bool for b8).
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::b8: return f(bool{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
  }
  return f(float{});
}

}  // namespace duet::cpu
