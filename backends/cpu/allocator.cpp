// The CPU caching allocator and Storage's lifetime.
//
// NOTE [Storage and the caching allocator]
// Every eager op allocates its result, so allocation is on the hot path twice:
// small tensors (W1: f32[8] adds) pay malloc's cost per op, and large ones
// (64 MB) pay a page fault per 4 KB page when the OS hands out fresh memory.
// So blocks are cached:
//  - small blocks (<= 1 MiB) by power-of-two size class in a per-thread free
//    list (no lock; a block freed on another thread joins that thread's list);
//  - large blocks by exact rounded size (64 KiB granules) in one global pool
//    under a mutex, bounded by max_cached_large() bytes (4 GiB, or
//    DUET_ALLOCATOR_CACHE_MB), oldest dropped first.
// A Storage's header lives in its own block, so one allocation serves both.
#include <duet/backends/cpu/allocator.h>

#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <vector>

#include <duet/backends/cuda/allocator.h>
#include <duet/backends/storage.h>
#include <duet/graph/error.h>
#include <fmt/format.h>

namespace duet::cpu {
namespace {

constexpr size_t kAlign = 64;
constexpr int kMinClassLog = 6;    // 64 bytes
constexpr int kMaxClassLog = 20;   // 1 MiB
constexpr int kNumClasses = kMaxClassLog - kMinClassLog + 1;
constexpr size_t kMaxPerClass = 256;
constexpr size_t kLargeGranule = size_t(64) << 10;
// The large pool's bound: 4 GiB, or DUET_ALLOCATOR_CACHE_MB (0 caches none).
size_t max_cached_large() {
  static const size_t bytes = [] {
    const char* v = std::getenv("DUET_ALLOCATOR_CACHE_MB");
    char* end = nullptr;
    unsigned long long mb = v && *v ? std::strtoull(v, &end, 10) : 4096;
    if (v && *v && *end) mb = 4096;  // not a number: the default
    return static_cast<size_t>(mb) << 20;
  }();
  return bytes;
}

int size_class(size_t bytes) {
  int c = kMinClassLog;
  while ((size_t(1) << c) < bytes) ++c;
  return c - kMinClassLog;
}

void release_large_pool();

// When the system says no, the cached large blocks go back and it is asked
// once more; then an OutOfMemoryError, which the op or function that asked
// completes with its name, the result type and the user's line.
void* system_alloc(size_t bytes) {
  void* p = std::aligned_alloc(kAlign, bytes);
  if (!p) {
    release_large_pool();
    p = std::aligned_alloc(kAlign, bytes);
  }
  if (!p) throw OutOfMemoryError(fmt::format("out of memory on cpu: could not allocate {} bytes", bytes));
  return p;
}

// 0: not built yet, 1: alive, 2: destroyed (thread exit). Trivially
// destructible, so it stays readable after the cache itself is gone.
thread_local int t_small_state = 0;

struct SmallCache {
  std::vector<void*> lists[kNumClasses];
  SmallCache() { t_small_state = 1; }
  ~SmallCache() {
    t_small_state = 2;
    for (auto& l : lists)
      for (void* p : l) std::free(p);
  }
};
thread_local SmallCache t_small;

struct LargePool {
  std::mutex mu;
  std::deque<std::pair<size_t, void*>> blocks;  // oldest first
  size_t bytes = 0;
};
LargePool& large_pool() {
  static auto* pool = new LargePool;  // never destroyed: blocks may be freed at exit
  return *pool;
}

void release_large_pool() {
  LargePool& pool = large_pool();
  std::deque<std::pair<size_t, void*>> drop;
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    drop.swap(pool.blocks);
    pool.bytes = 0;
  }
  for (auto& [n, q] : drop) std::free(q);
}

}  // namespace

void* alloc(size_t bytes, size_t* block_bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (size_t(1) << kMaxClassLog)) {
    int c = size_class(bytes);
    *block_bytes = size_t(1) << (c + kMinClassLog);
    if (t_small_state == 2) return system_alloc(*block_bytes);
    auto& list = t_small.lists[c];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      return p;
    }
    return system_alloc(*block_bytes);
  }
  size_t rounded = (bytes + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
  *block_bytes = rounded;
  LargePool& pool = large_pool();
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    for (auto it = pool.blocks.begin(); it != pool.blocks.end(); ++it) {
      if (it->first == rounded) {
        void* p = it->second;
        pool.bytes -= rounded;
        pool.blocks.erase(it);
        return p;
      }
    }
  }
  return system_alloc(rounded);
}

void free(void* p, size_t block_bytes) {
  if (block_bytes <= (size_t(1) << kMaxClassLog)) {
    if (t_small_state == 2) {
      std::free(p);
      return;
    }
    auto& list = t_small.lists[size_class(block_bytes)];
    if (list.size() < kMaxPerClass) {
      list.push_back(p);
      return;
    }
    std::free(p);
    return;
  }
  LargePool& pool = large_pool();
  std::vector<void*> drop;
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.blocks.emplace_back(block_bytes, p);
    pool.bytes += block_bytes;
    while (pool.bytes > max_cached_large() && !pool.blocks.empty()) {
      pool.bytes -= pool.blocks.front().first;
      drop.push_back(pool.blocks.front().second);
      pool.blocks.pop_front();
    }
  }
  for (void* q : drop) std::free(q);
}

size_t cached_bytes() {
  size_t n = 0;
  for (int c = 0; c < kNumClasses && t_small_state != 2; ++c) n += t_small.lists[c].size() << (c + kMinClassLog);
  LargePool& pool = large_pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  return n + pool.bytes;
}

void empty_cache() {
  for (auto& l : t_small.lists) {
    for (void* p : l) std::free(p);
    l.clear();
  }
  LargePool& pool = large_pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  for (auto& [n, p] : pool.blocks) std::free(p);
  pool.blocks.clear();
  pool.bytes = 0;
}

}  // namespace duet::cpu

namespace duet {

namespace {
// The header is placed at the start of the block; data starts one alignment
// unit later so it stays 64-byte aligned.
constexpr size_t kHeader = 64;
static_assert(sizeof(Storage) <= kHeader);
}  // namespace

Storage* Storage::allocate(size_t bytes, Device device) {
  if (device.type == Device::Type::cuda) {  // the header on the host, the data on the device
    cuda::Block b = cuda::device_alloc(bytes, device.index);
    Storage* s = nullptr;
    try {
      s = borrow(b.ptr, bytes, device);
    } catch (...) {
      cuda::device_free(b);
      throw;
    }
    s->owned_ = true;
    s->device_bytes_ = b.bytes;
    return s;
  }
  size_t block = 0;
  void* p = cpu::alloc(kHeader + bytes, &block);
  auto* s = new (p) Storage;
  s->device_ = device;
  s->data_ = static_cast<char*>(p) + kHeader;
  s->bytes_ = bytes;
  s->block_bytes_ = block;
  return s;
}

Storage* Storage::borrow(void* data, size_t bytes, Device device) {
  size_t block = 0;
  void* p = cpu::alloc(kHeader, &block);
  auto* s = new (p) Storage;
  s->owned_ = false;
  s->device_ = device;
  s->data_ = data;
  s->bytes_ = bytes;
  s->block_bytes_ = block;
  return s;
}

void Storage::destroy() {
  if (device_bytes_) cuda::device_free(cuda::Block{data_, device_bytes_, device_.index});
  size_t block = block_bytes_;
  this->~Storage();
  cpu::free(this, block);
}

}  // namespace duet
