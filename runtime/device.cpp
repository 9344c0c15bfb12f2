// The per-thread device scope and the device queries.
#include <duet/runtime/device.h>

#include <fmt/format.h>

#include <duet/backends/cuda/device.h>
#include <duet/backends/kernel.h>
#include <duet/codegen/gpu/eager_kernels.h>
#include <duet/graph/error.h>

namespace duet {

namespace {
thread_local Device t_device = Device::cpu();
}

bool cuda_available() { return cuda::device_status().count > 0; }
Device current_device() { return t_device; }
DeviceScope::DeviceScope(Device d, std::source_location loc) : saved_(t_device) {
  detail::check_device(d, "DeviceScope", loc);
  t_device = d;
}

// NOTE [Eager CUDA kernels on first use]
// The eager CUDA kernels of elementwise ops, reductions, argmax, one_hot,
// transpose and broadcasts are generated GPU kernels, so they live in
// codegen (codegen/gpu/eager_kernels.h), which the runtime links for them
// (docs/architecture.md, "Layers are shared libraries"). They are
// registered here, by an explicit call, the first time a program uses a
// CUDA device: every CUDA tensor is made through this check (DeviceScope,
// creation under a CUDA scope, Tensor::to), so no CUDA op, eager or traced,
// runs before it. The CPU path returns above it and pays nothing; later
// CUDA uses pay one initialized-static check.
void detail::check_device(Device d, const char* op, SrcLoc loc) {
  if (d.is_cpu()) return;
  const cuda::DeviceStatus& s = cuda::device_status();
  if (s.count == 0)
    throw DeviceError(format_error(op, fmt::format("{} is not available: {}", d.str(), s.why), loc));
  if (d.index < 0 || d.index >= s.count)
    throw DeviceError(format_error(op, fmt::format("{} does not exist: this machine has {} CUDA device{}", d.str(),
                                                   s.count, s.count == 1 ? "" : "s"), loc));
  codegen::gpu::register_eager_kernels();
}
DeviceScope::~DeviceScope() { t_device = saved_; }

}  // namespace duet
