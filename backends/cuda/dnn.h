// cuDNN descriptors for duet's conv2d and max_pool2d (NOTE [Convolutions
// through cuDNN] in dnn.cpp). Building them needs cuDNN but no GPU; running a
// convolution has never happened (docs/cuda.md).
#pragma once

#include <cstdint>

#include <duet/graph/types.h>

namespace duet::cuda {

// The output shape cuDNN computes from the descriptors it would run
// conv2d(x [N,C,H,W], w [K,C,R,S], stride, padding) with.
Shape cudnn_conv2d_output(DType dtype, const Shape& x, const Shape& w, int64_t stride, int64_t padding);

// The same for max_pool2d(x, kernel, stride).
Shape cudnn_max_pool2d_output(DType dtype, const Shape& x, int64_t kernel, int64_t stride);

}  // namespace duet::cuda
