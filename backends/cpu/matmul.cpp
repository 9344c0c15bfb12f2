// The CPU matmul kernel: f32 through oneDNN; f64 and integers (which oneDNN
// 2.6 lacks on CPU) through a loop of our own, i-k-j ordered so the inner
// loop vectorizes. Batch dims broadcast.
#include <cstring>
#include <string>
#include <vector>

#include <duet/backends/cpu/loops.h>
#include <duet/backends/cpu/onednn.h>
#include <duet/graph/scalar.h>

namespace duet::cpu {
namespace {

// For each output batch, the batch offset (in matrices) of a and of b.
void batch_offsets(const Shape& as, const Shape& bs, const Shape& cs, std::vector<int64_t>* ao,
                   std::vector<int64_t>* bo) {
  int br = cs.rank() - 2;
  int64_t batches = 1;
  for (int i = 0; i < br; ++i) batches *= cs.dim(i);
  for (int64_t bidx = 0; bidx < batches; ++bidx) {
    int64_t rem = bidx, oa = 0, ob = 0, sa = 1, sb = 1;
    for (int d = br - 1; d >= 0; --d) {
      int64_t i = rem % cs.dim(d);
      rem /= cs.dim(d);
      int da = d - (br - (as.rank() - 2)), db = d - (br - (bs.rank() - 2));
      int64_t na = da >= 0 ? as.dim(da) : 1, nb = db >= 0 ? bs.dim(db) : 1;
      if (na != 1) oa += i * sa;
      if (nb != 1) ob += i * sb;
      sa *= na;
      sb *= nb;
    }
    ao->push_back(oa);
    bo->push_back(ob);
  }
}

template <class T>
void matmul_loop(const T* a, const T* b, T* c, const Shape& as, const Shape& bs, const Shape& cs) {
  int64_t m = cs[-2], n = cs[-1], k = as[-1];
  std::vector<int64_t> ao, bo;
  batch_offsets(as, bs, cs, &ao, &bo);
  int64_t batches = static_cast<int64_t>(ao.size());
  parallel_for(batches * m, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n * k, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t r = lo; r < hi; ++r) {
                   int64_t bi = r / m, i = r % m;
                   const T* arow = a + ao[bi] * m * k + i * k;
                   const T* bm = b + bo[bi] * k * n;
                   T* crow = c + (bi * m + i) * n;
                   for (int64_t j = 0; j < n; ++j) crow[j] = T(0);
                   for (int64_t p = 0; p < k; ++p) {
                     const T av = arow[p];
                     const T* brow = bm + p * n;
                     for (int64_t j = 0; j < n; ++j) crow[j] = scalar_math::add(crow[j], scalar_math::mul(av, brow[j]));
                   }
                 }
               });
}

void matmul_kernel(KernelContext& ctx) {
  const KernelTensor &a = ctx.in(0), &b = ctx.in(1), &c = ctx.out(0);
  if ((*a.shape)[-1] == 0) {  // an empty inner dim: the sum of nothing
    std::memset(c.data, 0, static_cast<size_t>(c.numel()) * dtype_size(c.dtype));
    return;
  }
  switch (a.dtype) {
    case DType::f32: return onednn::matmul_f32(a.ptr<float>(), *a.shape, b.ptr<float>(), *b.shape, c.ptr<float>(), *c.shape);
    case DType::f64: return matmul_loop(a.ptr<double>(), b.ptr<double>(), c.ptr<double>(), *a.shape, *b.shape, *c.shape);
    case DType::i32: return matmul_loop(a.ptr<int32_t>(), b.ptr<int32_t>(), c.ptr<int32_t>(), *a.shape, *b.shape, *c.shape);
    case DType::i64: return matmul_loop(a.ptr<int64_t>(), b.ptr<int64_t>(), c.ptr<int64_t>(), *a.shape, *b.shape, *c.shape);
    case DType::b8: ctx.error("no CPU kernel for b8");
  }
}

DUET_REGISTER_KERNEL(matmul, cpu, matmul_kernel);

onednn::Activation activation_of(const KernelContext& ctx) {
  const std::string& a = ctx.attrs.get_string("activation");
  if (a == "none") return onednn::Activation::none;
  if (a == "relu") return onednn::Activation::relu;
  if (a == "tanh") return onednn::Activation::tanh;
  if (a == "sigmoid") return onednn::Activation::sigmoid;
  if (a == "gelu") return onednn::Activation::gelu;
  ctx.error("unknown activation '" + a + "'");
}

// act(v) with the ops' scalar semantics, the activation fixed at compile time
// so the loops below vectorize.
template <onednn::Activation A, class T>
inline T activate(T v) {
  if constexpr (A == onednn::Activation::relu) return scalar_math::relu(v);
  else if constexpr (A == onednn::Activation::tanh) return scalar_math::tanh(v);
  else if constexpr (A == onednn::Activation::sigmoid) return scalar_math::sigmoid(v);
  else if constexpr (A == onednn::Activation::gelu) return scalar_math::gelu(v);
  else return v;
}

// c = act(c + bias). A bias that is a row over the last dim (the dense
// layer's) runs as rows split over the team; any other broadcast walks the
// strided plan.
template <onednn::Activation A, class T>
void epilogue_as(T* c, const Shape& cs, const T* bias, const Shape* bias_shape) {
  const int64_t n = cs.rank() > 0 ? cs[-1] : 1, rows = n > 0 ? cs.numel() / n : 0;
  const bool row_bias = !bias || (bias_shape->rank() > 0 && (*bias_shape)[-1] == n && bias_shape->numel() == n);
  if (row_bias) {
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / 4 / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        T* row = c + r * n;
        if (bias) {
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) row[j] = activate<A>(scalar_math::add(row[j], bias[j]));
        } else {
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) row[j] = activate<A>(row[j]);
        }
      }
    });
    return;
  }
  if (bias_shape->numel() == cs.numel()) {  // a bias of the product's own shape (h Wh + x Wx in an RNN cell)
    parallel_for(cs.numel(), kParallelGrain, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) c[i] = activate<A>(scalar_math::add(c[i], bias[i]));
    });
    return;
  }
  const Shape* shapes[2] = {&cs, bias_shape};
  StridedPlan plan = make_plan(cs, shapes, 2);
  parallel_for(cs.numel(), kParallelGrain, [&](int64_t lo, int64_t hi) {
    for_each_run(plan, lo, hi, [&](int64_t out, const int64_t* off, int64_t count) {
      const int64_t bstride = plan.strides[1][plan.rank - 1];
      for (int64_t i = 0; i < count; ++i) c[out + i] = activate<A>(scalar_math::add(c[out + i], bias[off[1] + i * bstride]));
    });
  });
}

template <class T>
void epilogue(T* c, const Shape& cs, const T* bias, const Shape* bias_shape, onednn::Activation act) {
  switch (act) {
    case onednn::Activation::none: return epilogue_as<onednn::Activation::none>(c, cs, bias, bias_shape);
    case onednn::Activation::relu: return epilogue_as<onednn::Activation::relu>(c, cs, bias, bias_shape);
    case onednn::Activation::tanh: return epilogue_as<onednn::Activation::tanh>(c, cs, bias, bias_shape);
    case onednn::Activation::sigmoid: return epilogue_as<onednn::Activation::sigmoid>(c, cs, bias, bias_shape);
    case onednn::Activation::gelu: return epilogue_as<onednn::Activation::gelu>(c, cs, bias, bias_shape);
  }
}

// A's shape with its last two dims swapped.
Shape swapped(const Shape& s) {
  std::vector<int64_t> d = s.vec();
  std::swap(d[d.size() - 1], d[d.size() - 2]);
  return Shape(d.begin(), d.end());
}

// A row-major copy of p's matrices transposed (for duet's own loop).
template <class T>
std::vector<T> transposed_copy(const T* p, const Shape& s) {
  const int64_t r = s[-2], c = s[-1], mats = s.numel() / std::max<int64_t>(r * c, 1);
  std::vector<T> out(static_cast<size_t>(s.numel()));
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) out[static_cast<size_t>(m * r * c + j * r + i)] = p[m * r * c + i * c + j];
  return out;
}

bool flag(const KernelContext& ctx, const char* name) { return ctx.attrs.has(name) && ctx.attrs.get_bool(name); }

// fused_matmul(a, b[, bias]) {activation, transpose_a, transpose_b}: the
// product through oneDNN (f32, transposed operands read through strides) or
// duet's loop (f64, over transposed copies), then bias and activation in one
// pass of duet's own over the product while it is in cache, with the ops'
// scalar semantics, so results match the unfused ops to the bit. (oneDNN's
// post-ops were not: its relu maps NaN to 0, its tanh and gelu differ by
// ulps; and its bias argument made the brgemm primitive slower here, 0.16-0.19
// ms against 0.11 ms for [128,784] x [784,256].)
void fused_matmul_kernel(KernelContext& ctx) {
  const KernelTensor &a = ctx.in(0), &b = ctx.in(1), &c = ctx.out(0);
  const KernelTensor* bias = ctx.num_inputs >= 3 ? &ctx.inputs[2] : nullptr;
  const KernelTensor* bias2 = ctx.num_inputs == 4 ? &ctx.inputs[3] : nullptr;
  const onednn::Activation act = activation_of(ctx);
  const bool ta = flag(ctx, "transpose_a"), tb = flag(ctx, "transpose_b");
  const Shape as = ta ? swapped(*a.shape) : *a.shape, bs = tb ? swapped(*b.shape) : *b.shape;
  if (as[-1] == 0) {  // an empty inner dim: the sum of nothing
    std::memset(c.data, 0, static_cast<size_t>(c.numel()) * dtype_size(c.dtype));
  } else if (a.dtype == DType::f32) {
    onednn::matmul_f32(a.ptr<float>(), *a.shape, ta, b.ptr<float>(), *b.shape, tb, c.ptr<float>(), *c.shape);
  } else if (a.dtype == DType::f64) {
    std::vector<double> at, bt;
    if (ta) at = transposed_copy(a.ptr<double>(), *a.shape);
    if (tb) bt = transposed_copy(b.ptr<double>(), *b.shape);
    matmul_loop(ta ? at.data() : a.ptr<double>(), tb ? bt.data() : b.ptr<double>(), c.ptr<double>(), as, bs, *c.shape);
  } else {
    ctx.error("expects a floating dtype");
  }
  if (!bias && act == onednn::Activation::none) return;
  auto pass = [&](const KernelTensor* b, onednn::Activation a_) {
    if (c.dtype == DType::f32) epilogue(c.ptr<float>(), *c.shape, b ? b->ptr<float>() : nullptr, b ? b->shape : nullptr, a_);
    else epilogue(c.ptr<double>(), *c.shape, b ? b->ptr<double>() : nullptr, b ? b->shape : nullptr, a_);
  };
  if (bias2) pass(bias, onednn::Activation::none);
  pass(bias2 ? bias2 : bias, act);
}

DUET_REGISTER_KERNEL(fused_matmul, cpu, fused_matmul_kernel);

}  // namespace
}  // namespace duet::cpu
