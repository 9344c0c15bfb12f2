// Generated GPU kernels at run time, and the eager CUDA kernels built on them.
//
// NOTE [GPU kernels at run time]
// A GPU kernel is generated from a BodySpec by ptx::generate (NOTE [GPU
// kernels]) for the architecture of the device it runs on (sm_80, sm_90:
// cudaDevAttrComputeCapability*), loaded into that device with
// cudaLibraryLoadData, and kept for the life of the process in a map keyed
// by the body's key, the iteration space's rank and the architecture: the
// same kernel serves every shape of that rank. The driver turns PTX into
// machine code and keeps its own cache of that on disk, so duet does not
// write PTX to its disk cache; LLVM generates a kernel once per process.
//
// The eager CUDA kernels of every elementwise op (one scalar definition,
// DESIGN.md §2.1: the body is the op alone, its operands broadcast through
// strides), of sum, mean, max and min (as the CPU does them: one reduction
// per run of adjacent reduced axes, last run first, each [outer, r, inner]
// as a row reduction over a rank-3 space [outer, inner, r]), and of
// transpose, broadcast_to and broadcast_like (a body that yields its
// parameter, read through permuted or zero strides), of argmax (two
// reductions, argmax_kernel) and of one_hot (a comparison with an index
// vector) are registered here, by register_eager_kernels (eager_kernels.h).
// What they cannot express runs on the host (NOTE [Ops without a CUDA
// kernel]): b8 and integer means, reductions over empty axes, rank > 8.
#include <duet/codegen/gpu/kernels.h>
#include <duet/codegen/gpu/eager_kernels.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include <duet/backends/cpu/loops.h>
#include <duet/backends/cuda/device.h>
#include <duet/backends/cuda/host_fallback.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/backends/storage.h>
#include <duet/codegen/gpu/ptx.h>
#include <duet/graph/error.h>
#include <duet/graph/ops/infer_util.h>

namespace duet::codegen::gpu {

namespace {

constexpr unsigned kBlock = 256;  // the row reductions need exactly this (NOTE [GPU kernels])
constexpr int64_t kMaxGrid = 1 << 16;

struct Cache {
  std::mutex mu;
  std::map<std::string, void*> kernels;  // key -> cudaKernel_t
  Stats stats;
};
Cache& cache() {
  static auto* c = new Cache;  // never destroyed: loaded code stays for the process
  return *c;
}

// The architecture PTX is generated for: the device's, or the newest LLVM 16
// knows (sm_90, PTX ISA 7.8) for a newer device, whose driver compiles that
// PTX forward.
std::string target_arch(int device) { return "sm_" + std::to_string(std::min(cuda::compute_capability(device), 90)); }

void* kernel_for(const BodySpec& body, const std::string& key, int rank, int device) {
  const std::string arch = cuda::arch_name(device);
  const std::string full = fmt::format("{}|rank {}|{}|cuda:{}", key, rank, arch, device);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);  // generation is rare; one at a time keeps it simple
  auto it = c.kernels.find(full);
  if (it != c.kernels.end()) return it->second;
  const std::string name = fmt::format("duet_gpu_{:016x}", std::hash<std::string>{}(full));
  std::string ptx = ptx::generate({ptx::KernelSpec{name, body, rank}}, target_arch(device));
  ++c.stats.generated;
  void* lib = cuda::load_ptx(ptx, device);
  ++c.stats.loaded;
  void* k = cuda::get_kernel(lib, name);
  c.kernels.emplace(full, k);
  return k;
}

int64_t rows_of(const std::vector<int64_t>& dims) {
  int64_t r = 1;
  for (size_t d = 0; d + 1 < dims.size(); ++d) r *= dims[d];
  return r;
}

}  // namespace


std::string body_key(const BodySpec& b) {
  std::string k = "(";
  for (DType t : b.params) k += std::string(dtype_name(t)) + ",";
  k += ")";
  for (const auto& op : b.ops) {
    k += fmt::format(" {}(", op.name);
    for (int v : op.in) k += fmt::format("%{},", v);
    k += fmt::format("):{}->{};", dtype_name(op.operand), dtype_name(op.result));
  }
  k += " yield";
  for (int y : b.yields) k += fmt::format(" %{}", y);
  if (b.reduction_yield >= 0) k += fmt::format(" reduce {}{}", b.reduction_yield, b.columns ? " columns" : " rows");
  return k;
}

void run(const BodySpec& body, const Launch& l, int device) {
  const std::string key = body_key(body);
  const int rank = static_cast<int>(l.dims.size());
  DUET_CHECK(rank >= 1 && rank <= kMaxGpuRank, "gpu::run: rank out of range");
  DUET_CHECK(l.ptrs.size() == body.params.size() + body.yields.size() && l.strides.size() == body.params.size(),
             "gpu::run: operands do not match the body");
  int64_t n = 1;
  for (int64_t d : l.dims) n *= d;
  // The threads' work items: elements, rows or columns. A reduction over an
  // empty axis still writes its identity (as on the CPU), so it launches
  // while it has rows or columns.
  int64_t units = n;
  const bool rows = body.reduction_yield >= 0 && !body.columns;
  if (rows) units = n == 0 ? rows_of(l.dims) : n / l.dims.back();
  if (body.reduction_yield >= 0 && body.columns) units = l.dims.back();
  if (units == 0) return;
  void* k = kernel_for(body, key, rank, device);
  // The parameters in the kernel's order (ptx.h): pointers, n, dims, strides.
  std::vector<void*> ptrs = l.ptrs;
  std::vector<int64_t> scalars{n};
  scalars.insert(scalars.end(), l.dims.begin(), l.dims.end());
  for (const auto& s : l.strides) scalars.insert(scalars.end(), s.begin(), s.end());
  std::vector<void*> args;
  for (void*& p : ptrs) args.push_back(&p);
  for (int64_t& s : scalars) args.push_back(&s);
  const int64_t grid = rows ? std::min(units, kMaxGrid) : std::min((units + kBlock - 1) / kBlock, kMaxGrid);
  cuda::launch(k, static_cast<unsigned>(std::max<int64_t>(grid, 1)), kBlock, args.data(), 0, device);
  std::lock_guard<std::mutex> lock(cache().mu);
  ++cache().stats.launches;
}

Stats stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().stats;
}

namespace {

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(static_cast<size_t>(s.rank()));
  int64_t k = 1;
  for (int d = s.rank() - 1; d >= 0; --d) {
    st[static_cast<size_t>(d)] = k;
    k *= s.dim(d);
  }
  return st;
}

}  // namespace

std::vector<int64_t> launch_strides(const Shape& in, const Shape& space) {
  std::vector<int64_t> st = broadcast_strides(in, space);
  if (st.empty()) st.push_back(0);  // a rank-0 space is one element
  return st;
}

namespace {

std::vector<int64_t> space_of(const Shape& s) {
  std::vector<int64_t> dims(s.begin(), s.end());
  if (dims.empty()) dims.push_back(1);
  return dims;
}


// One elementwise op over its broadcast operands.
void elementwise_kernel(KernelContext& ctx) {
  const Shape& out = *ctx.out(0).shape;
  if (out.rank() > kMaxGpuRank) return cuda::host_fallback(ctx);
  BodySpec body;
  BodySpec::Op op;
  op.scalar = ctx.op.scalar_op();
  op.name = ctx.op.name();
  for (int i = 0; i < ctx.num_inputs; ++i) {
    body.params.push_back(ctx.in(i).dtype);
    op.in.push_back(i);
  }
  op.operand = ctx.in(op.scalar == ScalarOp::where ? 1 : 0).dtype;
  op.result = ctx.out(0).dtype;
  body.ops.push_back(op);
  body.yields = {ctx.num_inputs};
  if (!gpu_refusal(body).empty()) return cuda::host_fallback(ctx);
  Launch l;
  l.dims = space_of(out);
  for (int i = 0; i < ctx.num_inputs; ++i) {
    l.ptrs.push_back(ctx.in(i).data);
    l.strides.push_back(launch_strides(*ctx.in(i).shape, out));
  }
  l.ptrs.push_back(ctx.out(0).data);
  run(body, l, ctx.device.index);
}

// A body that yields its one parameter: a strided copy.
void copy(KernelContext& ctx, std::vector<int64_t> strides) {
  const Shape& out = *ctx.out(0).shape;
  if (out.rank() > kMaxGpuRank) return cuda::host_fallback(ctx);
  BodySpec body;
  body.params = {ctx.in(0).dtype};
  body.yields = {0};
  Launch l;
  l.dims = space_of(out);
  l.ptrs = {ctx.in(0).data, ctx.out(0).data};
  if (strides.empty()) strides.push_back(0);  // rank 0: one element
  l.strides = {std::move(strides)};
  run(body, l, ctx.device.index);
}

void broadcast_kernel(KernelContext& ctx) { copy(ctx, launch_strides(*ctx.in(0).shape, *ctx.out(0).shape)); }

void transpose_kernel(KernelContext& ctx) {
  const Shape& in = *ctx.in(0).shape;
  const std::vector<int64_t>& perm = ctx.attrs.get_ints("perm");
  std::vector<int64_t> own = contiguous_strides(in), st;
  for (int64_t p : perm) st.push_back(own[static_cast<size_t>(p < 0 ? p + in.rank() : p)]);
  copy(ctx, st);
}

// sum, mean, max, min: runs of adjacent reduced axes, last run first.
void reduce_kernel(KernelContext& ctx) {
  const DType dt = ctx.in(0).dtype;
  const std::string& name = ctx.op.name();
  const Shape& in = *ctx.in(0).shape;
  if (dt == DType::b8 || (name == "mean" && !is_floating(dt)) || in.rank() > kMaxGpuRank)
    return cuda::host_fallback(ctx);
  std::vector<int> axes = reduction_axes(ctx.attrs.get_ints("axes"), in.rank());
  std::vector<int64_t> dims(in.begin(), in.end());
  std::vector<bool> reduced(dims.size(), false);
  for (int a : axes) {
    if (dims[static_cast<size_t>(a)] == 0) return cuda::host_fallback(ctx);  // an empty reduction: the CPU's identity
    reduced[static_cast<size_t>(a)] = true;
  }
  const int dev = ctx.device.index;
  const size_t esize = dtype_size(ctx.out(0).dtype);
  const void* src = ctx.in(0).data;
  struct Held {  // the previous run's result, when it was not the last
    Storage* s = nullptr;
    void reset(Storage* next) {
      if (s) s->release();  // queued before anything that reuses it (NOTE [One stream per device])
      s = next;
    }
    ~Held() { reset(nullptr); }
  } held;
  bool any = false;
  int d = static_cast<int>(dims.size()) - 1;
  while (d >= 0) {
    if (!reduced[static_cast<size_t>(d)]) { --d; continue; }
    const int end = d;
    while (d >= 0 && reduced[static_cast<size_t>(d)]) --d;
    const int begin = d + 1;
    int64_t outer = 1, r = 1, inner = 1;
    for (int i = 0; i < begin; ++i) outer *= dims[static_cast<size_t>(i)];
    for (int i = begin; i <= end; ++i) r *= dims[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(end) + 1; i < dims.size(); ++i) inner *= dims[i];
    bool last = true;
    for (int i = 0; i < begin; ++i) last = last && !reduced[static_cast<size_t>(i)];
    Held next;
    if (!last) next.reset(Storage::allocate(static_cast<size_t>(outer * inner) * esize, ctx.device));
    BodySpec body;
    body.params = {dt};
    body.ops.push_back(BodySpec::Op{ScalarOp::none, name, {0}, dt, ctx.out(0).dtype});
    body.yields = {1};
    body.reduction_yield = 0;
    Launch l;
    l.dims = {outer, inner, r};
    l.ptrs = {const_cast<void*>(src), next.s ? next.s->data() : ctx.out(0).data};
    l.strides = {{r * inner, 1, inner}};
    run(body, l, dev);
    held.reset(std::exchange(next.s, nullptr));
    src = held.s ? held.s->data() : nullptr;
    any = true;
    for (int i = begin; i <= end; ++i) dims[static_cast<size_t>(i)] = 1;
  }
  if (!any) cuda::copy_on_device(ctx.out(0).data, ctx.in(0).data, static_cast<size_t>(ctx.out(0).numel()) * esize, dev);
}

// An index vector 0, 1, ..., n - 1 (then `extra` more) on the device, and
// its storage's release once the kernels using it are queued.
struct DeviceIota {
  Storage* s;
  DeviceIota(int64_t n, int64_t extra, Device d)
      : s(Storage::allocate(static_cast<size_t>(n + extra) * sizeof(int64_t), d)) {
    std::vector<int64_t> iota(static_cast<size_t>(n + extra));
    for (size_t k = 0; k < iota.size(); ++k) iota[k] = static_cast<int64_t>(k);
    cuda::copy_to_device(s->data(), iota.data(), iota.size() * sizeof(int64_t), d.index);
  }
  ~DeviceIota() { s->release(); }  // NOTE [One stream per device]
  char* at(int64_t k) const { return static_cast<char*>(s->data()) + k * static_cast<int64_t>(sizeof(int64_t)); }
};

// argmax over one axis from generated kernels: m = the max over the axis,
// then the min over the axis of where(x == m or x != x, j, n), j the index
// along the axis: the first maximum, or the first NaN, as the CPU's argmax.
void argmax_kernel(KernelContext& ctx) {
  const DType dt = ctx.in(0).dtype;
  const Shape& in = *ctx.in(0).shape;
  const int64_t attr = ctx.attrs.get_int("axis");
  const int axis = static_cast<int>(attr < 0 ? attr + in.rank() : attr);
  if (dt == DType::b8 || in.rank() > kMaxGpuRank || in.dim(axis) == 0) return cuda::host_fallback(ctx);
  int64_t outer = 1, n = in.dim(axis), inner = 1;
  for (int i = 0; i < axis; ++i) outer *= in.dim(i);
  for (int i = axis + 1; i < in.rank(); ++i) inner *= in.dim(i);
  const int dev = ctx.device.index;
  struct Held {
    Storage* s;
    ~Held() { s->release(); }  // after the kernels that use it are queued (NOTE [One stream per device])
  } m{Storage::allocate(static_cast<size_t>(outer * inner) * dtype_size(dt), ctx.device)};
  DeviceIota j(n, 1, ctx.device);  // 0, 1, ..., n - 1, then n
  const std::vector<int64_t> dims{outer, inner, n}, x_strides{n * inner, 1, inner};
  BodySpec max_body;
  max_body.params = {dt};
  max_body.ops.push_back(BodySpec::Op{ScalarOp::none, "max", {0}, dt, dt});
  max_body.yields = {1};
  max_body.reduction_yield = 0;
  run(max_body, Launch{{ctx.in(0).data, m.s->data()}, dims, {x_strides}}, dev);
  auto scalar_op = [](const char* name) { return op_def(name).scalar_op(); };
  BodySpec first;  // params: x, m, j, n
  first.params = {dt, dt, DType::i64, DType::i64};
  first.ops = {{scalar_op("equal"), "equal", {0, 1}, dt, DType::b8},
               {scalar_op("not_equal"), "not_equal", {0, 0}, dt, DType::b8},
               {scalar_op("logical_or"), "logical_or", {4, 5}, DType::b8, DType::b8},
               {ScalarOp::where, "where", {6, 2, 3}, DType::i64, DType::i64},
               {ScalarOp::none, "min", {7}, DType::i64, DType::i64}};
  first.yields = {8};
  first.reduction_yield = 0;
  run(first,
      Launch{{ctx.in(0).data, m.s->data(), j.at(0), j.at(n), ctx.out(0).data},
             dims,
             {x_strides, {inner, 1, 0}, {0, 0, 1}, {0, 0, 0}}},
      dev);
}

// one_hot(labels, depth) as a generated kernel over [labels..., depth]:
// f32(i64(label) == j). Labels are i32 or i64 (one_hot's infer says so), and
// are first read on the host and checked as the CPU does (NOTE [Labels are
// checked] in backends/cpu/reduce.cpp): a copy of them and one wait, like
// gather's indices.
void one_hot_kernel(KernelContext& ctx) {
  const DType lt = ctx.in(0).dtype;
  const Shape& out = *ctx.out(0).shape;
  {
    const size_t bytes = static_cast<size_t>(ctx.in(0).numel()) * dtype_size(lt);
    Storage* host = Storage::allocate(bytes, Device::cpu());
    try {
      if (bytes) cuda::copy_to_host(host->data(), ctx.in(0).data, bytes, ctx.device.index);
      cpu::check_labels(ctx, KernelTensor{host->data(), lt, ctx.in(0).shape, host}, out.dim(out.rank() - 1));
    } catch (...) {
      host->release();
      throw;
    }
    host->release();
  }
  if (out.rank() > kMaxGpuRank) return cuda::host_fallback(ctx);
  const int64_t depth = out.dim(out.rank() - 1);
  DeviceIota j(depth, 0, ctx.device);
  BodySpec body;  // params: label, j
  body.params = {lt, DType::i64};
  int label = 0;
  if (lt != DType::i64) {
    body.ops.push_back({ScalarOp::cast, "cast", {0}, lt, DType::i64});
    label = 2;
  }
  const int eq = static_cast<int>(body.params.size() + body.ops.size());
  body.ops.push_back({op_def("equal").scalar_op(), "equal", {label, 1}, DType::i64, DType::b8});
  body.ops.push_back({ScalarOp::cast, "cast", {eq}, DType::b8, DType::f32});
  body.yields = {eq + 1};
  std::vector<int64_t> label_strides = contiguous_strides(*ctx.in(0).shape), j_strides(static_cast<size_t>(out.rank()), 0);
  label_strides.push_back(0);
  j_strides.back() = 1;
  run(body, Launch{{ctx.in(0).data, j.at(0), ctx.out(0).data}, space_of(out), {label_strides, j_strides}},
      ctx.device.index);
}

}  // namespace

void register_eager_kernels() {
  // A function-local static: one thread registers, the others wait for it.
  static const bool registered = [] {
    if (!cuda::built_with_cuda()) return false;
    for (const OpDef* op : OpRegistry::get().all())
      if (op->scalar_op() != ScalarOp::none) register_kernel(*op, Device::Type::cuda, elementwise_kernel);
    for (const char* name : {"sum", "mean", "max", "min"}) register_kernel(name, Device::Type::cuda, reduce_kernel);
    register_kernel("argmax", Device::Type::cuda, argmax_kernel);
    register_kernel("one_hot", Device::Type::cuda, one_hot_kernel);
    register_kernel("transpose", Device::Type::cuda, transpose_kernel);
    register_kernel("broadcast_to", Device::Type::cuda, broadcast_kernel);
    register_kernel("broadcast_like", Device::Type::cuda, broadcast_kernel);
    return true;
  }();
  (void)registered;
}

}  // namespace duet::codegen::gpu
