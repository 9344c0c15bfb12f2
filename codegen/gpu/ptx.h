// PTX for CUDA GPUs from kernel bodies, through LLVM's NVPTX target
// (DESIGN.md §2.5; NOTE [GPU kernels] in ptx.cpp). No GPU or CUDA library is
// needed to generate it; f64 transcendentals and pow link CUDA's libdevice.
#pragma once

#include <string>
#include <vector>

#include <duet/codegen/kernel_ir.h>

namespace duet::codegen::ptx {

// One GPU kernel to generate: a body (elementwise, or ending in a row or
// column reduction) over an iteration space of `rank` dims (1 to kMaxGpuRank, codegen/kernel_ir.h).
struct KernelSpec {
  std::string name;
  BodySpec body;
  int rank = 1;
};

// One module holding every kernel, as PTX for `sm` ("sm_80", "sm_90").
// Kernel k takes: a pointer per body parameter then per result, n (the
// elements), the iteration space's `rank` dims (outermost first), then each
// parameter's element strides over those dims (0 where it broadcasts).
// Results are contiguous. Elementwise: thread t of the grid computes
// elements t, t + grid size, ...; row reductions need blocks of 256 threads
// (NOTE [GPU kernels]). Throws an Error when a body is unsupported or LLVM
// fails.
std::string generate(const std::vector<KernelSpec>& kernels, const std::string& sm);

}  // namespace duet::codegen::ptx
