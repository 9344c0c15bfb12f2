// CUDA kernels that need no generated code: views, concat and slice as
// device copies, and the host fallback for ops without a CUDA kernel.
//
// NOTE [Ops without a CUDA kernel]
// Every op runs on a CUDA device: find_kernel(op, cuda) returns host_fallback
// for an op that has a CPU kernel and no CUDA one (kernel_registry.cpp). The
// fallback copies the operands to the host (waiting for the device), runs the
// CPU kernel, and queues the results' copies back. It gives the CPU's exact
// answer, at the price of a device round trip; docs/cuda.md lists the ops
// that take it (a test keeps that list honest), so a user knows which ops to
// keep off a hot GPU path. Views (reshape, expand_dims, squeeze,
// stop_gradient) alias their operand on any device (cpu/shape_ops.cpp
// registers them for both); concat, slice and the rows gather picks are row
// copies on the device.
#include <duet/backends/cuda/host_fallback.h>

#include <algorithm>
#include <vector>

#include <duet/backends/cpu/loops.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/graph/error.h>

namespace duet::cuda {

namespace {

size_t bytes_of(const KernelTensor& t) { return static_cast<size_t>(t.numel()) * dtype_size(t.dtype); }

struct HostCopy {
  Storage* storage = nullptr;
  ~HostCopy() {
    if (storage) storage->release();
  }
};

}  // namespace

void host_fallback(KernelContext& ctx) {
  KernelFn cpu = find_kernel(ctx.op.id(), Device::Type::cpu);
  if (!cpu) throw DeviceError(format_error(ctx.op.name(), "has no kernel on cuda or on the CPU", ctx.loc));
  const int dev = ctx.device.index;
  std::vector<HostCopy> held(static_cast<size_t>(ctx.num_inputs + ctx.num_outputs));
  std::vector<KernelTensor> in(static_cast<size_t>(ctx.num_inputs)), out(static_cast<size_t>(ctx.num_outputs));
  for (int i = 0; i < ctx.num_inputs; ++i) {
    const KernelTensor& d = ctx.in(i);
    Storage* h = Storage::allocate(bytes_of(d), Device::cpu());
    held[static_cast<size_t>(i)].storage = h;
    copy_to_host(h->data(), d.data, bytes_of(d), dev);
    in[static_cast<size_t>(i)] = KernelTensor{h->data(), d.dtype, d.shape, h};
  }
  for (int i = 0; i < ctx.num_outputs; ++i) {
    const KernelTensor& d = ctx.out(i);
    Storage* h = Storage::allocate(bytes_of(d), Device::cpu());
    held[static_cast<size_t>(ctx.num_inputs + i)].storage = h;
    out[static_cast<size_t>(i)] = KernelTensor{h->data(), d.dtype, d.shape, h};
  }
  KernelContext host{ctx.op,  ctx.attrs,       ctx.loc, in.data(), ctx.num_inputs, out.data(), ctx.num_outputs,
                     Device::cpu()};
  cpu(host);
  // Pageable sources: each copy returns once its source has been read, so
  // the host buffers may go when this returns.
  for (int i = 0; i < ctx.num_outputs; ++i)
    copy_to_device(ctx.out(i).data, out[static_cast<size_t>(i)].data, bytes_of(ctx.out(i)), dev);
}

bool runs_on_host(int op_id) { return find_kernel(op_id, Device::Type::cuda) == &host_fallback; }

namespace {

int axis_attr(const KernelContext& ctx, int rank) {
  int64_t a = ctx.attrs.get_int("axis");
  return static_cast<int>(a < 0 ? a + rank : a);
}

// Each input is `outer` rows of (its axis length x inner) elements, copied
// side by side into the result's rows.
void concat_kernel(KernelContext& ctx) {
  const Shape& out = *ctx.out(0).shape;
  int axis = axis_attr(ctx, out.rank());
  int64_t outer = cpu::prod(out, 0, axis), inner = cpu::prod(out, axis + 1, out.rank());
  size_t esize = dtype_size(ctx.out(0).dtype);
  size_t out_row = static_cast<size_t>(out.dim(axis) * inner) * esize;
  size_t col = 0;
  for (int k = 0; k < ctx.num_inputs; ++k) {
    size_t chunk = static_cast<size_t>(ctx.in(k).shape->dim(axis) * inner) * esize;
    if (chunk == 0) continue;
    copy_rows_on_device(static_cast<char*>(ctx.out(0).data) + col, out_row, ctx.in(k).data, chunk, chunk,
                        static_cast<size_t>(outer), ctx.device.index);
    col += chunk;
  }
}

void slice_kernel(KernelContext& ctx) {
  const Shape& in = *ctx.in(0).shape;
  int axis = axis_attr(ctx, in.rank());
  int64_t n = in.dim(axis), begin = ctx.attrs.get_int("begin");
  if (begin < 0) begin += n;
  begin = std::clamp<int64_t>(begin, 0, n);
  int64_t len = ctx.out(0).shape->dim(axis);
  int64_t outer = cpu::prod(in, 0, axis), inner = cpu::prod(in, axis + 1, in.rank());
  size_t esize = dtype_size(ctx.in(0).dtype);
  size_t width = static_cast<size_t>(len * inner) * esize;
  if (width == 0) return;
  copy_rows_on_device(ctx.out(0).data, width, static_cast<const char*>(ctx.in(0).data) + begin * inner * esize,
                      static_cast<size_t>(n * inner) * esize, width, static_cast<size_t>(outer), ctx.device.index);
}

// The indices are read and checked on the host, as the CPU does (an
// out-of-range index is the op's error): a copy of them and one wait. The
// rows they pick are device copies, one 2-D copy per index.
void gather_kernel(KernelContext& ctx) {
  const KernelTensor& indices = ctx.in(1);
  const int dev = ctx.device.index;
  HostCopy host{Storage::allocate(bytes_of(indices), Device::cpu())};
  copy_to_host(host.storage->data(), indices.data, bytes_of(indices), dev);
  const cpu::IndexedAxis ax = cpu::indexed_axis(
      ctx, *ctx.in(0).shape, KernelTensor{host.storage->data(), indices.dtype, indices.shape, host.storage});
  const size_t row = static_cast<size_t>(ax.inner) * dtype_size(ctx.in(0).dtype);
  const size_t count = ax.idx.size();
  if (row == 0 || ax.outer == 0) return;
  for (size_t i = 0; i < count; ++i)
    copy_rows_on_device(static_cast<char*>(ctx.out(0).data) + i * row, count * row,
                        static_cast<const char*>(ctx.in(0).data) + static_cast<size_t>(ax.idx[i]) * row,
                        static_cast<size_t>(ax.n) * row, row, static_cast<size_t>(ax.outer), dev);
}

#ifdef DUET_WITH_CUDA
DUET_REGISTER_KERNEL(gather, cuda, gather_kernel);
DUET_REGISTER_KERNEL(concat, cuda, concat_kernel);
DUET_REGISTER_KERNEL(slice, cuda, slice_kernel);
#endif

}  // namespace

}  // namespace duet::cuda
