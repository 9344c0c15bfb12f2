// A duet matmul as cuBLASLt descriptors (NOTE [Matmul through cuBLASLt] in
// blaslt.cpp). Building them needs cuBLASLt but no GPU, so this runs and is
// tested here; running a matmul has never happened (docs/cuda.md).
#pragma once

#include <cstdint>
#include <string>

#include <duet/graph/types.h>

namespace duet::cuda {

enum class LtEpilogue { none, bias, relu, relu_bias };

// C[batch, m, n] = A[batch, m, k] x B[batch, k, n] (+ bias[n]) (relu),
// duet's row-major tensors; a_batched / b_batched false: that operand is one
// matrix shared by every batch (broadcast).
struct LtMatmulSpec {
  DType dtype = DType::f32;
  int64_t m = 1, n = 1, k = 1, batch = 1;
  bool a_batched = true, b_batched = true;
  LtEpilogue epilogue = LtEpilogue::none;
};

// What the descriptors hold, read back from cuBLASLt, in its own names.
struct LtLayout {
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int32_t batch = 0;
  int64_t batch_stride = 0;
};
struct LtDescription {
  LtLayout a, b, c;  // cuBLASLt's A, B and C (column-major)
  std::string epilogue, compute, scale;
};

class LtMatmul {
 public:
  // Throws a DeviceError when cuBLASLt cannot be loaded or rejects a value,
  // and an Error for a dtype cuBLASLt is not given (only f32 and f64).
  explicit LtMatmul(const LtMatmulSpec& spec);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;
  LtDescription describe() const;

 private:
  void* desc_ = nullptr;
  void* layout_[3] = {nullptr, nullptr, nullptr};
};

// Why a fused_matmul's activation cannot be a cuBLASLt epilogue ("" when it
// can): only relu is the same function (cuBLASLt's GELU is the tanh
// approximation; duet's gelu is the erf form), the rest run as a generated
// kernel after the product, as on the CPU.
std::string lt_epilogue_unsupported(const std::string& activation);

}  // namespace duet::cuda
