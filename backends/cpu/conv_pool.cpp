// CPU kernels of conv2d, max_pool2d and dropout. f32 convolution and pooling
// run on oneDNN; the other dtypes on direct loops of our own.
#include <limits>

#include <duet/backends/cpu/loops.h>
#include <duet/backends/cpu/onednn.h>
#include <duet/backends/random.h>
#include <duet/graph/scalar.h>

namespace duet::cpu {
namespace {

template <class T>
void conv2d_loop(const T* x, const Shape& xs, const T* w, const Shape& ws, T* y, const Shape& ys, int64_t stride,
                 int64_t pad) {
  int64_t N = xs.dim(0), C = xs.dim(1), H = xs.dim(2), W = xs.dim(3);
  int64_t O = ws.dim(0), KH = ws.dim(2), KW = ws.dim(3), HO = ys.dim(2), WO = ys.dim(3);
  parallel_for(N * O, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t no = lo; no < hi; ++no) {
      int64_t n = no / O, o = no % O;
      T* out = y + no * HO * WO;
      for (int64_t i = 0; i < HO * WO; ++i) out[i] = T(0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            T wv = w[((o * C + c) * KH + kh) * KW + kw];
            const T* in = x + (n * C + c) * H * W;
            for (int64_t oh = 0; oh < HO; ++oh) {
              int64_t ih = oh * stride - pad + kh;
              if (ih < 0 || ih >= H) continue;
              for (int64_t ow = 0; ow < WO; ++ow) {
                int64_t iw = ow * stride - pad + kw;
                if (iw >= 0 && iw < W) out[oh * WO + ow] += wv * in[ih * W + iw];
              }
            }
          }
    }
  });
}

void conv2d_kernel(KernelContext& ctx) {
  int64_t stride = ctx.attrs.get_int("stride"), pad = ctx.attrs.get_int("padding");
  const KernelTensor &x = ctx.in(0), &w = ctx.in(1), &y = ctx.out(0);
  if (x.dtype == DType::f32)
    return onednn::conv2d_f32(x.ptr<float>(), *x.shape, w.ptr<float>(), *w.shape, y.ptr<float>(), *y.shape, stride, pad);
  if (x.dtype == DType::f64)
    return conv2d_loop(x.ptr<double>(), *x.shape, w.ptr<double>(), *w.shape, y.ptr<double>(), *y.shape, stride, pad);
  ctx.error("no CPU kernel for this dtype");
}

template <class T>
void max_pool_loop(const T* x, const Shape& xs, T* y, const Shape& ys, int64_t k, int64_t s) {
  int64_t NC = xs.dim(0) * xs.dim(1), H = xs.dim(2), W = xs.dim(3), HO = ys.dim(2), WO = ys.dim(3);
  parallel_for(NC, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t oh = 0; oh < HO; ++oh)
        for (int64_t ow = 0; ow < WO; ++ow) {
          T m = x[p * H * W + (oh * s) * W + ow * s];
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) m = scalar_math::maximum(m, x[p * H * W + (oh * s + i) * W + ow * s + j]);
          y[(p * HO + oh) * WO + ow] = m;
        }
  });
}

void max_pool2d_kernel(KernelContext& ctx) {
  int64_t k = ctx.attrs.get_int("kernel"), s = ctx.attrs.get_int("stride");
  const KernelTensor &x = ctx.in(0), &y = ctx.out(0);
  switch (x.dtype) {
    case DType::f32: return onednn::max_pool2d_f32(x.ptr<float>(), *x.shape, y.ptr<float>(), *y.shape, k, s);
    case DType::f64: return max_pool_loop(x.ptr<double>(), *x.shape, y.ptr<double>(), *y.shape, k, s);
    case DType::i32: return max_pool_loop(x.ptr<int32_t>(), *x.shape, y.ptr<int32_t>(), *y.shape, k, s);
    case DType::i64: return max_pool_loop(x.ptr<int64_t>(), *x.shape, y.ptr<int64_t>(), *y.shape, k, s);
    case DType::b8: ctx.error("no CPU kernel for b8");
  }
}

// Element i is kept when its uniform draw is >= rate, and scaled by 1/(1-rate).
void dropout_kernel(KernelContext& ctx) {
  double rate = ctx.attrs.get_float("rate");
  uint64_t seed = random::stream_seed(static_cast<uint64_t>(ctx.attrs.get_int("seed")), random::kDropout);
  int64_t n = ctx.out(0).numel();
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) {
      const T* x = ctx.in(0).ptr<T>();
      T* y = ctx.out(0).ptr<T>();
      const T scale = T(1.0 / (1.0 - rate));
      parallel_for(n, kParallelGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) y[i] = random::uniform(seed, uint64_t(i)) >= rate ? x[i] * scale : T(0);
      });
    } else {
      ctx.error("expects a floating dtype");
    }
  });
}

DUET_REGISTER_KERNEL(conv2d, cpu, conv2d_kernel);
DUET_REGISTER_KERNEL(max_pool2d, cpu, max_pool2d_kernel);
DUET_REGISTER_KERNEL(dropout, cpu, dropout_kernel);

}  // namespace
}  // namespace duet::cpu
