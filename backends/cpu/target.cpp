// The CPU target's answers to passes: what the oneDNN primitives fuse.
#include <duet/backends/target.h>

#include <duet/graph/op_def.h>

namespace duet {
namespace {

class CpuTarget final : public TargetInfo {
 public:
  std::string name() const override { return "cpu"; }

  // oneDNN's f32 matmul takes a bias whose dims are 1 or the product's
  // (here: a row vector over the last dim, or the product's full shape) and
  // an eltwise post-op for each activation duet names. f64 and integers run
  // on duet's own loops, so nothing is gained by fusing them.
  bool fuses_epilogue(const OpDef& producer, DType dtype, const Shape& out, const Shape* bias,
                      std::string_view activation) const override {
    if (producer.name() != "matmul" || dtype != DType::f32) return false;
    if (activation != "none" && activation != "relu" && activation != "tanh" && activation != "sigmoid" &&
        activation != "gelu")
      return false;
    if (!bias) return true;
    if (bias->rank() > out.rank() || bias->rank() == 0) return false;
    bool row = (*bias)[-1] == out[-1] && (*bias)[-1] >= 0;
    for (int i = 0; i + 1 < bias->rank(); ++i) row = row && bias->dim(i) == 1;
    bool full = bias->rank() == out.rank() && *bias == out && out.is_static();
    return row || full;
  }

  // oneDNN's matmul reads any strides.
  bool reads_transposed(const OpDef& producer, DType dtype) const override {
    return producer.name() == "matmul" && dtype == DType::f32;
  }

  ConstantEvaluator constant_evaluator() const override { return &evaluate_on_cpu; }
};

}  // namespace

const TargetInfo& cpu_target() {
  static const CpuTarget target;
  return target;
}

}  // namespace duet
