// The kernel interface: what dispatch hands a device kernel, and the table of
// kernels by (op, device). Vendor and generated kernels register here against
// the op's name (DESIGN.md §2.1).
#pragma once

#include <duet/backends/storage.h>
#include <duet/graph/op_def.h>

namespace duet {

// One operand or result as a kernel sees it: contiguous, row-major.
struct KernelTensor {
  void* data = nullptr;
  DType dtype = DType::f32;
  const Shape* shape = nullptr;
  Storage* storage = nullptr;  // set by a kView kernel to alias an operand
  template <class T> T* ptr() const { return static_cast<T*>(data); }
  int64_t numel() const { return shape->numel(); }
};

struct KernelContext {
  const OpDef& op;
  const Attrs& attrs;
  SrcLoc loc;
  const KernelTensor* inputs;
  int num_inputs;
  KernelTensor* outputs;
  int num_outputs;
  // Where the operands and results are (all on one device); a CUDA kernel
  // queues its work on this device's stream (NOTE [One stream per device]).
  Device device = Device::cpu();
  const KernelTensor& in(int i) const { return inputs[i]; }
  KernelTensor& out(int i) const { return outputs[i]; }
  // Throws an Error "op: what (file:line)".
  [[noreturn]] void error(const std::string& what) const;
};

using KernelFn = void (*)(KernelContext&);

void register_kernel(const OpDef& op, Device::Type device, KernelFn fn);
void register_kernel(const char* op_name, Device::Type device, KernelFn fn);
// nullptr when the op has no kernel on that device.
KernelFn find_kernel(int op_id, Device::Type device);

// The size of the thread team kernels use (set_num_threads).
int num_threads();
void set_num_threads(int n);

}  // namespace duet

#define DUET_KERNEL_CONCAT2(a, b) a##b
#define DUET_KERNEL_CONCAT(a, b) DUET_KERNEL_CONCAT2(a, b)
// DUET_REGISTER_KERNEL(add, cpu, fn): at static-initialisation time.
#define DUET_REGISTER_KERNEL(op, device, fn)                                          \
  static const bool DUET_KERNEL_CONCAT(duet_kernel_, __COUNTER__) = [] {              \
    ::duet::register_kernel(#op, ::duet::Device::Type::device, fn);                   \
    return true;                                                                      \
  }()
