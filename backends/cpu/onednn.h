// oneDNN primitives for the f32 ops it covers on CPU (oneDNN 2.6 has no f64
// or integer matmul/convolution), cached by shape.
#pragma once

#include <cstdint>

#include <duet/graph/types.h>

namespace duet::cpu::onednn {

enum class Activation : uint8_t { none, relu, tanh, sigmoid, gelu };

// c[..., M, N] = a[..., M, K] @ b[..., K, N], batch dims broadcast. With
// `ta` (`tb`), a (b) is stored with its last two dims swapped ([..., K, M])
// and read through strides, never copied.
void matmul_f32(const float* a, const Shape& as, bool ta, const float* b, const Shape& bs, bool tb, float* c,
                const Shape& cs);
inline void matmul_f32(const float* a, const Shape& as, const float* b, const Shape& bs, float* c, const Shape& cs) {
  matmul_f32(a, as, false, b, bs, false, c, cs);
}
// NCHW x OIHW -> NCHW, symmetric padding.
void conv2d_f32(const float* x, const Shape& xs, const float* w, const Shape& ws, float* y, const Shape& ys,
                int64_t stride, int64_t padding);
void max_pool2d_f32(const float* x, const Shape& xs, float* y, const Shape& ys, int64_t kernel, int64_t stride);

}  // namespace duet::cpu::onednn
