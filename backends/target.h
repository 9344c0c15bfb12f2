// The targets the backends offer to passes (graph/target.h).
#pragma once

#include <duet/graph/target.h>

namespace duet {

// The host CPU: oneDNN matmul with bias and one eltwise post-op (f32).
const TargetInfo& cpu_target();

}  // namespace duet
