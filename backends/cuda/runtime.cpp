// The CUDA runtime API through dlopen, one stream per device.
#include <duet/backends/cuda/runtime.h>

#include <duet/graph/error.h>

#ifdef DUET_WITH_CUDA
#include <cuda_runtime_api.h>

#include <array>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include <duet/backends/cuda/library.h>
#endif

namespace duet::cuda {

#ifndef DUET_WITH_CUDA

namespace {
[[noreturn]] void no_cuda() { throw DeviceError("CUDA: this build has no CUDA backend"); }
}  // namespace
std::string runtime_path() { return ""; }
void set_device(int) { no_cuda(); }
void* stream(int) { no_cuda(); }
void synchronize(int) { no_cuda(); }
void* raw_malloc(size_t, int) { no_cuda(); }
void raw_free(void*, int) { no_cuda(); }
void memory_info(int, size_t*, size_t*) { no_cuda(); }
void copy_to_device(void*, const void*, size_t, int) { no_cuda(); }
void copy_to_host(void*, const void*, size_t, int) { no_cuda(); }
void copy_on_device(void*, const void*, size_t, int) { no_cuda(); }
void copy_rows_on_device(void*, size_t, const void*, size_t, size_t, size_t, int) { no_cuda(); }
void fill_bytes(void*, int, size_t, int) { no_cuda(); }
int compute_capability(int) { no_cuda(); }
std::string arch_name(int) { no_cuda(); }
void* load_ptx(const std::string&, int) { no_cuda(); }
void* get_kernel(void*, const std::string&) { no_cuda(); }
void launch(void*, unsigned, unsigned, void**, size_t, int) { no_cuda(); }

#else

namespace {

std::vector<std::string> candidates() {
  if (const char* p = std::getenv("DUET_CUDART"); p && *p) return {p};
  return {DUET_CUDART, DUET_CUDART_SONAME};
}

struct Api {
  Library lib{candidates(), "the CUDA runtime"};
#define DUET_RT_FN(name) decltype(&cuda##name) name = get<decltype(&cuda##name)>(lib, "cuda" #name)
  DUET_RT_FN(GetErrorName);
  DUET_RT_FN(GetErrorString);
  DUET_RT_FN(SetDevice);
  DUET_RT_FN(StreamCreateWithFlags);
  DUET_RT_FN(StreamSynchronize);
  DUET_RT_FN(Malloc);
  DUET_RT_FN(Free);
  DUET_RT_FN(MemGetInfo);
  DUET_RT_FN(MemcpyAsync);
  DUET_RT_FN(Memcpy2DAsync);
  DUET_RT_FN(MemsetAsync);
  DUET_RT_FN(DeviceGetAttribute);
  DUET_RT_FN(LibraryLoadData);
  DUET_RT_FN(LibraryGetKernel);
  DUET_RT_FN(LaunchKernel);
#undef DUET_RT_FN
};

const Api& api() {
  static const Api a;  // device_status() has loaded the library before any of this runs
  return a;
}

void check(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return;
  throw DeviceError(fmt::format("CUDA: {} failed: {} ({})", call, api().GetErrorString(err),
                                api().GetErrorName(err)));
}

constexpr int kMaxDevices = 16;
thread_local int t_current = -1;
std::mutex g_mu;
std::array<cudaStream_t, kMaxDevices> g_streams{};
std::array<int, kMaxDevices> g_capability{};

int checked(int device) {
  if (device < 0 || device >= kMaxDevices) throw DeviceError(fmt::format("CUDA: no device cuda:{}", device));
  return device;
}
cudaStream_t s(int device) { return static_cast<cudaStream_t>(stream(device)); }

}  // namespace

std::string runtime_path() { return api().lib.loaded() ? candidates().front() : ""; }

void set_device(int device) {
  if (t_current == device) return;
  check(api().SetDevice(checked(device)), "cudaSetDevice");
  t_current = device;
}

void* stream(int device) {
  checked(device);
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_streams[device]) {
    set_device(device);
    cudaStream_t st = nullptr;
    // Non-blocking: never serialized with work others put on the legacy default stream.
    check(api().StreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    g_streams[device] = st;
  }
  return g_streams[device];
}

void synchronize(int device) { check(api().StreamSynchronize(s(device)), "cudaStreamSynchronize"); }

void* raw_malloc(size_t bytes, int device) {
  set_device(device);
  void* p = nullptr;
  cudaError_t err = api().Malloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) return nullptr;
  check(err, "cudaMalloc");
  return p;
}

void raw_free(void* p, int device) {
  set_device(device);
  check(api().Free(p), "cudaFree");
}

void memory_info(int device, size_t* free_bytes, size_t* total_bytes) {
  set_device(device);
  check(api().MemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
}

void copy_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  set_device(device);
  check(api().MemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s(device)), "cudaMemcpyAsync (to the device)");
}

void copy_to_host(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  set_device(device);
  check(api().MemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s(device)), "cudaMemcpyAsync (to the host)");
  synchronize(device);
}

void copy_on_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  set_device(device);
  check(api().MemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s(device)), "cudaMemcpyAsync (on the device)");
}

void copy_rows_on_device(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, size_t rows,
                         int device) {
  if (width == 0 || rows == 0) return;
  set_device(device);
  check(api().Memcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows, cudaMemcpyDeviceToDevice, s(device)),
        "cudaMemcpy2DAsync");
}

void fill_bytes(void* dst, int value, size_t bytes, int device) {
  if (bytes == 0) return;
  set_device(device);
  check(api().MemsetAsync(dst, value, bytes, s(device)), "cudaMemsetAsync");
}

int compute_capability(int device) {
  checked(device);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_capability[device]) return g_capability[device];
  }
  int major = 0, minor = 0;
  check(api().DeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
  check(api().DeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
  std::lock_guard<std::mutex> lock(g_mu);
  g_capability[device] = major * 10 + minor;
  return g_capability[device];
}

std::string arch_name(int device) { return "sm_" + std::to_string(compute_capability(device)); }

void* load_ptx(const std::string& ptx, int device) {
  set_device(device);
  cudaLibrary_t lib = nullptr;
  // The text must end in a NUL; the JIT options are the driver's defaults.
  check(api().LibraryLoadData(&lib, ptx.c_str(), nullptr, nullptr, 0, nullptr, nullptr, 0), "cudaLibraryLoadData");
  return lib;
}

void* get_kernel(void* library, const std::string& name) {
  cudaKernel_t k = nullptr;
  check(api().LibraryGetKernel(&k, static_cast<cudaLibrary_t>(library), name.c_str()),
        "cudaLibraryGetKernel");
  return k;
}

void launch(void* kernel, unsigned grid, unsigned block, void** args, size_t shared_bytes, int device) {
  set_device(device);
  // A cudaKernel_t stands for the function pointer the runtime API takes.
  check(api().LaunchKernel(kernel, dim3(grid), dim3(block), args, shared_bytes, s(device)), "cudaLaunchKernel");
}

#endif

}  // namespace duet::cuda
