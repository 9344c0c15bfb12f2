// The CPU matmul kernel: f32 through oneDNN; f64 and integers (which oneDNN
// 2.6 lacks on CPU) through a loop of our own, i-k-j ordered so the inner
// loop vectorizes. Batch dims broadcast.
#include <cstring>
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

}  // namespace
}  // namespace duet::cpu
