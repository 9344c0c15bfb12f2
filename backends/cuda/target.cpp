// The CUDA target's answers to passes: what a CUDA device runs fused
// (NOTE [Vendor kernels on CUDA] in vendor_ops.cpp). A trace for cuda:i is
// optimized for this target, not the CPU's (docs/cuda.md, Traced functions).
#include <duet/backends/target.h>

#include <duet/graph/op_def.h>

namespace duet {
namespace {

class CudaTarget final : public TargetInfo {
 public:
  std::string name() const override { return "cuda"; }

  // cuBLASLt (f32 and f64) adds a bias that is a row over the last dim in
  // its epilogue (CUBLASLT_EPILOGUE_BIAS), which saves a pass over the
  // product. No activation is a cuBLASLt epilogue (lt_epilogue_unsupported
  // says why), and any other bias would be one more kernel on the product:
  // those stay separate ops, so fuse-elementwise can make them one generated
  // GPU kernel with what follows.
  bool fuses_epilogue(const OpDef& producer, DType dtype, const Shape& out, const Shape* bias,
                      std::string_view activation) const override {
    if (producer.name() != "matmul" || (dtype != DType::f32 && dtype != DType::f64)) return false;
    if (activation != "none" || !bias || bias->rank() == 0 || bias->rank() > out.rank()) return false;
    bool row = (*bias)[-1] == out[-1] && (*bias)[-1] >= 0;
    for (int i = 0; i + 1 < bias->rank(); ++i) row = row && bias->dim(i) == 1;
    return row;
  }

  // cuBLASLt reads either operand transposed (CUBLASLT_MATMUL_DESC_TRANSA/B).
  bool reads_transposed(const OpDef& producer, DType dtype) const override {
    return producer.name() == "matmul" && (dtype == DType::f32 || dtype == DType::f64);
  }

  // Constants live in the IR as host bytes: folded with the CPU kernels, as
  // for the CPU target.
  ConstantEvaluator constant_evaluator() const override { return &evaluate_on_cpu; }
};

}  // namespace

const TargetInfo& cuda_target() {
  static const CudaTarget target;
  return target;
}

const TargetInfo& target_of(Device device) { return device.is_cpu() ? cpu_target() : cuda_target(); }

}  // namespace duet
