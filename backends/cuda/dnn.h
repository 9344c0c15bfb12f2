// cuDNN for duet's conv2d (and its two gradients), max_pool2d and softmax
// (NOTE [Convolutions through cuDNN] in dnn.cpp). Building descriptors needs
// cuDNN but no GPU; running them needs a GPU and has never happened
// (docs/cuda.md).
#pragma once

#include <cstdint>

#include <duet/graph/types.h>

namespace duet::cuda {

// The output shape cuDNN computes from the descriptors it would run
// conv2d(x [N,C,H,W], w [K,C,R,S], stride, padding) with.
Shape cudnn_conv2d_output(DType dtype, const Shape& x, const Shape& w, int64_t stride, int64_t padding);

// The same for max_pool2d(x, kernel, stride).
Shape cudnn_max_pool2d_output(DType dtype, const Shape& x, int64_t kernel, int64_t stride);

// A convolution y [N,K,HO,WO] = conv2d(x [N,C,H,W], w [K,C,R,S]), f32 or f64,
// whichever of its three passes runs.
struct ConvSpec {
  DType dtype = DType::f32;
  Shape x, w, y;
  int64_t stride = 1, padding = 0;
};
// forward: out = y from (in0, in1) = (x, w); backward_data: out = dx from
// (dy, w) (conv2d_backward_input's operands); backward_filter: out = dw from
// (x, dy) (conv2d_backward_filter's).
enum class ConvPass { forward, backward_data, backward_filter };

// Each of these queues its work on `device`'s stream and returns false when
// cuDNN cannot express it (a dim past int32, no algorithm within the
// workspace limit); the caller runs it another way. A DeviceError naming the
// cuDNN call and cuDNN's words when a call fails.
bool cudnn_convolution(ConvPass pass, const ConvSpec& spec, const void* in0, const void* in1, void* out, int device);
bool cudnn_max_pool2d(DType dtype, const Shape& x, const Shape& y, int64_t kernel, int64_t stride, const void* xp,
                      void* yp, int device);
// softmax (log_softmax when `log`) over the middle dim of [outer, n, inner].
bool cudnn_softmax(DType dtype, int64_t outer, int64_t n, int64_t inner, bool log, const void* xp, void* yp,
                   int device);

}  // namespace duet::cuda
