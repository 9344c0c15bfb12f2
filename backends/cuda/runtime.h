// The CUDA runtime API as duet uses it (DESIGN.md §2.5, docs/cuda.md):
// loaded with dlopen on first use, never linked. Every function here throws a
// DeviceError naming the CUDA call and the runtime's own words when the call
// fails, and when this build has no CUDA backend. No CUDA header appears
// here: streams, libraries and kernels are opaque pointers.
//
// NOTE [One stream per device]
// All of duet's work on a device (eager ops, copies, traced Programs) goes in
// order into one stream per device, created on first use, the way an eager
// framework's "current stream" works. So a buffer that the host frees can be
// handed to the next allocation at once: anything that later writes it is
// queued after everything that read it (the caching allocator relies on this,
// NOTE [Device memory] in allocator.cpp), and a Program's steps need no host
// synchronization between them. The host waits only where it must read
// device memory: copies to the host, and a cond or while_loop predicate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace duet::cuda {

// The runtime library actually loaded: $DUET_CUDART when set (a path; tests
// point it at a stand-in, NOTE [A stand-in CUDA runtime] in
// tests/unit/fake_cudart.cpp), else the toolkit's found at build time, else
// the soname. Empty when none loaded.
std::string runtime_path();

// Makes `device` current for this thread (cudaSetDevice), cheaply when it
// already is.
void set_device(int device);

// The stream of `device` (a cudaStream_t), created on first use.
void* stream(int device);
// Waits for everything queued on `device`'s stream.
void synchronize(int device);

// Raw device memory (cudaMalloc / cudaFree). The caching allocator is the
// only caller; everything else allocates through Storage.
void* raw_malloc(size_t bytes, int device);  // nullptr when the device is out of memory
void raw_free(void* p, int device);
// Device memory in use and total, from the runtime (cudaMemGetInfo).
void memory_info(int device, size_t* free_bytes, size_t* total_bytes);

// Copies, queued on `device`'s stream. To the device from pageable host
// memory: the call returns once the source has been read, so it may be freed
// afterwards. To the host: waits until the bytes have arrived.
void copy_to_device(void* dst, const void* src, size_t bytes, int device);
void copy_to_host(void* dst, const void* src, size_t bytes, int device);
void copy_on_device(void* dst, const void* src, size_t bytes, int device);
// `rows` rows of `width` bytes, from rows `src_pitch` bytes apart to rows
// `dst_pitch` bytes apart, both on `device` (slice and concat).
void copy_rows_on_device(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width,
                         size_t rows, int device);
void fill_bytes(void* dst, int value, size_t bytes, int device);

// The compute capability as major * 10 + minor (80 for sm_80).
int compute_capability(int device);
// "sm_80": the architecture kernels are generated for.
std::string arch_name(int device);

// PTX loaded into the current context (cudaLibraryLoadData), and a kernel of
// it by name (cudaLibraryGetKernel). The library stays loaded for the life of
// the process: the kernel cache holds it (codegen/gpu/kernels.cpp).
void* load_ptx(const std::string& ptx, int device);
void* get_kernel(void* library, const std::string& name);
// Queues kernel(args) on `device`'s stream: `args` holds a pointer to each
// parameter's value, in the kernel's parameter order.
void launch(void* kernel, unsigned grid, unsigned block, void** args, size_t shared_bytes, int device);

}  // namespace duet::cuda
