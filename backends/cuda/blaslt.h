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
// matrix shared by every batch (broadcast). a_transposed: A is stored as
// [batch, k, m] and read transposed (fused_matmul's transpose_a); the same
// for b_transposed, B stored as [batch, n, k].
struct LtMatmulSpec {
  DType dtype = DType::f32;
  int64_t m = 1, n = 1, k = 1, batch = 1;
  bool a_batched = true, b_batched = true;
  LtEpilogue epilogue = LtEpilogue::none;
  bool a_transposed = false, b_transposed = false;
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
  bool trans_a = false, trans_b = false;  // cuBLASLt's TRANSA and TRANSB are CUBLAS_OP_T
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
  friend struct LtPlan;  // blaslt.cpp: these descriptors and the algorithm chosen for them
  void* desc_ = nullptr;
  void* layout_[3] = {nullptr, nullptr, nullptr};
};

// One call's device buffers: duet's a, b and c as the spec describes them,
// and the bias [n] when the spec's epilogue has one.
struct LtOperands {
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  const void* bias = nullptr;
};

// Queues the spec's product on `device`'s stream (NOTE [Matmul through
// cuBLASLt]). False when cuBLASLt has no algorithm for it: the caller runs
// it another way. A DeviceError naming the cuBLASLt call and cuBLASLt's
// words when a call fails.
bool lt_matmul(const LtMatmulSpec& spec, const LtOperands& operands, int device);

// Why a fused_matmul's activation cannot be a cuBLASLt epilogue ("" when it
// can, i.e. for none): cuBLASLt's RELU is documented as max(x, 0), which on
// a GPU maps NaN to 0 where duet's relu keeps it; its GELU is the tanh
// approximation, duet's gelu the erf form; it has no tanh or sigmoid. They
// run as the op's CUDA kernel after the product, as on the CPU.
std::string lt_epilogue_unsupported(const std::string& activation);

}  // namespace duet::cuda
