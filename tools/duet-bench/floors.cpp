// The floors of WORKLOADS.md, measured in the same run as the workloads: a
// STREAM triad for memory-bound ones, oneDNN called directly for matmuls and
// convolutions.
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <duet/duet.h>

#include "workloads.h"

namespace duet::bench {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using DoubleArray = std::unique_ptr<double[], FreeDeleter>;

// One distinct op of a floor: its primitive, inputs, output, and duet's
// eager result for the same inputs.
struct BuiltOp {
  dnnl::primitive prim;
  Tensor src, weights, want;
  std::vector<float> dst;
  dnnl::memory msrc, mweights, mdst;
};

dnnl::memory::desc plain(const std::vector<int64_t>& dims) {
  using tag = dnnl::memory::format_tag;
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, dims.size() == 2 ? tag::ab : tag::abcd);
}

dnnl::primitive build_primitive(const DirectOp& op, const dnnl::engine& engine) {
  dnnl::memory::desc src = plain(op.src), weights = plain(op.weights), dst = plain(op.dst);
  if (!op.conv) return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), engine));
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                       weights, dst, {1, 1}, {0, 0}, {0, 0});
  return dnnl::convolution_forward(dnnl::convolution_forward::primitive_desc(desc, engine));
}

BuiltOp build_op(const DirectOp& op, const dnnl::engine& engine, uint64_t seed) {
  BuiltOp b{build_primitive(op, engine), randn(Shape(op.src), seed), randn(Shape(op.weights), seed + 1), {}, {},
            {}, {}, {}};
  b.want = op.conv ? conv2d(b.src, b.weights) : matmul(b.src, b.weights);
  b.dst.resize(static_cast<size_t>(b.want.numel()));
  b.msrc = dnnl::memory(plain(op.src), engine, const_cast<float*>(floats(b.src)));
  b.mweights = dnnl::memory(plain(op.weights), engine, const_cast<float*>(floats(b.weights)));
  b.mdst = dnnl::memory(plain(op.dst), engine, b.dst.data());
  return b;
}

// Uninitialized: the first write decides which thread's memory a page is.
DoubleArray allocate_doubles(int64_t n) {
  void* p = std::aligned_alloc(64, static_cast<size_t>(n) * sizeof(double));
  if (!p) throw Error(fmt::format("triad: cannot allocate {} MB", n * sizeof(double) >> 20));
  return DoubleArray(static_cast<double*>(p));
}

void triad_kernel(double* a, const double* b, const double* c, double s, int64_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace

Summary triad(const Repeats& r) {
  const int64_t n = kStreamElements;
  const int threads = num_threads();
  const double s = 3.0;
  DoubleArray a = allocate_doubles(n), b = allocate_doubles(n), c = allocate_doubles(n);
  double *pa = a.get(), *pb = b.get(), *pc = c.get();
  // First touch with the schedule of the kernel, as STREAM does.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    pa[i] = 0;
    pb[i] = 1.0 + double(i % 7);
    pc[i] = 0.5 - double(i % 5);
  }
  auto body = [&] {
    triad_kernel(pa, pb, pc, s, n, threads);
    return 0;
  };
  auto check = [&](int) {
    consume(check_elements(
        "triad", n, [&](int64_t i) { return pa[i]; }, [&](int64_t i) { return pb[i] + s * pc[i]; }, 0));
  };
  auto seconds = time_repeats(r, body, check);
  const double bytes = 3.0 * n * sizeof(double);  // read b, c; write a
  return summarize_as(seconds, [&](double sec) { return gbps(bytes, sec); });
}

Summary matmul_onednn(const Repeats& r) {
  const int64_t n = kMatmulSize;
  // The inputs of matmul_eager (same seeds), so both solve the same problem.
  Tensor a = randn({n, n}, /*seed=*/6), b = randn({n, n}, /*seed=*/7);
  const float* as = static_cast<const float*>(a.data_ptr());
  const float* bs = static_cast<const float*>(b.data_ptr());
  std::vector<float> c(static_cast<size_t>(n * n));
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    dnnl::memory::desc md({n, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), engine));
    dnnl::memory ma(md, engine, const_cast<float*>(as));
    dnnl::memory mb(md, engine, const_cast<float*>(bs));
    dnnl::memory mc(md, engine, c.data());
    auto body = [&] {
      prim.execute(stream, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
      stream.wait();
      return 0;
    };
    auto check = [&](int) {
      consume(check_elements(
          "matmul-1024 oneDNN", n * n, [&](int64_t i) { return c[i]; },
          [&](int64_t i) { return matmul_reference(as, bs, n, i); }, 1e-3));
    };
    auto seconds = time_repeats(r, body, check);
    return summarize_as(seconds, [](double s) { return s * 1e3; });
  } catch (const dnnl::error& e) {
    throw Error(fmt::format("matmul-1024 oneDNN: oneDNN failed: {} (status {})", e.what(), int(e.status)));
  }
}

DirectOp DirectOp::matmul(int64_t m, int64_t k, int64_t n) { return {{m, k}, {k, n}, {m, n}, false}; }

DirectOp DirectOp::conv2d(int64_t batch, int64_t in, int64_t size, int64_t out, int64_t kernel) {
  const int64_t o = size - kernel + 1;
  return {{batch, in, size, size}, {out, in, kernel, kernel}, {batch, out, o, o}, true};
}

Summary onednn_floor(const std::string& what, const std::vector<DirectOp>& forward, const Repeats& r, int runs) {
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    std::vector<BuiltOp> built;
    std::vector<size_t> order;  // forward[i] runs built[order[i]]
    std::map<std::vector<int64_t>, size_t> by_shape;
    for (const DirectOp& op : forward) {
      std::vector<int64_t> key = op.src;
      key.insert(key.end(), op.weights.begin(), op.weights.end());
      key.push_back(op.conv);
      auto [it, fresh] = by_shape.emplace(key, built.size());
      if (fresh) built.push_back(build_op(op, engine, 100 + 2 * built.size()));
      order.push_back(it->second);
    }
    auto body = [&] {
      for (int i = 0; i < runs; ++i)
        for (size_t k : order) {
          BuiltOp& b = built[k];
          b.prim.execute(stream, {{DNNL_ARG_SRC, b.msrc}, {DNNL_ARG_WEIGHTS, b.mweights}, {DNNL_ARG_DST, b.mdst}});
          stream.wait();
        }
      return 0;
    };
    auto check = [&](int) {
      for (const BuiltOp& b : built) {
        const float* want = floats(b.want);
        consume(check_elements(
            what, b.want.numel(), [&](int64_t i) { return b.dst[i]; }, [&](int64_t i) { return want[i]; }, 1e-4));
      }
    };
    auto seconds = time_repeats(r, body, check);
    return summarize_as(seconds, [&](double s) { return s * 1e3 / runs; });
  } catch (const dnnl::error& e) {
    throw Error(fmt::format("{}: oneDNN failed: {} (status {})", what, e.what(), int(e.status)));
  }
}

}  // namespace duet::bench
