// The CUDA backend's plumbing on the stand-in CUDA runtime (NOTE [A stand-in
// CUDA runtime] in fake_cudart.cpp): device memory is host memory there, so
// copies, the caching allocator, device errors, the ops that are device
// copies or run on the host, kernel loading and launch arguments, and the
// absence of host waits inside a traced call are all checked for real. The
// generated kernels do not run (their results are not compared here; the GPU
// suite, test_gpu.cpp, does that on a GPU). Hidden ([.fake_cuda]): ctest's
// cuda.fake_runtime runs them with DUET_CUDART naming the stand-in.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <cstring>
#include <thread>

#include <duet/backends/cuda/allocator.h>
#include <duet/backends/cuda/host_fallback.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/codegen/gpu/kernels.h>
#include <duet/duet.h>
#include <duet/runtime/dispatch.h>

#include "fake_cudart.h"
#include "test_ptx.h"
#include "test_support.h"

using namespace duet;

namespace {

// The stand-in's inspection functions; the test fails when it is not loaded.
struct Fake {
  duet_fake_counters_fn counters_fn = nullptr;
  duet_fake_last_launch_fn last_launch_fn = nullptr;
  duet_fake_reset_counters_fn reset_fn = nullptr;
  duet_fake_ptx_count_fn ptx_count = nullptr;
  duet_fake_ptx_fn ptx = nullptr;

  Fake() {
    const std::string path = cuda::runtime_path();
    INFO("DUET_CUDART must name libduet_fake_cudart.so; the runtime loaded is '" << path << "'");
    REQUIRE(cuda_available());
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    REQUIRE(lib != nullptr);
    counters_fn = reinterpret_cast<duet_fake_counters_fn>(dlsym(lib, "duet_fake_counters"));
    last_launch_fn = reinterpret_cast<duet_fake_last_launch_fn>(dlsym(lib, "duet_fake_last_launch"));
    reset_fn = reinterpret_cast<duet_fake_reset_counters_fn>(dlsym(lib, "duet_fake_reset_counters"));
    ptx_count = reinterpret_cast<duet_fake_ptx_count_fn>(dlsym(lib, "duet_fake_ptx_count"));
    ptx = reinterpret_cast<duet_fake_ptx_fn>(dlsym(lib, "duet_fake_ptx"));
    REQUIRE(ptx_count != nullptr);
    REQUIRE(ptx != nullptr);
    REQUIRE(counters_fn != nullptr);
    REQUIRE(last_launch_fn != nullptr);
    REQUIRE(reset_fn != nullptr);
    reset_fn();
  }
  duet_fake_counters_t counters() const {
    duet_fake_counters_t c{};
    counters_fn(&c);
    return c;
  }
  duet_fake_launch_t last_launch() const {
    duet_fake_launch_t l{};
    REQUIRE(last_launch_fn(&l) == 1);
    return l;
  }
};

const Device kGpu = Device::cuda(0);

template <class T>
void same_values(const Tensor& gpu, const Tensor& cpu) {
  REQUIRE(gpu.device() == kGpu);
  REQUIRE(gpu.dtype() == cpu.dtype());
  REQUIRE(gpu.shape() == cpu.shape());
  REQUIRE(gpu.to_vector<T>() == cpu.to_vector<T>());
}

}  // namespace

TEST_CASE("fake cuda: copies to the device and back are exact for every dtype and shape", "[.fake_cuda]") {
  Fake fake;
  for (const Tensor& t : {randn({3, 5}, 1), randn({7}, 2, DType::f64), scalar(7), tensor({true, false, true}),
                          cast(randn({2, 3, 4}, 3) * 100, DType::i64), zeros({0, 4})}) {
    Tensor g = t.to(kGpu);
    REQUIRE(g.device() == kGpu);
    REQUIRE(g.data_ptr() != t.data_ptr());
    Tensor back = g.cpu();
    REQUIRE(back.device() == Device::cpu());
    REQUIRE(back.type() == t.type());
    REQUIRE(std::memcmp(back.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype())) == 0);
  }
  duet_fake_counters_t c = fake.counters();
  CHECK(c.memcpys[DUET_FAKE_HOST_TO_DEVICE] == 5);  // the empty tensor copies nothing
  CHECK(c.memcpys[DUET_FAKE_DEVICE_TO_HOST] == 5);
  CHECK(c.errors == 0);
  // Host reads of a CUDA tensor go through a copy.
  Tensor g = tensor({1.5f, -2.f}).to(kGpu);
  CHECK(g.to_vector<float>() == std::vector<float>{1.5f, -2.f});
  CHECK_NOTHROW(g.sum().item<float>());  // a generated kernel: queued and read back (its value is not computed here)
  CHECK(duet_test::contains(to_string(g), "device=cuda:0"));
  CHECK(duet_test::contains(to_string(g), "1.5"));
}

TEST_CASE("fake cuda: creation under a DeviceScope lands on the device with the CPU's values", "[.fake_cuda]") {
  Fake fake;
  Tensor r_cpu = randn({4, 3}, 9), e_cpu = eye(3), a_cpu = arange(5), z_cpu = zeros({2, 2});
  DeviceScope on(kGpu);
  same_values<float>(randn({4, 3}, 9), r_cpu);
  same_values<float>(eye(3), e_cpu);
  same_values<int32_t>(arange(5), a_cpu);
  same_values<float>(zeros({2, 2}), z_cpu);
  Tensor x = randn({2, 3}, 4);
  CHECK(zeros_like(x).device() == kGpu);
  CHECK(ones_like(x.cpu()).device() == Device::cpu());  // *_like follows its argument, not the scope
}

TEST_CASE("fake cuda: views, concat and slice are device copies with the CPU's values", "[.fake_cuda]") {
  Fake fake;
  Tensor a = randn({3, 4, 5}, 1), b = randn({3, 2, 5}, 2);
  Tensor ga = a.to(kGpu), gb = b.to(kGpu);
  fake.reset_fn();
  same_values<float>(concat({ga, gb}, 1), concat({a, b}, 1));
  same_values<float>(concat({ga, ga}, 0), concat({a, a}, 0));
  same_values<float>(concat({ga, ga}, -1), concat({a, a}, -1));
  same_values<float>(slice(ga, 1, 1, 3), slice(a, 1, 1, 3));
  same_values<float>(slice(ga, 2, -3, 5), slice(a, 2, -3, 5));
  same_values<float>(reshape(ga, {12, 5}), reshape(a, {12, 5}));
  same_values<float>(expand_dims(ga, 0), expand_dims(a, 0));
  CHECK(fake.counters().launches == 0);  // row copies (cudaMemcpy2DAsync), no kernel
  CHECK(fake.counters().memcpys_2d >= 6);
  CHECK(reshape(ga, {60}).data_ptr() == ga.data_ptr());  // a view aliases
}

TEST_CASE("fake cuda: gather and the ops without a CUDA kernel give the CPU's answer", "[.fake_cuda]") {
  Fake fake;
  Tensor x = randn({4, 6}, 3), idx = tensor({2, 0, 5});
  Tensor gx = x.to(kGpu);
  REQUIRE(cuda::runs_on_host(op_def("scatter_add").id()));
  REQUIRE_FALSE(cuda::runs_on_host(op_def("add").id()));
  REQUIRE_FALSE(cuda::runs_on_host(op_def("matmul").id()));
  same_values<float>(gather(gx, idx.to(kGpu), 1), gather(x, idx, 1));  // device row copies
  same_values<float>(gather(gx, tensor({3, 0, 3}).to(kGpu), 0), gather(x, tensor({3, 0, 3}), 0));
  same_values<float>(gather(gx, tensor({{1, 3}, {0, 0}}).to(kGpu), 0), gather(x, tensor({{1, 3}, {0, 0}}), 0));
  try {
    (void)gather(gx, tensor({1, 9}).to(kGpu), 0);
    FAIL("an out-of-range index was taken");
  } catch (const Error& e) {
    CHECK(duet_test::contains(e.what(), "gather"));
    CHECK(duet_test::contains(e.what(), "test_fake_cuda.cpp"));
  }
  same_values<float>(dropout(gx, 0.5, 7), dropout(x, 0.5, 7));
  CHECK(fake.counters().errors == 0);
}

TEST_CASE("fake cuda: the op list splits into CUDA kernels and ops that run on the host", "[.fake_cuda]") {
  // Every op with a CPU kernel has a CUDA one, or the host fallback; this is
  // the list docs/cuda.md gives, so a change to it is seen. The generated
  // eager kernels are registered when a device is first used (NOTE [Eager
  // CUDA kernels on first use]), which this case may be the first to do.
  DeviceScope on(kGpu);
  std::vector<std::string> on_host;
  for (const OpDef* op : OpRegistry::get().all()) {
    if (!find_kernel(op->id(), Device::Type::cpu)) continue;
    REQUIRE(find_kernel(op->id(), Device::Type::cuda) != nullptr);
    if (cuda::runs_on_host(op->id())) on_host.push_back(op->name());
  }
  std::sort(on_host.begin(), on_host.end());
  CHECK(on_host == std::vector<std::string>{"dropout", "embedding", "layer_norm", "max_pool2d_backward",
                                            "max_pool2d_pick", "rms_norm", "scatter_add"});
}

TEST_CASE("fake cuda: eager layer_norm and rms_norm on the device are generated kernels, not the host path", "[.fake_cuda]") {
  Fake fake;
  Tensor x = randn({4, 32}, 1).to(kGpu), g = randn({32}, 2).to(kGpu), b = randn({32}, 3).to(kGpu);
  fake.reset_fn();
  Tensor y = layer_norm(x, g, b) + rms_norm(x, g);
  REQUIRE(y.device() == kGpu);
  CHECK(y.shape() == Shape{4, 32});
  duet_fake_counters_t c = fake.counters();
  CHECK(c.memcpys[DUET_FAKE_DEVICE_TO_HOST] == 0);  // not copied to the host and back
  CHECK(c.launches >= 4);
  // Traced, the op stays one node (a trace does not know its device until
  // lowering) and runs on the host, copied there and back (docs/cuda.md).
  auto f = function([](const Tensor& x, const Tensor& g, const Tensor& b) { return layer_norm(x, g, b); });
  REQUIRE(f(x, g, b).device() == kGpu);
  CHECK(duet_test::contains(f.get_concrete_function(x, g, b).ir(Stage::traced), "layer_norm("));
  // The op's own checks still come first.
  std::string msg = duet_test::message_of<ShapeError>([&] { layer_norm(x, g, randn({31}).to(kGpu)); });
  CHECK(duet_test::contains(msg, "layer_norm"));
  CHECK(duet_test::contains(msg, "test_fake_cuda.cpp"));
}

TEST_CASE("fake cuda: the caching allocator serves eager ops without cudaMalloc per op", "[.fake_cuda]") {
  Fake fake;
  Tensor x = randn({64, 64}, 1).to(kGpu);
  for (int i = 0; i < 3; ++i) (void)slice(concat({x, x}, 0), 0, 10, 80);  // warm the cache for these sizes
  const cuda::AllocatorStats before = cuda::allocator_stats();
  fake.reset_fn();
  for (int i = 0; i < 100; ++i) (void)slice(concat({x, x}, 0), 0, 10, 80);
  const cuda::AllocatorStats after = cuda::allocator_stats();
  CHECK(after.device_mallocs == before.device_mallocs);
  CHECK(fake.counters().mallocs == 0);
  CHECK(after.hits - before.hits == 200);
  CHECK(after.in_use_bytes == before.in_use_bytes);
  CHECK(cuda::round_block_size(1) == 512);
  CHECK(cuda::round_block_size(513) == 1024);
  CHECK(cuda::round_block_size((size_t{1} << 20) + 1) == size_t{2} << 20);
}

TEST_CASE("fake cuda: a full device gives its cache back, then says out of memory", "[.fake_cuda]") {
  // ctest gives the stand-in a 256 MiB device (DUET_FAKE_CUDA_MEMORY_MB).
  Fake fake;
  cuda::empty_cache();
  (void)zeros({50 << 20}).to(kGpu);  // 200 MiB on the device, cached when it goes
  REQUIRE(cuda::allocator_stats().cached_bytes >= int64_t{200} << 20);
  const int64_t frees = cuda::allocator_stats().device_frees;
  // 90 MiB: the cached block is too big to serve it (more than twice), and
  // both do not fit on the device, so the cache goes back first.
  Tensor b = zeros({(90 << 20) / 4}).to(kGpu);
  CHECK(cuda::allocator_stats().device_frees == frees + 1);
  try {
    (void)zeros({100 << 20}).to(kGpu);
    FAIL("a 400 MiB tensor fit a 256 MiB device");
  } catch (const DeviceError& e) {
    CHECK(duet_test::contains(e.what(), "out of memory on cuda:0"));
    CHECK(duet_test::contains(e.what(), "test_fake_cuda.cpp"));
  }
}

TEST_CASE("fake cuda: device errors name both devices, or the missing one", "[.fake_cuda]") {
  Fake fake;
  Tensor g = randn({3}, 1).to(kGpu), c = randn({3}, 2);
  try {
    (void)(g + c);
    FAIL("mixed devices did not throw");
  } catch (const DeviceError& e) {
    CHECK(duet_test::contains(e.what(), "cuda:0"));
    CHECK(duet_test::contains(e.what(), "cpu"));
    CHECK(duet_test::contains(e.what(), "test_fake_cuda.cpp"));
  }
  try {
    DeviceScope on(Device::cuda(3));
    FAIL("cuda:3 exists");
  } catch (const DeviceError& e) {
    CHECK(duet_test::contains(e.what(), "this machine has 1 CUDA device"));
  }
  Variable v(randn({3}, 3).to(kGpu), "v");
  REQUIRE_THROWS_AS(v.assign(c), DeviceError);
  // cuBLASLt needs the real driver: a clear error, not a crash.
  try {
    (void)matmul(randn({2, 3}, 1).to(kGpu), randn({3, 2}, 2).to(kGpu));
    FAIL("cuBLASLt ran without a driver");
  } catch (const DeviceError& e) {
    CHECK(duet_test::contains(e.what(), "matmul"));
    CHECK(duet_test::contains(e.what(), "cuBLASLt"));
  }
}

TEST_CASE("fake cuda: an elementwise op loads one kernel per signature and passes its arguments in order",
          "[.fake_cuda]") {
  Fake fake;
  Tensor a = randn({4, 5}, 1).to(kGpu), b = randn({5}, 2).to(kGpu);
  const codegen::gpu::Stats s0 = codegen::gpu::stats();
  Tensor c = a * b;
  REQUIRE(c.device() == kGpu);
  REQUIRE(c.shape() == Shape{4, 5});
  duet_fake_launch_t l = fake.last_launch();
  // The kernel of ptx.h's ABI: a, b, c, n, dims[2], a's strides[2], b's strides[2].
  REQUIRE(l.param_count == 10);
  CHECK(l.param_values[0] == reinterpret_cast<uint64_t>(a.data_ptr()));
  CHECK(l.param_values[1] == reinterpret_cast<uint64_t>(b.data_ptr()));
  CHECK(l.param_values[2] == reinterpret_cast<uint64_t>(c.data_ptr()));
  CHECK(l.param_values[3] == 20);
  CHECK(l.param_values[4] == 4);
  CHECK(l.param_values[5] == 5);
  CHECK(l.param_values[6] == 5);  // a: row-major
  CHECK(l.param_values[7] == 1);
  CHECK(l.param_values[8] == 0);  // b repeats along the rows
  CHECK(l.param_values[9] == 1);
  CHECK(l.block[0] == 256);
  const codegen::gpu::Stats s1 = codegen::gpu::stats();
  (void)(randn({7, 3}, 3).to(kGpu) * randn({3}, 4).to(kGpu));  // same signature, new shape
  const codegen::gpu::Stats s2 = codegen::gpu::stats();
  CHECK(s2.generated == s1.generated);
  CHECK(s2.launches == s1.launches + 1);
  CHECK(s1.generated <= s0.generated + 1);
  // A row reduction: one block of 256 per row.
  (void)sum(a, {1});
  l = fake.last_launch();
  CHECK(l.grid[0] == 4);
  CHECK(l.block[0] == 256);
  CHECK(fake.counters().stream_syncs == 0);  // no op waited for the device
}

TEST_CASE("fake cuda: a traced call queues its steps without waiting for the device", "[.fake_cuda]") {
  Fake fake;
  auto f = function([](const Tensor& x, const Tensor& y) {
    Tensor h = tanh(x * y + 1.f);
    return concat({sum(h, {1}, true), mean(h, {1}, true)}, 1) - 2.f;
  });
  Tensor x = randn({8, 16}, 1).to(kGpu), y = randn({16}, 2).to(kGpu);
  Tensor r = f(x, y);
  REQUIRE(r.device() == kGpu);
  REQUIRE(r.shape() == Shape{8, 2});
  fake.reset_fn();
  r = f(x, y);
  duet_fake_counters_t c = fake.counters();
  CHECK(c.stream_syncs == 0);
  CHECK(c.device_syncs == 0);
  CHECK(c.memcpys[DUET_FAKE_DEVICE_TO_HOST] == 0);
  CHECK(c.launches >= 2);
  CHECK(c.mallocs == 0);  // the arena and the result come from the cache
  CHECK(f.trace_count() == 1);
  CHECK(duet_test::contains(f.get_concrete_function(x, y).ir(Stage::lowered), "generated GPU kernel"));
  // Inputs on another device than the trace's: a DeviceError naming both.
  try {
    (void)f(x, y.cpu());
    FAIL("mixed devices ran");
  } catch (const DeviceError& e) {
    CHECK(duet_test::contains(e.what(), "cuda:0"));
    CHECK(duet_test::contains(e.what(), "cpu"));
  }
  // A cond reads its predicate on the host: one byte, one wait.
  auto g = function([](const Tensor& x) { return cond(sum(x) > 0.f, [&] { return x * 2.f; }, [&] { return -x; }); });
  (void)g(x);
  fake.reset_fn();
  (void)g(x);
  CHECK(fake.counters().memcpys[DUET_FAKE_DEVICE_TO_HOST] == 1);
}

TEST_CASE("fake cuda: a trace for a CUDA device is optimized for the CUDA target, not the CPU's", "[.fake_cuda]") {
  Fake fake;
  auto f = function([](const Tensor& x, const Tensor& w, const Tensor& b) { return tanh(matmul(x, w) + b); });
  Tensor x = randn({8, 16}, 1), w = randn({16, 4}, 2), b = randn({4}, 3);
  // The CPU fuses bias and tanh into oneDNN's matmul; cuBLASLt takes only the
  // row bias, and tanh is left to fuse-elementwise (backends/cuda/target.cpp).
  const std::string cpu = f.get_concrete_function(x, w, b).ir(Stage::optimized);
  const std::string gpu = f.get_concrete_function(x.to(kGpu), w.to(kGpu), b.to(kGpu)).ir(Stage::optimized);
  INFO("cpu:\n" << cpu << "cuda:\n" << gpu);
  CHECK(duet_test::contains(cpu, "activation=\"tanh\""));
  CHECK(duet_test::contains(gpu, "fused_matmul("));
  CHECK(duet_test::contains(gpu, "activation=\"none\""));
  CHECK_FALSE(duet_test::contains(gpu, "activation=\"tanh\""));
  CHECK(duet_test::contains(gpu, "tanh("));
  CHECK(f.trace_count() == 2);
}

TEST_CASE("fake cuda: every kernel duet loads for eager ops and traced fusions assembles with ptxas",
          "[.fake_cuda][ptxas]") {  // ctest's cuda.fake_runtime_ptx* (NOTE [Skips that show] in main.cpp)
  // The PTX as loaded (the stand-in keeps each text): every elementwise op
  // in every dtype it takes, over broadcast operands; cast between all
  // dtypes; reductions over rows, inner and outer runs in each dtype;
  // transposes and broadcasts (bodies with no op); and the fusions of a
  // traced function.
  Fake fake;
  const int before = fake.ptx_count();
  const std::vector<DType> dtypes{DType::b8, DType::i32, DType::i64, DType::f32, DType::f64};
  int ran = 0;
  for (const OpDef* op : OpRegistry::get().all()) {
    if (op->scalar_op() == ScalarOp::none || op->scalar_op() == ScalarOp::where || op->name() == "cast") continue;
    for (DType dt : dtypes) {
      Tensor a = cast(randn({4, 5}, 1), dt).to(kGpu), b = cast(randn({5}, 2), dt).to(kGpu);
      std::vector<const Tensor*> in{&a, &b};
      in.resize(static_cast<size_t>(op->num_operands()));
      try {
        (void)dispatch(*op, in.data(), static_cast<int>(in.size()), Attrs{}, SrcLoc());
        ++ran;
      } catch (const DTypeError&) {  // a dtype the op does not take
      }
    }
  }
  CHECK(ran > 60);
  for (DType from : dtypes)
    for (DType to : dtypes) (void)cast(cast(randn({3, 2}, 3), from).to(kGpu), to);
  Tensor c = tensor({true, false}).to(kGpu);
  (void)where(c, randn({3, 2}, 4).to(kGpu), 1.f);
  for (DType dt : {DType::i32, DType::i64, DType::f32, DType::f64}) {
    Tensor x = cast(randn({3, 4, 5}, 5) * 10, dt).to(kGpu);
    for (Axes axes : {Axes{2}, Axes{0}, Axes{0, 2}, Axes{1, 2}, Axes{}}) {
      (void)sum(x, axes);
      (void)max(x, axes, true);
      (void)min(x, axes);
      if (is_floating(dt)) (void)mean(x, axes);
    }
    for (int axis : {0, 1, 2}) (void)argmax(x, axis);
    if (!is_floating(dt)) (void)one_hot(cast(rand({3, 4, 5}, 6) * 7.f, dt).to(kGpu), 7);  // labels in [0, 7)
    (void)transpose(x, {2, 0, 1});
    (void)broadcast_to(x, {2, 3, 4, 5});
  }
  auto f = function([](const Tensor& x, const Tensor& y) {
    Tensor h = sigmoid(x * y - 0.5f);
    return sum(h, {1}) + sum(exp(h), {0}).sum() + max(h);
  });
  (void)f(randn({6, 7}, 6).to(kGpu), randn({7}, 7).to(kGpu));
  const int loaded = fake.ptx_count() - before;
  CHECK(loaded > 50);
  // For the device's own architecture: ctest runs this for sm_80 and for
  // sm_120, newer than LLVM 16 knows (duet then generates sm_90 PTX, which
  // the driver compiles forward).
  const std::string arch = cuda::arch_name(0);
  int assembled = 0;
  for (int i = before; i < fake.ptx_count(); ++i)
    assembled += duet_test::ptxas_accepts_text(fake.ptx(i), arch, "fake_" + std::to_string(i)) ? 1 : 0;
  CHECK(assembled == loaded);
}

TEST_CASE("fake cuda: gradients, optimizer state and traces stay on the variables' device", "[.fake_cuda]") {
  Fake fake;
  Variable w(randn({4, 3}, 1).to(kGpu), "w");
  Tensor x = randn({4, 3}, 2).to(kGpu), idx = tensor({0, 2, 2}).to(kGpu);
  {
    GradientTape tape;
    Tensor loss = mean(square(w * x - 1.f)) + sum(gather(w, idx, 0));  // mean's count and gather's zeros
    std::vector<Tensor> g = tape.gradient(loss, {w});
    REQUIRE(g[0].defined());
    CHECK(g[0].device() == kGpu);
    optim::Adam adam(0.01);
    adam.apply_gradients(g, {w});  // no DeviceScope: the step counter goes where w is
    CHECK(adam.step().device() == kGpu);
  }
  // A Variable argument's device is part of the signature.
  auto f = function([](const Variable& v) { return v * 2.f; });
  Variable on_cpu(randn({2}, 3), "c"), on_gpu(randn({2}, 3).to(kGpu), "g");
  CHECK(f(on_cpu).device() == Device::cpu());
  CHECK(f(on_gpu).device() == kGpu);
  CHECK(f.trace_count() == 2);
}

TEST_CASE("fake cuda: a traced reduction over an empty axis still launches to write its identity", "[.fake_cuda]") {
  Fake fake;
  auto f = function([](const Tensor& x) { return sum(exp(x), {1}); });
  Tensor x = zeros({3, 0}).to(kGpu);
  Tensor r = f(x);
  REQUIRE(r.shape() == Shape{3});
  REQUIRE(duet_test::contains(f.get_concrete_function(x).ir(Stage::lowered), "generated GPU kernel"));
  duet_fake_launch_t l = fake.last_launch();
  CHECK(l.grid[0] == 3);  // one block per row, each storing the sum of nothing
}

TEST_CASE("fake cuda: threads share the device, its stream, the allocator and the kernel cache", "[.fake_cuda]") {
  Fake fake;
  Tensor base = randn({32, 48}, 1);
  const Tensor expect = concat({slice(base, 0, 4, 20), base}, 0);
  const cuda::AllocatorStats before = cuda::allocator_stats();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Tensor g = base.to(kGpu);
        Tensor r = concat({slice(g, 0, 4, 20), g}, 0);  // device copies: real values
        (void)(tanh(g * static_cast<float>(t)) + sum(g, {1}, true));  // generated kernels: launched
        if (r.cpu().to_vector<float>() != expect.to_vector<float>()) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
  CHECK(fake.counters().errors == 0);
  CHECK(cuda::allocator_stats().in_use_bytes == before.in_use_bytes);  // every block came back
}
