// NOTE [A stand-in CUDA runtime]
// No machine here has a GPU or the CUDA driver, so the real libcudart fails
// every call. This library exports the CUDA runtime functions duet uses
// (backends/cuda/runtime.h), and only those, backed by host memory; duet
// loads it instead when DUET_CUDART names its path. Tests can then run
// duet's device plumbing: allocator, copies, streams, device errors, PTX
// loading, launch arguments, host fallbacks. Each function is defined
// extern "C" against the real cuda_runtime_api.h: a signature unlike CUDA's
// is a compile error.
//
// It checks, failing as the real runtime would (cudaGetLastError included):
// device ordinals; streams; copies and memsets (a device pointer's range
// must lie in one live allocation and a host pointer's touch none, as the
// cudaMemcpyKind says, else cudaErrorInvalidValue; so is an overlap, which
// is stricter than CUDA); a per-device memory budget; PTX (.version, a
// .target not newer than the device, `.entry <name>` for each kernel asked
// for); launch configurations and one argument per .entry parameter.
// Allocations are filled with 0xff bytes (NaN, -1): reading unwritten device
// memory shows.
//
// It cannot run kernels: a launch is recorded (kernel, grid, block, shared
// bytes, the .entry's parameter sizes, the argument values; see
// duet_fake_last_launch in fake_cudart.h) and succeeds without touching
// memory. Work is done at once on the calling thread: stream order is not
// exercised.
//
// Environment, read when loaded: DUET_FAKE_CUDA_DEVICES (default 1; 0: no
// device), DUET_FAKE_CUDA_MEMORY_MB (per device, default 1024),
// DUET_FAKE_CUDA_SM (default 80: sm_80).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fake_cudart.h"

// The names CUDA 13's header can macro-rename (to *_ptsz, under
// CUDA_API_PER_THREAD_DEFAULT_STREAM): defined here they must keep the plain name.
#if defined(cudaMemcpyAsync) || defined(cudaMemcpy2DAsync) || defined(cudaMemsetAsync) || \
    defined(cudaStreamSynchronize) || defined(cudaLaunchKernel)
#error "cuda_runtime_api.h renames a function duet finds by its plain name"
#endif

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  char* end = nullptr;
  long x = v ? std::strtol(v, &end, 10) : -1;
  return !v || !*v || *end || x < 0 || x > INT_MAX ? fallback : static_cast<int>(x);
}

struct Allocation { size_t bytes; int device; };
struct Kernel { std::string name; std::vector<unsigned> param_bytes; };  // sizes from the PTX's .entry
struct Library { std::string ptx; std::map<std::string, std::unique_ptr<Kernel>> kernels; };  // kernels by name

struct State {
  const int devices = env_int("DUET_FAKE_CUDA_DEVICES", 1);
  const size_t budget = size_t(env_int("DUET_FAKE_CUDA_MEMORY_MB", 1024)) << 20;  // per device
  const int sm = env_int("DUET_FAKE_CUDA_SM", 80);
  std::mutex mu;  // guards everything below
  std::map<uintptr_t, Allocation> allocations;  // by start address
  std::vector<size_t> live_bytes = std::vector<size_t>(devices);  // per device
  std::map<const void*, std::unique_ptr<int>> streams;  // each holds its device
  std::map<const void*, std::unique_ptr<Library>> libraries;
  std::map<const void*, Kernel*> kernels;  // of the loaded libraries
  std::vector<std::string> ptx;  // every PTX text loaded, in order (never forgotten)
  duet_fake_counters_t counters{};
  std::optional<duet_fake_launch_t> last;  // launch since the last reset
};
// Made when loaded, never destroyed: duet may free memory in static destructors.
State& S = *new State;

std::atomic<uint64_t> errors{0};
thread_local int current_device = 0;
thread_local cudaError_t last_error = cudaSuccess;

// Every failing call returns through here.
cudaError_t fail(cudaError_t e) { ++errors; return last_error = e; }

bool valid_device(int d) { return d >= 0 && d < S.devices; }
bool valid_stream(cudaStream_t st) {
  return st == nullptr || st == cudaStreamLegacy || st == cudaStreamPerThread || S.streams.count(st);
}
// The end of the live allocation starting at or below address `a` (0 if none).
uintptr_t end_below(uintptr_t a) {
  auto it = S.allocations.upper_bound(a);
  return it == S.allocations.begin() ? 0 : std::prev(it)->first + std::prev(it)->second.bytes;
}
// Whether [p, p + n) (n >= 1) lies inside one live allocation; whether it shares a byte with any.
bool in_allocation(const void* p, size_t n) { return uintptr_t(p) + n <= end_below(uintptr_t(p)); }
bool touches_allocation(const void* p, size_t n) { return end_below(uintptr_t(p) + n - 1) > uintptr_t(p); }

// Checks, counts and does a copy of `rows` rows of `width` bytes, `spitch`
// bytes apart at src, `dpitch` at dst (cudaMemcpyAsync: one row).
cudaError_t copy_rows(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t rows,
                      cudaMemcpyKind kind, cudaStream_t stream, bool is_2d) {
  std::lock_guard lock(S.mu);
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return fail(cudaErrorInvalidMemcpyDirection);
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (width > dpitch || width > spitch) return fail(cudaErrorInvalidPitchValue);
  if (width == 0 || rows == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  size_t dst_n = dpitch * (rows - 1) + width, src_n = spitch * (rows - 1) + width;  // the extents
  bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) dst_device = in_allocation(dst, dst_n), src_device = in_allocation(src, src_n);
  if (dst_device ? !in_allocation(dst, dst_n) : touches_allocation(dst, dst_n)) return fail(cudaErrorInvalidValue);
  if (src_device ? !in_allocation(src, src_n) : touches_allocation(src, src_n)) return fail(cudaErrorInvalidValue);
  auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  if (d != s && d < s + src_n && s < d + dst_n) return fail(cudaErrorInvalidValue);  // overlapping
  for (size_t r = 0; r < rows; ++r)  // memmove: dst == src is allowed
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  ++S.counters.memcpys[kind];
  S.counters.memcpys_2d += is_2d;
  return cudaSuccess;
}

// The size in bytes of one parameter declaration, from its type and array
// length: ".param .u64 .ptr .global .align 8 k_param_0" is 8,
// ".param .align 8 .b8 k_param_1[24]" is 24 (0 when not understood).
unsigned param_size(const std::string& decl) {
  static const std::regex type(R"(\s\.(pred|bf16|f16x2|[bsuf](8|16|32|64))\s)"), array(R"(\[(\d+)\]\s*$)");
  std::smatch t, a;
  if (!std::regex_search(decl, t, type)) return 0;
  unsigned bytes = t[1] == "pred" ? 1 : t[1] == "bf16" ? 2 : t[1] == "f16x2" ? 4 : std::stoi(t[2]) / 8;
  return std::regex_search(decl, a, array) ? bytes * std::stoi(a[1]) : bytes;
}

// Finds `.entry <name>` in `ptx`, and the byte size of each of its parameters.
bool find_entry(const std::string& ptx, const std::string& name, std::vector<unsigned>* param_bytes) {
  auto skip_space = [&](size_t i) {
    while (i < ptx.size() && std::isspace(static_cast<unsigned char>(ptx[i]))) ++i;
    return i;
  };
  for (size_t at = ptx.find(".entry"); at != std::string::npos; at = ptx.find(".entry", at + 1)) {
    size_t i = skip_space(at + 6);
    if (i == at + 6 || ptx.compare(i, name.size(), name) != 0) continue;
    i = skip_space(i + name.size());
    if (i < ptx.size() && ptx[i] == '{') return true;  // no parameter list
    size_t close = ptx.find(')', i);
    if (i == ptx.size() || ptx[i] != '(' || close == std::string::npos) continue;  // a longer name
    std::istringstream list(ptx.substr(i + 1, close - i - 1));
    for (std::string decl; std::getline(list, decl, ',');)
      if (decl.find(".param") != std::string::npos) param_bytes->push_back(param_size(decl));
    return true;
  }
  return false;
}

// The errors the fake returns, with the real runtime's words.
struct ErrorText { cudaError_t code; const char *name, *text; };
#define FAKE_ERROR(e, text) {e, #e, text}
constexpr ErrorText kErrors[] = {
    FAKE_ERROR(cudaSuccess, "no error"), FAKE_ERROR(cudaErrorInvalidValue, "invalid argument"),
    FAKE_ERROR(cudaErrorMemoryAllocation, "out of memory"),
    FAKE_ERROR(cudaErrorInvalidDevice, "invalid device ordinal"),
    FAKE_ERROR(cudaErrorInvalidConfiguration, "invalid configuration argument"),
    FAKE_ERROR(cudaErrorInvalidPitchValue, "invalid pitch argument"),
    FAKE_ERROR(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy"),
    FAKE_ERROR(cudaErrorInvalidDeviceFunction, "invalid device function"),
    FAKE_ERROR(cudaErrorNoDevice, "no CUDA-capable device is detected"),
    FAKE_ERROR(cudaErrorInvalidPtx, "a PTX JIT compilation failed"),
    FAKE_ERROR(cudaErrorInvalidResourceHandle, "invalid resource handle"),
    FAKE_ERROR(cudaErrorSymbolNotFound, "named symbol not found")};
const ErrorText* find_error(cudaError_t e) {
  for (const ErrorText& x : kErrors)
    if (x.code == e) return &x;
  return nullptr;
}

}  // namespace

FAKE_EXPORT const char* CUDARTAPI cudaGetErrorName(cudaError_t error) {
  return find_error(error) ? find_error(error)->name : "unrecognized error code";
}
FAKE_EXPORT const char* CUDARTAPI cudaGetErrorString(cudaError_t error) {
  return find_error(error) ? find_error(error)->text : "unrecognized error code";
}
FAKE_EXPORT cudaError_t CUDARTAPI cudaGetLastError(void) { return std::exchange(last_error, cudaSuccess); }

FAKE_EXPORT cudaError_t CUDARTAPI cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = S.devices;
  return S.devices == 0 ? fail(cudaErrorNoDevice) : cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaSetDevice(int device) {
  if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}
FAKE_EXPORT cudaError_t CUDARTAPI cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = current_device;
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue);
  if (!valid_device(device)) return fail(cudaErrorInvalidDevice);
  switch (attr) {  // an A100's, but for the compute capability
    case cudaDevAttrComputeCapabilityMajor: *value = S.sm / 10; break;
    case cudaDevAttrComputeCapabilityMinor: *value = S.sm % 10; break;
    case cudaDevAttrMultiProcessorCount: *value = 108; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 << 10; break;
    default: return fail(cudaErrorInvalidValue);  // not faked yet: add it when duet asks
  }
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaStreamCreateWithFlags(cudaStream_t* pStream, unsigned int flags) {
  if (!pStream || (flags != cudaStreamDefault && flags != cudaStreamNonBlocking)) return fail(cudaErrorInvalidValue);
  std::lock_guard lock(S.mu);
  auto stream = std::make_unique<int>(current_device);
  *pStream = reinterpret_cast<cudaStream_t>(stream.get());
  S.streams[stream.get()] = std::move(stream);
  ++S.counters.streams_created;
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard lock(S.mu);
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  ++S.counters.stream_syncs;
  return cudaSuccess;
}
FAKE_EXPORT cudaError_t CUDARTAPI cudaDeviceSynchronize(void) {
  std::lock_guard lock(S.mu);
  ++S.counters.device_syncs;
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaMalloc(void** devPtr, size_t size) {
  if (!devPtr) return fail(cudaErrorInvalidValue);
  if (!valid_device(current_device)) return fail(cudaErrorNoDevice);
  *devPtr = nullptr;  // and success for 0 bytes, as CUDA
  if (size == 0) return cudaSuccess;
  std::lock_guard lock(S.mu);
  size_t& live = S.live_bytes[current_device];
  void* p = size > S.budget - live ? nullptr : std::aligned_alloc(256, (size + 255) / 256 * 256);
  if (!p) return fail(cudaErrorMemoryAllocation);
  std::memset(p, 0xff, size);
  S.allocations[reinterpret_cast<uintptr_t>(p)] = {size, current_device};
  duet_fake_counters_t& c = S.counters;
  live += size, c.live_bytes += size, ++c.mallocs, ++c.live_allocations;
  c.peak_bytes = std::max(c.peak_bytes, c.live_bytes);
  *devPtr = p;
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaFree(void* devPtr) {
  if (!devPtr) return cudaSuccess;
  std::lock_guard lock(S.mu);
  auto it = S.allocations.find(reinterpret_cast<uintptr_t>(devPtr));
  if (it == S.allocations.end()) return fail(cudaErrorInvalidValue);  // not the start of a live allocation
  S.live_bytes[it->second.device] -= it->second.bytes;
  ++S.counters.frees, --S.counters.live_allocations, S.counters.live_bytes -= it->second.bytes;
  S.allocations.erase(it);
  std::free(devPtr);
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaMemGetInfo(size_t* free, size_t* total) {
  if (!free || !total) return fail(cudaErrorInvalidValue);
  if (!valid_device(current_device)) return fail(cudaErrorNoDevice);
  std::lock_guard lock(S.mu);
  *total = S.budget;
  *free = S.budget - S.live_bytes[current_device];
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                                                  cudaStream_t stream) {
  return copy_rows(dst, count, src, count, count, 1, kind, stream, false);
}
FAKE_EXPORT cudaError_t CUDARTAPI cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch,
                                                    size_t width, size_t height, cudaMemcpyKind kind,
                                                    cudaStream_t stream) {
  return copy_rows(dst, dpitch, src, spitch, width, height, kind, stream, true);
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream) {
  std::lock_guard lock(S.mu);
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (count == 0) return cudaSuccess;
  if (!devPtr || !in_allocation(devPtr, count)) return fail(cudaErrorInvalidValue);
  std::memset(devPtr, value, count);
  ++S.counters.memsets;
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaLibraryLoadData(cudaLibrary_t* library, const void* code,
                                                      cudaJitOption* jitOptions, void** jitOptionsValues,
                                                      unsigned int numJitOptions, cudaLibraryOption* libraryOptions,
                                                      void** libraryOptionValues, unsigned int numLibraryOptions) {
  if (!library || !code) return fail(cudaErrorInvalidValue);
  auto lib = std::make_unique<Library>();
  const std::string& ptx = lib->ptx = static_cast<const char*>(code);  // PTX is NUL-terminated text
  size_t target = ptx.find(".version") == std::string::npos ? std::string::npos : ptx.find(".target");
  target = target == std::string::npos ? target : ptx.find("sm_", target);  // .target sm_N[a]
  if (target == std::string::npos || std::atoi(&ptx[target + 3]) > S.sm) return fail(cudaErrorInvalidPtx);
  std::lock_guard lock(S.mu);
  *library = reinterpret_cast<cudaLibrary_t>(lib.get());
  S.ptx.push_back(ptx);
  S.libraries[lib.get()] = std::move(lib);
  ++S.counters.libraries_loaded;
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaLibraryGetKernel(cudaKernel_t* pKernel, cudaLibrary_t library, const char* name) {
  if (!pKernel || !name || !*name) return fail(cudaErrorInvalidValue);
  std::lock_guard lock(S.mu);
  auto it = S.libraries.find(library);
  if (it == S.libraries.end()) return fail(cudaErrorInvalidResourceHandle);
  Library& lib = *it->second;
  if (!lib.kernels.count(name)) {
    auto kernel = std::make_unique<Kernel>(Kernel{name, {}});
    if (!find_entry(lib.ptx, name, &kernel->param_bytes)) return fail(cudaErrorSymbolNotFound);
    S.kernels[kernel.get()] = kernel.get();
    lib.kernels[name] = std::move(kernel);
  }
  *pKernel = reinterpret_cast<cudaKernel_t>(lib.kernels[name].get());
  return cudaSuccess;
}

FAKE_EXPORT cudaError_t CUDARTAPI cudaLibraryUnload(cudaLibrary_t library) {
  std::lock_guard lock(S.mu);
  auto it = S.libraries.find(library);
  if (it == S.libraries.end()) return fail(cudaErrorInvalidResourceHandle);
  for (auto& [name, kernel] : it->second->kernels) S.kernels.erase(kernel.get());
  S.libraries.erase(it);
  ++S.counters.libraries_unloaded;
  return cudaSuccess;
}

// `func` is a cudaKernel_t of a loaded library (as duet passes it).
FAKE_EXPORT cudaError_t CUDARTAPI cudaLaunchKernel(const void* func, dim3 gridDim, dim3 blockDim, void** args,
                                                   size_t sharedMem, cudaStream_t stream) {
  std::lock_guard lock(S.mu);
  auto it = S.kernels.find(func);
  if (it == S.kernels.end()) return fail(cudaErrorInvalidDeviceFunction);
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  const dim3 g = gridDim, b = blockDim;
  if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z || g.x > unsigned(INT_MAX) || g.y > 65535 || g.z > 65535 ||
      b.x > 1024 || b.y > 1024 || b.z > 64 || uint64_t(b.x) * b.y * b.z > 1024)
    return fail(cudaErrorInvalidConfiguration);
  if (sharedMem > (48 << 10)) return fail(cudaErrorInvalidValue);
  const Kernel& k = *it->second;
  int n = static_cast<int>(k.param_bytes.size());
  for (int i = 0; i < n; ++i)
    if (!args || !args[i]) return fail(cudaErrorInvalidValue);
  duet_fake_launch_t& l = S.last.emplace();  // zeroed
  l.grid[0] = g.x, l.grid[1] = g.y, l.grid[2] = g.z;
  l.block[0] = b.x, l.block[1] = b.y, l.block[2] = b.z;
  l.shared_bytes = sharedMem, l.device = current_device, l.stream = stream, l.param_count = n;
  std::strncpy(l.kernel, k.name.c_str(), DUET_FAKE_NAME_BYTES - 1);
  for (int i = 0; i < n && i < DUET_FAKE_MAX_PARAMS; ++i) {
    l.param_bytes[i] = k.param_bytes[i];
    std::memcpy(&l.param_values[i], args[i], std::min<size_t>(k.param_bytes[i], 8));  // little-endian
  }
  ++S.counters.launches;
  return cudaSuccess;
}

FAKE_EXPORT void duet_fake_counters(duet_fake_counters_t* out) {
  std::lock_guard lock(S.mu);
  *out = S.counters;
  out->errors = errors.load();
}
FAKE_EXPORT int duet_fake_last_launch(duet_fake_launch_t* out) {
  std::lock_guard lock(S.mu);
  if (S.last) *out = *S.last;
  return S.last ? 1 : 0;
}
FAKE_EXPORT int duet_fake_ptx_count(void) {
  std::lock_guard lock(S.mu);
  return static_cast<int>(S.ptx.size());
}
FAKE_EXPORT const char* duet_fake_ptx(int i) {
  std::lock_guard lock(S.mu);
  return i >= 0 && i < static_cast<int>(S.ptx.size()) ? S.ptx[static_cast<size_t>(i)].c_str() : nullptr;
}
FAKE_EXPORT void duet_fake_reset_counters(void) {
  std::lock_guard lock(S.mu);
  duet_fake_counters_t& c = S.counters;
  uint64_t allocations = c.live_allocations, bytes = c.live_bytes;
  c = {};
  c.live_allocations = allocations, c.live_bytes = c.peak_bytes = bytes;
  errors = 0;
  S.last.reset();
}
