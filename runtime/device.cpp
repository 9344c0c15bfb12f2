// The per-thread device scope and the device queries.
#include <duet/runtime/device.h>

#include <duet/backends/kernel.h>

namespace duet {

namespace {
thread_local Device t_device = Device::cpu();
}

bool cuda_available() { return false; }  // the CUDA backend is not built yet
Device current_device() { return t_device; }
DeviceScope::DeviceScope(Device d) : saved_(t_device) { t_device = d; }
DeviceScope::~DeviceScope() { t_device = saved_; }

}  // namespace duet
