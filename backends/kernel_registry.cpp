// The kernel table: one slot per (op id, device type), read on every eager op.
#include <duet/backends/kernel.h>

#include <duet/backends/cuda/host_fallback.h>
#include <duet/backends/target.h>

#include <algorithm>
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
  // A slot for every op there is: the eager CUDA kernels register while
  // other threads may run ops (NOTE [Eager CUDA kernels on first use] in
  // runtime/device.cpp), so the table must not move then. Every op is
  // registered before any kernel (graph's initializers run first).
  if (t.size() <= slot) t.resize(std::max(slot + kDeviceTypes, OpRegistry::get().all().size() * kDeviceTypes), nullptr);
  t[slot] = fn;
}

void register_kernel(const char* op_name, Device::Type device, KernelFn fn) {
  register_kernel(op_def(op_name), device, fn);
}

KernelFn find_kernel(int op_id, Device::Type device) {
  const auto& t = table();
  size_t slot = static_cast<size_t>(op_id) * kDeviceTypes + static_cast<int>(device);
  KernelFn fn = slot < t.size() ? t[slot] : nullptr;
  // An op without a CUDA kernel runs on the host (NOTE [Ops without a CUDA kernel]).
  if (!fn && device == Device::Type::cuda && find_kernel(op_id, Device::Type::cpu)) return &cuda::host_fallback;
  return fn;
}

// Runs a CPU kernel on constant operands: every target's constant evaluator
// (backends/target.h).
bool evaluate_on_cpu(const OpDef& op, const std::vector<const DenseData*>& operands, const Attrs& attrs,
                     const std::vector<TensorType>& result_types, std::vector<DenseData>* results) {
  KernelFn fn = find_kernel(op.id(), Device::Type::cpu);
  if (!fn || result_types.size() > 2) return false;
  if (op.has(kView)) {  // reshape, expand_dims, squeeze: the same bytes under the result's shape
    if (operands.empty() || result_types.size() != 1 || operands[0]->dtype != result_types[0].dtype) return false;
    results->assign(1, DenseData{result_types[0].dtype, result_types[0].shape, operands[0]->bytes});
    return true;
  }
  std::vector<KernelTensor> in;
  for (const DenseData* d : operands)
    in.push_back(KernelTensor{const_cast<uint8_t*>(d->bytes.data()), d->dtype, &d->shape, nullptr});
  results->clear();
  results->resize(result_types.size());
  KernelTensor out[2];
  for (size_t i = 0; i < result_types.size(); ++i) {
    DenseData& r = (*results)[i];
    r.dtype = result_types[i].dtype;
    r.shape = result_types[i].shape;
    r.bytes.resize(static_cast<size_t>(r.shape.numel()) * dtype_size(r.dtype));
    out[i] = KernelTensor{r.bytes.data(), r.dtype, &r.shape, nullptr};
  }
  try {
    KernelContext ctx{op, attrs, SrcLoc(), in.data(), static_cast<int>(in.size()), out,
                      static_cast<int>(result_types.size())};
    fn(ctx);
  } catch (const Error&) {
    return false;  // e.g. an out-of-range gather index: left for run time to report
  }
  return true;
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
