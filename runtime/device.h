// Devices: the scope that decides where new tensors go, and what exists.
#pragma once

#include <source_location>

#include <duet/graph/error.h>
#include <duet/graph/types.h>

namespace duet {

// Whether a CUDA device can be used: this build has the CUDA backend and
// the CUDA runtime reports a device (docs/cuda.md).
bool cuda_available();
void set_num_threads(int n);  // the size of the one kernel thread team
int num_threads();

// The device new tensors are created on in this thread.
Device current_device();

// { DeviceScope on(Device::cuda(0)); ... } creates new tensors there. A
// device that does not exist here is a DeviceError saying why.
class DeviceScope {
 public:
  explicit DeviceScope(Device d, std::source_location loc = std::source_location::current());
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  Device saved_;
};

namespace detail {
// Throws the DeviceError of `op` at `loc` when `d` cannot hold tensors here.
void check_device(Device d, const char* op, SrcLoc loc);
}  // namespace detail

}  // namespace duet
