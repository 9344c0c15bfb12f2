// The kernel table: one slot per (op id, device type), read on every eager op.
#include <duet/backends/kernel.h>

#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace duet {
namespace {
constexpr int kDeviceTypes = 2;
std::vector<KernelFn>& table() {
  static auto* t = new std::vector<KernelFn>;  // never destroyed
  return *t;
}
std::atomic<int> g_num_threads{0};
}  // namespace

void register_kernel(const OpDef& op, Device::Type device, KernelFn fn) {
  auto& t = table();
  size_t slot = static_cast<size_t>(op.id()) * kDeviceTypes + static_cast<int>(device);
  if (t.size() <= slot) t.resize(slot + kDeviceTypes, nullptr);
  t[slot] = fn;
}

void register_kernel(const char* op_name, Device::Type device, KernelFn fn) {
  register_kernel(op_def(op_name), device, fn);
}

KernelFn find_kernel(int op_id, Device::Type device) {
  const auto& t = table();
  size_t slot = static_cast<size_t>(op_id) * kDeviceTypes + static_cast<int>(device);
  return slot < t.size() ? t[slot] : nullptr;
}

void KernelContext::error(const std::string& what) const { throw Error(format_error(op.name(), what, loc)); }

int num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
#ifdef _OPENMP
  return n > 0 ? n : omp_get_max_threads();
#else
  return n > 0 ? n : 1;
#endif
}

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: n must be >= 1, got " + std::to_string(n));
  g_num_threads.store(n, std::memory_order_relaxed);
#ifdef _OPENMP
  omp_set_num_threads(n);  // for libraries (oneDNN) that read the OpenMP default
#endif
}

}  // namespace duet
