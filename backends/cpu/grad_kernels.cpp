// CPU kernels of the gradient-only ops: scatter_add, conv2d_backward_input,
// conv2d_backward_filter, max_pool2d_backward (direct loops, f32 and f64).
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include <duet/backends/cpu/loops.h>
#include <duet/graph/scalar.h>

namespace duet::cpu {
namespace {

void scatter_add_kernel(KernelContext& ctx) {
  IndexedAxis ax = indexed_axis(ctx, *ctx.in(0).shape, ctx.in(1));
  const int64_t n = ax.n, outer = ax.outer, inner = ax.inner, count = static_cast<int64_t>(ax.idx.size());
  const std::vector<int64_t>& idx = ax.idx;
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      ctx.error("no CPU kernel for b8");
    } else {
      T* out = ctx.out(0).ptr<T>();
      if (ctx.in(0).numel() > 0) std::memcpy(out, ctx.in(0).data, static_cast<size_t>(ctx.in(0).numel()) * sizeof(T));
      const T* upd = ctx.in(2).ptr<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < count; ++i) {
          T* dst = out + (o * n + idx[i]) * inner;
          const T* src = upd + (o * count + i) * inner;
          for (int64_t k = 0; k < inner; ++k) dst[k] = scalar_math::add(dst[k], src[k]);
        }
    }
  });
}

struct ConvGeometry {
  int64_t N, C, H, W, O, KH, KW, HO, WO, stride, pad;
};

ConvGeometry geometry(const Shape& x, const Shape& w, const Shape& y, const Attrs& attrs) {
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), y.dim(2), y.dim(3),
          attrs.get_int("stride"), attrs.get_int("padding")};
}

// dx[n,c,ih,iw] = sum over (o, kh, kw) with ih = oh*s - p + kh of dy[n,o,oh,ow] * w[o,c,kh,kw]
template <class T>
void conv_backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  parallel_for(g.N * g.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t nc = lo; nc < hi; ++nc) {
      int64_t n = nc / g.C, c = nc % g.C;
      T* out = dx + nc * g.H * g.W;
      for (int64_t i = 0; i < g.H * g.W; ++i) out[i] = T(0);
      for (int64_t o = 0; o < g.O; ++o)
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            T wv = w[((o * g.C + c) * g.KH + kh) * g.KW + kw];
            const T* d = dy + (n * g.O + o) * g.HO * g.WO;
            for (int64_t oh = 0; oh < g.HO; ++oh) {
              int64_t ih = oh * g.stride - g.pad + kh;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t ow = 0; ow < g.WO; ++ow) {
                int64_t iw = ow * g.stride - g.pad + kw;
                if (iw >= 0 && iw < g.W) out[ih * g.W + iw] += wv * d[oh * g.WO + ow];
              }
            }
          }
    }
  });
}

// dw[o,c,kh,kw] = sum over (n, oh, ow) of dy[n,o,oh,ow] * x[n,c,oh*s-p+kh,ow*s-p+kw]
template <class T>
void conv_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
  parallel_for(g.O * g.C, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t oc = lo; oc < hi; ++oc) {
      int64_t o = oc / g.C, c = oc % g.C;
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          T acc = T(0);
          for (int64_t n = 0; n < g.N; ++n) {
            const T* in = x + (n * g.C + c) * g.H * g.W;
            const T* d = dy + (n * g.O + o) * g.HO * g.WO;
            for (int64_t oh = 0; oh < g.HO; ++oh) {
              int64_t ih = oh * g.stride - g.pad + kh;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t ow = 0; ow < g.WO; ++ow) {
                int64_t iw = ow * g.stride - g.pad + kw;
                if (iw >= 0 && iw < g.W) acc += d[oh * g.WO + ow] * in[ih * g.W + iw];
              }
            }
          }
          dw[((o * g.C + c) * g.KH + kh) * g.KW + kw] = acc;
        }
    }
  });
}

void conv2d_backward_input_kernel(KernelContext& ctx) {
  const KernelTensor &dy = ctx.in(0), &w = ctx.in(1), &dx = ctx.out(0);
  ConvGeometry g = geometry(*dx.shape, *w.shape, *dy.shape, ctx.attrs);
  if (dy.dtype == DType::f32) return conv_backward_input(g, dy.ptr<float>(), w.ptr<float>(), dx.ptr<float>());
  conv_backward_input(g, dy.ptr<double>(), w.ptr<double>(), dx.ptr<double>());
}

void conv2d_backward_filter_kernel(KernelContext& ctx) {
  const KernelTensor &x = ctx.in(0), &dy = ctx.in(1), &dw = ctx.out(0);
  ConvGeometry g = geometry(*x.shape, *dw.shape, *dy.shape, ctx.attrs);
  if (x.dtype == DType::f32) return conv_backward_filter(g, x.ptr<float>(), dy.ptr<float>(), dw.ptr<float>());
  conv_backward_filter(g, x.ptr<double>(), dy.ptr<double>(), dw.ptr<double>());
}

// Each window's gradient goes to its first maximal element (as the forward
// picked it).
template <class T>
void max_pool_backward(const T* x, const Shape& xs, const T* dy, const Shape& ys, T* dx, int64_t k, int64_t s) {
  int64_t NC = xs.dim(0) * xs.dim(1), H = xs.dim(2), W = xs.dim(3), HO = ys.dim(2), WO = ys.dim(3);
  std::memset(dx, 0, static_cast<size_t>(NC * H * W) * sizeof(T));
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t oh = 0; oh < HO; ++oh)
      for (int64_t ow = 0; ow < WO; ++ow)
        dx[p * H * W + window_argmax(x + p * H * W, W, oh, ow, k, s)] += dy[(p * HO + oh) * WO + ow];
}

void max_pool2d_backward_kernel(KernelContext& ctx) {
  int64_t k = ctx.attrs.get_int("kernel"), s = ctx.attrs.get_int("stride");
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) ctx.error("no CPU kernel for b8");
    else
      max_pool_backward(ctx.in(0).ptr<T>(), *ctx.in(0).shape, ctx.in(1).ptr<T>(), *ctx.in(1).shape,
                        ctx.out(0).ptr<T>(), k, s);
  });
}

template <class T>
void max_pool_pick(const T* x, const Shape& xs, const T* g, T* y, const Shape& ys, int64_t k, int64_t s) {
  int64_t NC = xs.dim(0) * xs.dim(1), H = xs.dim(2), W = xs.dim(3), HO = ys.dim(2), WO = ys.dim(3);
  for (int64_t p = 0; p < NC; ++p)
    for (int64_t oh = 0; oh < HO; ++oh)
      for (int64_t ow = 0; ow < WO; ++ow)
        y[(p * HO + oh) * WO + ow] = g[p * H * W + window_argmax(x + p * H * W, W, oh, ow, k, s)];
}

void max_pool2d_pick_kernel(KernelContext& ctx) {
  int64_t k = ctx.attrs.get_int("kernel"), s = ctx.attrs.get_int("stride");
  visit_dtype(ctx.in(0).dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) ctx.error("no CPU kernel for b8");
    else
      max_pool_pick(ctx.in(0).ptr<T>(), *ctx.in(0).shape, ctx.in(1).ptr<T>(), ctx.out(0).ptr<T>(), *ctx.out(0).shape,
                    k, s);
  });
}

DUET_REGISTER_KERNEL(max_pool2d_pick, cpu, max_pool2d_pick_kernel);
DUET_REGISTER_KERNEL(scatter_add, cpu, scatter_add_kernel);
DUET_REGISTER_KERNEL(conv2d_backward_input, cpu, conv2d_backward_input_kernel);
DUET_REGISTER_KERNEL(conv2d_backward_filter, cpu, conv2d_backward_filter_kernel);
DUET_REGISTER_KERNEL(max_pool2d_backward, cpu, max_pool2d_backward_kernel);

}  // namespace
}  // namespace duet::cpu
