// Storage: a reference-counted device buffer. Tensors share one when they
// view the same data (reshape); tensors are immutable, so sharing is never
// visible to users. NOTE [Storage and the caching allocator] in
// backends/cpu/allocator.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <duet/graph/types.h>

namespace duet {

class Storage {
 public:
  // A new buffer of `bytes` on `device`, with one reference.
  static Storage* allocate(size_t bytes, Device device);
  // A buffer over memory owned elsewhere (never freed by duet); one reference.
  static Storage* borrow(void* data, size_t bytes, Device device);

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  int32_t use_count() const { return refs_.load(std::memory_order_relaxed); }
  bool owned() const { return owned_; }  // false for borrowed memory

 private:
  Storage() = default;
  void destroy();
  std::atomic<int32_t> refs_{1};
  bool owned_ = true;
  Device device_;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  size_t block_bytes_ = 0;   // the header's host block
  size_t device_bytes_ = 0;  // a CUDA storage's device block (NOTE [Device memory])
};

}  // namespace duet
