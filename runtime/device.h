// Devices: the scope that decides where new tensors go, and what exists.
#pragma once

#include <duet/graph/types.h>

namespace duet {

bool cuda_available();
void set_num_threads(int n);  // the size of the one kernel thread team
int num_threads();

// The device new tensors are created on in this thread.
Device current_device();

// { DeviceScope on(Device::cuda(0)); ... } creates new tensors there.
class DeviceScope {
 public:
  explicit DeviceScope(Device d);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  Device saved_;
};

}  // namespace duet
