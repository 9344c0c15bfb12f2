// The targets the backends offer to passes (graph/target.h).
#pragma once

#include <duet/graph/target.h>

namespace duet {

// The host CPU: oneDNN matmul with bias and one eltwise post-op (f32).
const TargetInfo& cpu_target();
// A CUDA device: cuBLASLt matmul with a row bias (f32, f64), no activation.
const TargetInfo& cuda_target();
// The target a Program for `device` is optimized for.
const TargetInfo& target_of(Device device);

// A ConstantEvaluator (graph/target.h): the op's CPU kernel on host copies
// of the constants, so a folded constant has the bits the CPU computes.
bool evaluate_on_cpu(const OpDef& op, const std::vector<const DenseData*>& operands, const Attrs& attrs,
                     const std::vector<TensorType>& result_types, std::vector<DenseData>* results);

}  // namespace duet
