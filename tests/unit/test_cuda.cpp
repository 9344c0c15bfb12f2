// The CUDA backend on a machine without a GPU (docs/cuda.md): the build
// finds the toolkit and loads its runtime with dlopen, and asking for a CUDA
// device gives a DeviceError that names the op, the device, the reason (the
// CUDA runtime's own words) and the caller's line. Never a crash or a hang.
#include <catch2/catch.hpp>
#include <duet/backends/cuda/blaslt.h>
#include <duet/backends/cuda/device.h>
#include <duet/backends/cuda/dnn.h>
#include <duet/duet.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::contains;

// The tags [.no_cuda_device] and [.cuda_backend] name what a case needs:
// ctest's cuda.no_device and cuda.backend run them and report them skipped
// where this machine lacks it (NOTE [Skips that show] in main.cpp).

TEST_CASE("without a CUDA device, using one is a DeviceError that says why", "[.no_cuda_device]") {
  const std::string why = cuda::device_status().why;
  INFO("why: " << why);
  CHECK(!why.empty());
  if (cuda::built_with_cuda())  // the runtime answered: on these machines, no driver
    CHECK((contains(why, "cudaGetDeviceCount") || contains(why, "could not be loaded")));
  else
    CHECK(contains(why, "no CUDA backend"));
  try {
    DeviceScope on(Device::cuda(0));
    FAIL("DeviceScope(cuda:0) did not throw");
  } catch (const DeviceError& e) {
    std::string m = e.what();
    CHECK(contains(m, "DeviceScope"));
    CHECK(contains(m, "cuda:0 is not available"));
    CHECK(contains(m, why));
    CHECK(contains(m, "test_cuda.cpp"));
  }
  Tensor x = ones({2, 2});
  try {
    (void)x.to(Device::cuda(1));
    FAIL("to(cuda:1) did not throw");
  } catch (const DeviceError& e) {
    CHECK(contains(e.what(), "to"));
    CHECK(contains(e.what(), "cuda:1 is not available"));
    CHECK(contains(e.what(), "test_cuda.cpp"));
  }
  // The CPU path is untouched: the scope did not change the device.
  CHECK(current_device() == Device::cpu());
  CHECK(x.to(Device::cpu()).to_vector<float>() == std::vector<float>{1, 1, 1, 1});
}

// cuBLASLt's descriptors for duet matmuls (NOTE [Matmul through cuBLASLt]),
// built and read back without a GPU; then what cuBLASLt would compute from
// them, emulated column-major over duet's row-major buffers, must be
// duet's own matmul.
TEST_CASE("cuBLASLt descriptors describe duet's matmuls", "[.cuda_backend]") {
  std::mt19937 rng(5);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1)); };
  const cuda::LtEpilogue epilogues[] = {cuda::LtEpilogue::none, cuda::LtEpilogue::bias, cuda::LtEpilogue::relu,
                                        cuda::LtEpilogue::relu_bias};
  const char* names[] = {"DEFAULT", "BIAS", "RELU", "RELU_BIAS"};
  for (int round = 0; round < 40; ++round) {
    cuda::LtMatmulSpec s;
    s.dtype = round % 2 ? DType::f64 : DType::f32;
    s.m = pick(1, 9), s.n = pick(1, 9), s.k = pick(1, 9), s.batch = pick(1, 3);
    s.a_batched = s.batch > 1 && pick(0, 1), s.b_batched = s.batch > 1 && pick(0, 1);
    int e = pick(0, 3);
    s.epilogue = epilogues[e];
    cuda::LtMatmul mm(s);
    cuda::LtDescription d = mm.describe();
    INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " batch=" << s.batch);
    CHECK(d.epilogue == names[e]);
    CHECK(d.compute == (s.dtype == DType::f64 ? "64F" : "32F"));
    CHECK(d.scale == (s.dtype == DType::f64 ? "R_64F" : "R_32F"));
    CHECK(d.c.rows == static_cast<uint64_t>(s.n));
    CHECK(d.c.cols == static_cast<uint64_t>(s.m));
    CHECK(d.a.batch == s.batch);
    // Emulate C_lt = A_lt x B_lt (column-major, strided batches) on duet's buffers.
    Shape ashape = s.a_batched ? Shape{s.batch, s.m, s.k} : Shape{s.m, s.k};
    Shape bshape = s.b_batched ? Shape{s.batch, s.k, s.n} : Shape{s.k, s.n};
    Tensor a = randn(ashape, 10 + round, DType::f64), b = randn(bshape, 50 + round, DType::f64);
    Tensor want = matmul(a, b);
    if (s.batch > 1 && want.shape().rank() == 2) want = broadcast_to(want, Shape{s.batch, s.m, s.n});
    std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = want.to_vector<double>();
    REQUIRE(cv.size() == static_cast<size_t>(s.batch * s.m * s.n));
    double worst = 0;
    for (int64_t bt = 0; bt < s.batch; ++bt)
      for (uint64_t i = 0; i < d.c.rows; ++i)
        for (uint64_t j = 0; j < d.c.cols; ++j) {
          double acc = 0;
          for (uint64_t p = 0; p < d.a.cols; ++p)  // cuBLASLt's A is duet's B, its B duet's A
            acc += bv[static_cast<size_t>(bt * d.a.batch_stride + static_cast<int64_t>(i) + static_cast<int64_t>(p) * d.a.ld)] *
                   av[static_cast<size_t>(bt * d.b.batch_stride + static_cast<int64_t>(p) + static_cast<int64_t>(j) * d.b.ld)];
          double got = cv[static_cast<size_t>(bt * d.c.batch_stride + static_cast<int64_t>(i) + static_cast<int64_t>(j) * d.c.ld)];
          worst = std::max(worst, std::abs(acc - got));
        }
    CHECK(worst < 1e-12);
  }
  CHECK(cuda::lt_epilogue_unsupported("none") == "");
  CHECK(contains(cuda::lt_epilogue_unsupported("relu"), "NaN"));
  CHECK(contains(cuda::lt_epilogue_unsupported("gelu"), "tanh approximation"));
  CHECK_THROWS_AS(cuda::LtMatmul(cuda::LtMatmulSpec{DType::i32, 2, 2, 2}), Error);
}

// fused_matmul's transposed operands: cuBLASLt reads the stored buffers with
// TRANSA / TRANSB (NOTE [Matmul through cuBLASLt]); emulated as above, that
// must be duet's matmul of the transposed operands.
TEST_CASE("cuBLASLt descriptors read transposed operands", "[.cuda_backend]") {
  std::mt19937 rng(11);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1)); };
  for (int round = 0; round < 30; ++round) {
    cuda::LtMatmulSpec s;
    s.dtype = round % 2 ? DType::f64 : DType::f32;
    s.m = pick(1, 9), s.n = pick(1, 9), s.k = pick(1, 9), s.batch = pick(1, 3);
    s.a_batched = s.batch > 1 && pick(0, 1), s.b_batched = s.batch > 1 && pick(0, 1);
    s.a_transposed = round % 3 != 1, s.b_transposed = round % 3 != 0;
    cuda::LtDescription d = cuda::LtMatmul(s).describe();
    INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " batch=" << s.batch << " transposed " << s.a_transposed
              << s.b_transposed);
    CHECK(d.trans_a == s.b_transposed);  // cuBLASLt's A is duet's b
    CHECK(d.trans_b == s.a_transposed);
    std::vector<int64_t> ad = s.a_transposed ? std::vector<int64_t>{s.k, s.m} : std::vector<int64_t>{s.m, s.k};
    std::vector<int64_t> bd = s.b_transposed ? std::vector<int64_t>{s.n, s.k} : std::vector<int64_t>{s.k, s.n};
    if (s.a_batched) ad.insert(ad.begin(), s.batch);
    if (s.b_batched) bd.insert(bd.begin(), s.batch);
    Tensor a = randn(Shape(ad), 100 + round, DType::f64), b = randn(Shape(bd), 200 + round, DType::f64);
    Tensor want = matmul(s.a_transposed ? transpose(a) : a, s.b_transposed ? transpose(b) : b);
    if (s.batch > 1 && want.shape().rank() == 2) want = broadcast_to(want, Shape{s.batch, s.m, s.n});
    std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = want.to_vector<double>();
    REQUIRE(cv.size() == static_cast<size_t>(s.batch * s.m * s.n));
    const uint64_t inner = d.trans_a ? d.a.rows : d.a.cols;
    REQUIRE(inner == static_cast<uint64_t>(s.k));
    double worst = 0;
    for (int64_t bt = 0; bt < s.batch; ++bt)
      for (int64_t i = 0; i < static_cast<int64_t>(d.c.rows); ++i)
        for (int64_t j = 0; j < static_cast<int64_t>(d.c.cols); ++j) {
          double acc = 0;
          for (int64_t p = 0; p < static_cast<int64_t>(inner); ++p) {
            int64_t ai = bt * d.a.batch_stride + (d.trans_a ? p + i * d.a.ld : i + p * d.a.ld);
            int64_t bi = bt * d.b.batch_stride + (d.trans_b ? j + p * d.b.ld : p + j * d.b.ld);
            acc += bv[static_cast<size_t>(ai)] * av[static_cast<size_t>(bi)];
          }
          worst = std::max(worst, std::abs(acc - cv[static_cast<size_t>(bt * d.c.batch_stride + i + j * d.c.ld)]));
        }
    CHECK(worst < 1e-12);
  }
}

// cuDNN's output-dimension queries on the descriptors duet would run conv2d
// and max_pool2d with agree with duet's shapes (NOTE [Convolutions through
// cuDNN]).
TEST_CASE("cuDNN descriptors agree with duet's conv2d and max_pool2d shapes", "[.cuda_backend]") {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1)); };
  for (int round = 0; round < 60; ++round) {
    int64_t n = pick(1, 2), c = pick(1, 3), h = pick(3, 12), w = pick(3, 12), k = pick(1, 4);
    int64_t r = pick(1, static_cast<int>(std::min(h, w))), stride = pick(1, 3), padding = pick(0, 2);
    DType t = round % 2 ? DType::f64 : DType::f32;
    Shape xs{n, c, h, w}, ws{k, c, r, r};
    INFO("x " << xs << " w " << ws << " stride " << stride << " padding " << padding);
    Shape duet = conv2d(zeros(xs, t), zeros(ws, t), stride, padding).shape();
    CHECK(cuda::cudnn_conv2d_output(t, xs, ws, stride, padding) == duet);
    int64_t kernel = pick(1, 3), pstride = pick(0, 3);
    INFO("pool kernel " << kernel << " stride " << pstride);
    CHECK(cuda::cudnn_max_pool2d_output(t, xs, kernel, pstride) == max_pool2d(zeros(xs, t), kernel, pstride).shape());
  }
}

TEST_CASE("cuda: a CPU trace with an empty constant runs in any build", "[cuda]") {
  // Constants are copied to the Program's device; an empty one on the CPU
  // must not reach the CUDA runtime (which a build without CUDA lacks).
  auto f = function([](const Tensor& x) { return concat({x, zeros({0})}, 0); });
  Tensor x = randn({3}, 1);
  CHECK(f(x).to_vector<float>() == x.to_vector<float>());
}
