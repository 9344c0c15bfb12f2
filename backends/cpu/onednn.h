// oneDNN primitives for the f32 ops it covers on CPU (oneDNN 2.6 has no f64
// or integer matmul/convolution), cached by shape.
#pragma once

#include <cstdint>

#include <duet/graph/types.h>

namespace duet::cpu::onednn {

enum class Activation : uint8_t { none, relu, tanh, sigmoid, gelu };

// c[..., M, N] = act(a[..., M, K] @ b[..., K, N] + bias), batch dims
// broadcast; the bias (optional) broadcasts to c's shape. The epilogue runs
// as oneDNN's bias argument and an eltwise post-op, inside the primitive.
void matmul_f32(const float* a, const Shape& as, const float* b, const Shape& bs, float* c, const Shape& cs,
                const float* bias = nullptr, const Shape* bias_shape = nullptr, Activation act = Activation::none);
// NCHW x OIHW -> NCHW, symmetric padding.
void conv2d_f32(const float* x, const Shape& xs, const float* w, const Shape& ws, float* y, const Shape& ys,
                int64_t stride, int64_t padding);
void max_pool2d_f32(const float* x, const Shape& xs, float* y, const Shape& ys, int64_t kernel, int64_t stride);

}  // namespace duet::cpu::onednn
