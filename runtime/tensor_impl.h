// TensorImpl: what a Tensor handle points at. Internal to duet's layers.
#pragma once

#include <atomic>

#include <duet/backends/storage.h>
#include <duet/graph/error.h>
#include <duet/graph/types.h>

namespace duet {

class TensorImpl {
 public:
  // A new concrete tensor with fresh (uninitialised) storage.
  static TensorImpl* create(const TensorType& type, Device device);
  // The same for the result of `op` (a static type checked by
  // type_size_problem): an allocation that fails is an OutOfMemoryError
  // naming op, the type, its bytes and the caller's line.
  static TensorImpl* create_result(const char* op, const TensorType& type, Device device, SrcLoc loc);
  // A tensor of `type` over existing storage (retains it).
  static TensorImpl* create_view(const TensorType& type, Storage* storage);
  // A symbolic tensor of a trace: a type and the IR value it stands for, no storage.
  static TensorImpl* create_symbolic(const TensorType& type, void* symbol, uint64_t trace_id);

  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  int32_t use_count() const { return refs_.load(std::memory_order_acquire); }

  TensorType type;
  Storage* storage = nullptr;
  // Set while tracing: the symbolic value this tensor stands for (no storage),
  // and the id of the trace it belongs to (checked before `symbol` is used:
  // a symbolic tensor may outlive its trace's graph).
  void* symbol = nullptr;
  uint64_t trace_id = 0;
  // The op and the user's line that made a concrete tensor, for errors that
  // cannot know their caller's line (a tensor used as a C++ bool).
  const char* made_by = nullptr;
  SrcLoc made_at;

  void* data() const { return storage ? storage->data() : nullptr; }
  template <class T> T* ptr() const { return static_cast<T*>(data()); }
  Device device() const { return storage ? storage->device() : device_; }

 private:
  TensorImpl() = default;
  static TensorImpl* allocate(const TensorType& type);
  void destroy();
  std::atomic<int32_t> refs_{1};
  size_t block_bytes_ = 0;
  Device device_;
};

}  // namespace duet
