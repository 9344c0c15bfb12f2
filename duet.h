// duet: the umbrella header of the public API (DESIGN.md §1).
#pragma once

#include <duet/graph/error.h>
#include <duet/graph/types.h>
#include <duet/runtime/autodiff.h>
#include <duet/runtime/checkpoint.h>
#include <duet/runtime/control_flow.h>
#include <duet/runtime/data.h>
#include <duet/runtime/device.h>
#include <duet/runtime/losses.h>
#include <duet/runtime/nn.h>
#include <duet/runtime/optim.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tensor.h>
#include <duet/runtime/variable.h>
#include <duet/tracer/function.h>
#include <duet/tracer/saved.h>

namespace duet::detail {
// NOTE [Every layer linked]
// Some kernels are registered by the library that generates them (the CUDA
// kernels of elementwise ops and reductions live in libduet_codegen). A
// program that only runs eager ops references no tracer or codegen symbol,
// so a linker with --as-needed (Debian's default) would drop those
// libraries, and CUDA ops would quietly take the host fallback. Every
// program that includes this header references the tracer here, and the
// tracer needs codegen, so all layers load.
inline const bool kAllLayersLinked = link_all_layers();
}  // namespace duet::detail
