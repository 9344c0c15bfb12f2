// TargetInfo: the facts a pass may need about the machine it optimizes for
// (DESIGN.md §2.4). Passes ask this interface, never a backend; a backend
// implements it (backends/target.h) and the tracer or duet-opt hands it to
// the pass manager. Without a target, passes that need one do nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <duet/graph/types.h>

namespace duet {

class Attrs;
class OpDef;
struct DenseData;

// Evaluates `op` on constant operands into `results` (one per result type);
// false when it cannot (no kernel, or the kernel reports an error that run
// time should report instead). constant-fold's one way to compute: the graph
// layer declares it, a backend implements it with its kernels, and a target
// hands it over, so passes fold without depending on backends.
using ConstantEvaluator = bool (*)(const OpDef& op, const std::vector<const DenseData*>& operands, const Attrs& attrs,
                                   const std::vector<TensorType>& result_types, std::vector<DenseData>* results);

class TargetInfo {
 public:
  virtual ~TargetInfo() = default;
  virtual std::string name() const = 0;
  // Whether `producer` (matmul, conv2d) of this dtype runs with a fused
  // epilogue: a bias add of the given shape (rank 0 when none) followed by
  // `activation` ("none", "relu", "tanh", "sigmoid", "gelu"), where
  // `out` is the producer's result shape.
  virtual bool fuses_epilogue(const OpDef& producer, DType dtype, const Shape& out, const Shape* bias,
                              std::string_view activation) const = 0;
  // Whether `producer` reads an operand stored with its last two dims
  // swapped without copying it (so a transpose feeding it can be dropped).
  virtual bool reads_transposed(const OpDef& producer, DType dtype) const { return false; }
  // How constant-fold evaluates nodes for this target (nullptr: it folds
  // nothing, and says so in its statistics).
  virtual ConstantEvaluator constant_evaluator() const { return nullptr; }
};

}  // namespace duet
