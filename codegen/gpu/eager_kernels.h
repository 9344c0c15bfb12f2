// The eager CUDA kernels that are generated GPU kernels (elementwise ops,
// sum/mean/max/min, argmax, one_hot, transpose, broadcasts: NOTE [GPU
// kernels at run time] in kernels.cpp). The runtime registers them when a
// CUDA device is first used (NOTE [Eager CUDA kernels on first use] in
// runtime/device.cpp); this header is all it sees of codegen.
#pragma once

namespace duet::codegen::gpu {

// Puts those kernels in the kernel table (backends/kernel.h). The first call
// registers, later ones return at once; safe from any thread. Without the
// CUDA backend it registers nothing.
void register_eager_kernels();

}  // namespace duet::codegen::gpu
