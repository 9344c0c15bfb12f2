// The one device-aware byte copy: between host buffers, to or from a GPU, or
// on a GPU, so callers never open-code "memcpy here, cuda::copy_* there".
#pragma once

#include <cstddef>

#include <duet/graph/types.h>

namespace duet {

// Copies `bytes` from `src` (memory on `from`) to `dst` (memory on `to`).
// Host to host is a memmove (the ranges may overlap). Anything involving a
// GPU is queued on that device's stream (NOTE [One stream per device]): a
// copy to the host waits until the bytes have arrived, a copy from pageable
// host memory returns once the source has been read; between two GPUs the
// bytes go through the host. Zero bytes do nothing. A CUDA failure is a
// DeviceError.
void copy_bytes(void* dst, Device to, const void* src, Device from, size_t bytes);

}  // namespace duet
