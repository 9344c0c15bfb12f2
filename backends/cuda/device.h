// Which CUDA devices this process can use (DESIGN.md §2.5). The CUDA
// runtime is loaded on first use with dlopen, never linked, so every binary
// loads and runs its CPU paths on a machine without CUDA or its driver.
#pragma once

#include <string>

namespace duet::cuda {

struct DeviceStatus {
  int count = 0;    // usable CUDA devices
  std::string why;  // when count is 0: the reason, in the runtime's own words where it has some
};

// Asked once per process (cudaGetDeviceCount), then remembered.
const DeviceStatus& device_status();

// Whether this build has the CUDA backend (DUET_CUDA, found at build time).
bool built_with_cuda();

}  // namespace duet::cuda
