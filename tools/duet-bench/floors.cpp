// The floors of WORKLOADS.md, measured in the same run as the workloads: a
// STREAM triad for memory-bound ones, oneDNN called directly for matmul.
#include <cstdlib>
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

}  // namespace duet::bench
