// CUDA kernels of the ops the vendor libraries run: matmul and fused_matmul
// on cuBLASLt (blaslt.cpp), conv2d and its two gradients, max_pool2d,
// softmax and log_softmax on cuDNN (dnn.cpp). Built only with the CUDA
// backend; without it this file registers nothing.
//
// NOTE [Vendor kernels on CUDA]
// f32 and f64 run on the libraries; every other dtype, and every shape the
// libraries cannot express (a dim past int32, no algorithm within the
// workspace limit, gradient shapes that are not one convolution's), runs
// through host_fallback: the CPU's answer, slowly, never a different one.
// Empty results do nothing; an empty sum (k = 0, no input channels) is
// zeros. A batched matmul is strided batches, one cuBLASLt call per run of
// batches that is either one matrix for all or one per batch for each
// operand (batch_runs). fused_matmul = act(a @ b + bias [+ bias2]) in the
// CPU's order: cuBLASLt adds the first bias in its epilogue when it is a row
// over the last dim; any other bias is the add op's CUDA kernel, and the
// activation is its op's CUDA kernel, both in place on the product (no
// activation is a cuBLASLt epilogue: lt_epilogue_unsupported says why).
// Those are generated elementwise kernels, which read an element before
// writing it, so in place is safe. A library's error names the op, the
// library call and the library's words.
#include <duet/backends/kernel.h>

#ifdef DUET_WITH_CUDA
#include <string>
#include <vector>

#include <duet/backends/cuda/blaslt.h>
#include <duet/backends/cuda/dnn.h>
#include <duet/backends/cuda/host_fallback.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/graph/error.h>

namespace duet::cuda {
namespace {

bool floating(DType t) { return t == DType::f32 || t == DType::f64; }

size_t bytes_of(const KernelTensor& t) { return static_cast<size_t>(t.numel()) * dtype_size(t.dtype); }

// Runs a library call for ctx's op: a DeviceError from it becomes the op's,
// "op: cuDNN: cudnnConvolutionForward failed: ... (file:line)".
template <class F>
bool library_call(const KernelContext& ctx, F&& call) {
  try {
    return call();
  } catch (const DeviceError& e) {
    throw DeviceError(format_error(ctx.op.name(), e.what(), ctx.loc));
  }
}

void zeros(const KernelContext& ctx, const KernelTensor& t) {
  library_call(ctx, [&] {
    fill_bytes(t.data, 0, bytes_of(t), ctx.device.index);
    return true;
  });
}

// t = op(t) or op(t, other), by op's CUDA kernel, in place (NOTE [Vendor
// kernels on CUDA]).
void in_place(const KernelContext& ctx, const OpDef& op, const KernelTensor& t, const KernelTensor* other) {
  static const Attrs kNoAttrs;
  KernelFn fn = find_kernel(op.id(), Device::Type::cuda);
  DUET_CHECK(fn != nullptr, op.name() + " has no CUDA kernel");
  KernelTensor in[2] = {t, other ? *other : KernelTensor{}};
  KernelTensor out = t;
  KernelContext sub{op, kNoAttrs, ctx.loc, in, other ? 2 : 1, &out, 1, ctx.device};
  fn(sub);
}

// ---- matmul ------------------------------------------------------------------

Shape swapped(const Shape& s) {
  std::vector<int64_t> d = s.vec();
  std::swap(d[d.size() - 1], d[d.size() - 2]);
  return Shape(d);
}

int64_t batch_count(const Shape& s) {
  int64_t n = 1;
  for (int i = 0; i + 2 < s.rank(); ++i) n *= s.dim(i);
  return n;
}

// `count` output batches from `first`, whose a and b matrices start at
// matrix a0 and b0 and advance by one per batch when batched, else stay.
struct BatchRun {
  int64_t first = 0, count = 0, a0 = 0, b0 = 0;
  bool a_batched = false, b_batched = false;
};

// The cuBLASLt calls covering a batched matmul's output. One when each
// operand is one matrix or one per output batch; otherwise ([2,1] x [1,3]
// batches) each operand's matrix offset per output batch, as the CPU's
// matmul computes it, split where the step of either changes.
std::vector<BatchRun> batch_runs(const Shape& as, const Shape& bs, const Shape& cs) {
  const int64_t na = batch_count(as), nb = batch_count(bs), nc = batch_count(cs);
  if ((na == 1 || na == nc) && (nb == 1 || nb == nc)) return {BatchRun{0, nc, 0, 0, na > 1, nb > 1}};
  const int br = cs.rank() - 2;
  std::vector<int64_t> ao, bo;
  for (int64_t bidx = 0; bidx < nc; ++bidx) {
    int64_t rem = bidx, oa = 0, ob = 0, sa = 1, sb = 1;
    for (int d = br - 1; d >= 0; --d) {
      const int64_t i = rem % cs.dim(d);
      rem /= cs.dim(d);
      const int da = d - (br - (as.rank() - 2)), db = d - (br - (bs.rank() - 2));
      const int64_t da_n = da >= 0 ? as.dim(da) : 1, db_n = db >= 0 ? bs.dim(db) : 1;
      if (da_n != 1) oa += i * sa;
      if (db_n != 1) ob += i * sb;
      sa *= da_n;
      sb *= db_n;
    }
    ao.push_back(oa);
    bo.push_back(ob);
  }
  std::vector<BatchRun> runs;
  for (int64_t i = 0; i < nc;) {
    const int64_t step_a = i + 1 < nc ? ao[i + 1] - ao[i] : 0, step_b = i + 1 < nc ? bo[i + 1] - bo[i] : 0;
    int64_t count = 1;
    if ((step_a == 0 || step_a == 1) && (step_b == 0 || step_b == 1))
      while (i + count < nc && ao[i + count] - ao[i + count - 1] == step_a && bo[i + count] - bo[i + count - 1] == step_b)
        ++count;
    runs.push_back(BatchRun{i, count, ao[i], bo[i], count > 1 && step_a == 1, count > 1 && step_b == 1});
    i += count;
  }
  return runs;
}

// c = op(a) x op(b) (+ bias [n] in cuBLASLt's epilogue when bias is set);
// false when cuBLASLt has no algorithm for part of it.
bool product(const KernelContext& ctx, bool ta, bool tb, const void* bias) {
  const KernelTensor &a = ctx.in(0), &b = ctx.in(1), &c = ctx.out(0);
  const Shape as = ta ? swapped(*a.shape) : *a.shape, bs = tb ? swapped(*b.shape) : *b.shape;
  const Shape& cs = *c.shape;
  const int64_t m = cs[-2], n = cs[-1], k = as[-1];
  const int64_t esize = static_cast<int64_t>(dtype_size(c.dtype));
  for (const BatchRun& r : batch_runs(as, bs, cs)) {
    LtMatmulSpec spec;
    spec.dtype = c.dtype;
    spec.m = m, spec.n = n, spec.k = k, spec.batch = r.count;
    spec.a_batched = r.a_batched, spec.b_batched = r.b_batched;
    spec.epilogue = bias ? LtEpilogue::bias : LtEpilogue::none;
    spec.a_transposed = ta, spec.b_transposed = tb;
    LtOperands p;
    p.a = static_cast<const char*>(a.data) + r.a0 * m * k * esize;
    p.b = static_cast<const char*>(b.data) + r.b0 * k * n * esize;
    p.c = static_cast<char*>(c.data) + r.first * m * n * esize;
    p.bias = bias;
    if (!library_call(ctx, [&] { return lt_matmul(spec, p, ctx.device.index); })) return false;
  }
  return true;
}

void matmul_kernel(KernelContext& ctx) {
  const KernelTensor& c = ctx.out(0);
  if (!floating(c.dtype)) return host_fallback(ctx);
  if (c.numel() == 0) return;
  if ((*ctx.in(0).shape)[-1] == 0) return zeros(ctx, c);  // the sum of nothing
  if (!product(ctx, false, false, nullptr)) host_fallback(ctx);
}

bool flag(const KernelContext& ctx, const char* name) { return ctx.attrs.has(name) && ctx.attrs.get_bool(name); }

const OpDef& activation_op(const KernelContext& ctx, const std::string& name) {
  static const OpDef &relu = op_def("relu"), &tanh = op_def("tanh"), &sigmoid = op_def("sigmoid"),
                     &gelu = op_def("gelu");
  if (name == "relu") return relu;
  if (name == "tanh") return tanh;
  if (name == "sigmoid") return sigmoid;
  if (name == "gelu") return gelu;
  ctx.error("unknown activation '" + name + "'");
}

// A bias cuBLASLt's epilogue adds: one value per column n, the same for
// every row and batch ([n], [1,n], ...).
bool row_bias(const KernelTensor& bias, int64_t n) {
  const Shape& s = *bias.shape;
  return s.rank() > 0 && s[-1] == n && s.numel() == n;
}

// fused_matmul(a, b[, bias[, bias2]]) {activation, transpose_a, transpose_b}
// (NOTE [Vendor kernels on CUDA]).
void fused_matmul_kernel(KernelContext& ctx) {
  const KernelTensor& c = ctx.out(0);
  if (!floating(c.dtype)) return host_fallback(ctx);
  if (c.numel() == 0) return;
  const std::string& activation = ctx.attrs.get_string("activation");
  const bool ta = flag(ctx, "transpose_a"), tb = flag(ctx, "transpose_b");
  const KernelTensor* bias = ctx.num_inputs >= 3 ? &ctx.inputs[2] : nullptr;
  const KernelTensor* bias2 = ctx.num_inputs == 4 ? &ctx.inputs[3] : nullptr;
  const Shape& as = *ctx.in(0).shape;
  bool lt_bias = bias && row_bias(*bias, (*c.shape)[-1]);
  if ((ta ? as[-2] : as[-1]) == 0) {  // the sum of nothing
    zeros(ctx, c);
    lt_bias = false;
  } else if (!product(ctx, ta, tb, lt_bias ? bias->data : nullptr)) {
    // cuBLASLt may offer no bias epilogue for a configuration it can multiply.
    if (!lt_bias || !product(ctx, ta, tb, nullptr)) return host_fallback(ctx);
    lt_bias = false;
  }
  static const OpDef& add = op_def("add");
  if (bias && !lt_bias) in_place(ctx, add, c, bias);
  if (bias2) in_place(ctx, add, c, bias2);
  if (activation != "none") in_place(ctx, activation_op(ctx, activation), c, nullptr);
}

// ---- cuDNN -------------------------------------------------------------------

// y = conv(x, w) or one of its gradients; the operands and result are the
// op's, (x, w, y) the convolution's shapes.
void convolution(KernelContext& ctx, ConvPass pass, const Shape& x, const Shape& w, const Shape& y) {
  const KernelTensor &in0 = ctx.in(0), &in1 = ctx.in(1), &out = ctx.out(0);
  if (!floating(out.dtype)) return host_fallback(ctx);
  if (out.numel() == 0) return;
  if (in0.numel() == 0 || in1.numel() == 0) return zeros(ctx, out);  // every term of every sum is missing
  const ConvSpec spec{out.dtype, x, w, y, ctx.attrs.get_int("stride"), ctx.attrs.get_int("padding")};
  if (!library_call(ctx, [&] { return cudnn_convolution(pass, spec, in0.data, in1.data, out.data, ctx.device.index); }))
    host_fallback(ctx);
}

void conv2d_kernel(KernelContext& ctx) {
  convolution(ctx, ConvPass::forward, *ctx.in(0).shape, *ctx.in(1).shape, *ctx.out(0).shape);
}

// conv2d_backward_input(dy, w) -> dx
void conv2d_backward_input_kernel(KernelContext& ctx) {
  convolution(ctx, ConvPass::backward_data, *ctx.out(0).shape, *ctx.in(1).shape, *ctx.in(0).shape);
}

// conv2d_backward_filter(x, dy) -> dw
void conv2d_backward_filter_kernel(KernelContext& ctx) {
  convolution(ctx, ConvPass::backward_filter, *ctx.in(0).shape, *ctx.out(0).shape, *ctx.in(1).shape);
}

void max_pool2d_kernel(KernelContext& ctx) {
  const KernelTensor &x = ctx.in(0), &y = ctx.out(0);
  if (!floating(x.dtype)) return host_fallback(ctx);
  if (y.numel() == 0) return;
  const int64_t kernel = ctx.attrs.get_int("kernel"), stride = ctx.attrs.get_int("stride");
  if (!library_call(ctx, [&] {
        return cudnn_max_pool2d(x.dtype, *x.shape, *y.shape, kernel, stride, x.data, y.data, ctx.device.index);
      }))
    host_fallback(ctx);
}

template <bool kLog>
void softmax_kernel(KernelContext& ctx) {
  const KernelTensor &x = ctx.in(0), &y = ctx.out(0);
  if (!floating(x.dtype)) return host_fallback(ctx);
  if (y.numel() == 0) return;
  const Shape& s = *x.shape;
  const int64_t attr = ctx.attrs.get_int("axis");
  const int axis = static_cast<int>(attr < 0 ? attr + s.rank() : attr);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s.dim(i);
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s.dim(i);
  if (!library_call(ctx, [&] {
        return cudnn_softmax(x.dtype, outer, s.dim(axis), inner, kLog, x.data, y.data, ctx.device.index);
      }))
    host_fallback(ctx);
}

// max_pool2d_backward(x, dy) stays on the host: cudnnPoolingBackward also
// needs the forward's result y, which the op does not take.
DUET_REGISTER_KERNEL(matmul, cuda, matmul_kernel);
DUET_REGISTER_KERNEL(fused_matmul, cuda, fused_matmul_kernel);
DUET_REGISTER_KERNEL(conv2d, cuda, conv2d_kernel);
DUET_REGISTER_KERNEL(conv2d_backward_input, cuda, conv2d_backward_input_kernel);
DUET_REGISTER_KERNEL(conv2d_backward_filter, cuda, conv2d_backward_filter_kernel);
DUET_REGISTER_KERNEL(max_pool2d, cuda, max_pool2d_kernel);
DUET_REGISTER_KERNEL(softmax, cuda, softmax_kernel<false>);
DUET_REGISTER_KERNEL(log_softmax, cuda, softmax_kernel<true>);

}  // namespace
}  // namespace duet::cuda
#endif
