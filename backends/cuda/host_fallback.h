// Ops without a CUDA kernel run on the host: operands are copied to host
// memory, the CPU kernel runs, results are copied back (docs/cuda.md lists
// which ops, and why). Correct, and slow: each call waits for the device.
#pragma once

#include <duet/backends/kernel.h>

namespace duet::cuda {

// Runs ctx's op through its CPU kernel over host copies of ctx's CUDA
// operands, writing ctx's CUDA results. A CUDA kernel may call it for the
// cases it does not handle (an integer matmul, say).
void host_fallback(KernelContext& ctx);

// Whether `op_id`'s CUDA kernel is the host fallback (for the registry test
// and docs/cuda.md).
bool runs_on_host(int op_id);

}  // namespace duet::cuda
