// The caching allocator of device memory.
//
// NOTE [Device memory]
// cudaMalloc and cudaFree are slow (cudaFree also waits for the whole
// device), and every eager op allocates its result, so device blocks are
// cached: a storage's block goes back to a free list of its device when the
// storage dies, and the next request of a fitting size takes it. Reusing a
// block at once is safe because all work on a device is queued on its one
// stream (NOTE [One stream per device] in runtime.h): a kernel that writes the
// reused block runs after every kernel that read it before it was freed.
// Sizes are rounded (512-byte steps to 1 MiB, then 2 MiB steps) and a request
// takes a cached block at most twice its rounded size, so a small tensor
// never pins a large block. Blocks are not split or merged (PyTorch's
// allocator does both; a later refinement if fragmentation shows). When
// cudaMalloc reports the device full, the cache is returned to the device and
// the request retried once; then it is a DeviceError naming the size.
#include <duet/backends/cuda/allocator.h>

#include <array>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include <duet/backends/cuda/runtime.h>
#include <duet/graph/error.h>

namespace duet::cuda {

namespace {

constexpr int kMaxDevices = 16;

struct Cache {
  std::mutex mu;
  std::array<std::multimap<size_t, void*>, kMaxDevices> free;  // by block size
  AllocatorStats stats;
};

Cache& cache() {
  static auto* c = new Cache;  // never destroyed: storages may die during exit
  return *c;
}

// Returns `device`'s cached blocks; the caller holds the lock.
void release_cached(Cache& c, int device) {
  for (auto& [bytes, ptr] : c.free[device]) {
    raw_free(ptr, device);
    ++c.stats.device_frees;
    c.stats.cached_bytes -= static_cast<int64_t>(bytes);
  }
  c.free[device].clear();
}

}  // namespace

size_t round_block_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{2} << 20;
  if (bytes == 0) bytes = 1;
  if (bytes <= (size_t{1} << 20)) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

Block device_alloc(size_t bytes, int device) {
  if (device < 0 || device >= kMaxDevices) throw DeviceError(fmt::format("CUDA: no device cuda:{}", device));
  const size_t size = round_block_size(bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto& free = c.free[device];
  auto it = free.lower_bound(size);
  if (it != free.end() && it->first <= 2 * size) {
    Block b{it->second, it->first, device};
    free.erase(it);
    ++c.stats.hits;
    c.stats.cached_bytes -= static_cast<int64_t>(b.bytes);
    c.stats.in_use_bytes += static_cast<int64_t>(b.bytes);
    return b;
  }
  void* p = raw_malloc(size, device);
  if (!p && !free.empty()) {
    release_cached(c, device);
    p = raw_malloc(size, device);
  }
  if (!p) {
    size_t free_bytes = 0, total = 0;
    memory_info(device, &free_bytes, &total);
    throw OutOfMemoryError(fmt::format("out of memory on cuda:{}: could not allocate {} bytes ({} held by duet's tensors, "
                                  "{} of {} free on the device)",
                                  device, size, c.stats.in_use_bytes, free_bytes, total));
  }
  ++c.stats.device_mallocs;
  c.stats.in_use_bytes += static_cast<int64_t>(size);
  return Block{p, size, device};
}

void device_free(const Block& b) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.free[b.device].emplace(b.bytes, b.ptr);
  c.stats.in_use_bytes -= static_cast<int64_t>(b.bytes);
  c.stats.cached_bytes += static_cast<int64_t>(b.bytes);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (int d = 0; d < kMaxDevices; ++d)
    if (!c.free[d].empty()) release_cached(c, d);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

}  // namespace duet::cuda
