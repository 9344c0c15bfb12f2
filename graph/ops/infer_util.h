// Helpers that type inference and the kernels share: broadcasting and axis
// normalization, so eager kernels and infer can never disagree.
#pragma once

#include <vector>

#include <duet/graph/op_def.h>

namespace duet {

// numpy broadcasting of two shapes; false when they do not broadcast.
// Dynamic dims (-1) broadcast with 1 and with themselves.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out);

// The reduced axes of a reduction's attrs {axes=[...]}, normalized and sorted;
// every axis when the list is empty. Throws through ctx when given.
std::vector<int> reduction_axes(const std::vector<int64_t>& axes, int rank, const InferContext* ctx = nullptr);

// conv/pool output extent: (in + 2*pad - kernel) / stride + 1.
inline int64_t window_out(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  if (in < 0) return -1;
  if (in + 2 * pad < kernel) return 0;  // the window does not fit at all (C++ division would round -1/s up to 0)
  return (in + 2 * pad - kernel) / stride + 1;
}

}  // namespace duet
