// The caching allocator of device memory (NOTE [Device memory] in
// allocator.cpp): Storage::allocate on a CUDA device takes a cached block
// when one fits, so eager ops and Program arenas do not call cudaMalloc per
// op.
#pragma once

#include <cstddef>
#include <cstdint>

namespace duet::cuda {

// A block of device memory; `bytes` is the rounded size actually held.
struct Block {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
};

// Takes a block of at least `bytes` on `device` from the cache, else from
// cudaMalloc (after emptying the cache and retrying once when the device is
// out of memory). Throws a DeviceError naming the size and the device when
// the memory is not there.
Block device_alloc(size_t bytes, int device);
// Gives a block back to the cache (NOTE [One stream per device]: it may be
// reused at once).
void device_free(const Block& b);
// Returns every cached block to the device (cudaFree).
void empty_cache();

struct AllocatorStats {
  int64_t device_mallocs = 0;  // cudaMalloc calls since the process started
  int64_t device_frees = 0;    // cudaFree calls
  int64_t hits = 0;            // allocations served from the cache
  int64_t in_use_bytes = 0;    // held by live storages
  int64_t cached_bytes = 0;    // free blocks kept for reuse
};
AllocatorStats allocator_stats();

// The size a request is rounded up to: 512-byte steps up to 1 MiB, then
// 2 MiB steps, so a block serves requests of nearby sizes.
size_t round_block_size(size_t bytes);

}  // namespace duet::cuda
