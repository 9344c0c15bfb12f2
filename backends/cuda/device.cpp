// CUDA device discovery through the runtime API, loaded with dlopen.
#include <duet/backends/cuda/device.h>

#ifdef DUET_WITH_CUDA
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdlib>
#endif

#include <fmt/format.h>

namespace duet::cuda {

bool built_with_cuda() {
#ifdef DUET_WITH_CUDA
  return true;
#else
  return false;
#endif
}

const DeviceStatus& device_status() {
  static const DeviceStatus status = [] {
    DeviceStatus s;
#ifndef DUET_WITH_CUDA
    s.why = "this build has no CUDA backend (DUET_CUDA=OFF, or no CUDA toolkit and cuDNN when it was configured)";
#else
    // $DUET_CUDART when set (runtime_path()), else the toolkit's runtime found
    // at build time, else whatever the loader finds.
    void* lib = nullptr;
    if (const char* p = std::getenv("DUET_CUDART"); p && *p) {
      lib = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    } else {
      lib = dlopen(DUET_CUDART, RTLD_NOW | RTLD_LOCAL);
      if (!lib) lib = dlopen(DUET_CUDART_SONAME, RTLD_NOW | RTLD_LOCAL);
    }
    if (!lib) {
      s.why = fmt::format("the CUDA runtime library could not be loaded ({})", dlerror());
      return s;
    }
    auto count = reinterpret_cast<decltype(&cudaGetDeviceCount)>(dlsym(lib, "cudaGetDeviceCount"));
    auto name = reinterpret_cast<decltype(&cudaGetErrorName)>(dlsym(lib, "cudaGetErrorName"));
    auto text = reinterpret_cast<decltype(&cudaGetErrorString)>(dlsym(lib, "cudaGetErrorString"));
    if (!count || !name || !text) {
      s.why = "the CUDA runtime library lacks cudaGetDeviceCount";
      return s;
    }
    int n = 0;
    cudaError_t err = count(&n);
    if (err != cudaSuccess) {
      s.why = fmt::format("cudaGetDeviceCount failed: {} ({})", text(err), name(err));
      return s;
    }
    s.count = n;
    if (n == 0) s.why = "cudaGetDeviceCount found no CUDA device";
#endif
    return s;
  }();
  return status;
}

}  // namespace duet::cuda
