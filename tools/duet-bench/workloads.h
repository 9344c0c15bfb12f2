// The measurements duet-bench makes: duet's workloads (workloads.cpp W1/W2,
// rows.cpp W3, models.cpp W4/W6/W7, training.cpp W5, compile.cpp
// W5-compile) and the floors they are judged against (floors.cpp). Each
// verifies its results and returns a summary in its metric's unit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <duet/runtime/tensor.h>

#include "timing.h"

namespace duet::bench {

constexpr int64_t kStreamElements = int64_t(1) << 24;  // W2, add-2^24 and the triad
constexpr int64_t kMatmulSize = 1024;                  // matmul-1024: [1024,1024] @ [1024,1024]

// W1 dispatch: 1000 chained y = y + x on f32[8]; microseconds per op.
Summary dispatch_eager(const Repeats& r);
// W1 as one traced function (the chain is the function's body); us per op.
Summary dispatch_traced(const Repeats& r);
// W2 ew-chain: tanh(x*a + b) * sigmoid(x) - 0.5*x on 2^24 floats; GB/s.
Summary ew_chain_eager(const Repeats& r);
Summary ew_chain_traced(const Repeats& r);
// add-2^24: x + y on 2^24 floats; GB/s counting 12 bytes per element.
Summary add_eager(const Repeats& r);
// matmul-1024 through duet::matmul; ms.
Summary matmul_eager(const Repeats& r);

// W3a softmax: row softmax of f32[4096,1024]; W3b layernorm over its last
// dim with gamma/beta [1024], written with duet's elementwise ops and means.
// GB/s counting one read and one write of the [4096,1024] tensor.
Summary softmax_eager(const Repeats& r);
Summary softmax_traced(const Repeats& r);
Summary layernorm_eager(const Repeats& r);
Summary layernorm_traced(const Repeats& r);

// W4 mlp-infer (784-512-512-10 relu, batch 256), W6 rnn-small (tanh cell,
// 50 steps unrolled, batch 32) and W7 cnn (LeNet-ish, batch 64): ms per
// forward; each floor is the forward's matmuls and convolutions through
// oneDNN directly (onednn_floor).
Summary mlp_infer_eager(const Repeats& r);
Summary mlp_infer_traced(const Repeats& r);
Summary mlp_infer_floor(const Repeats& r);
Summary rnn_eager(const Repeats& r);
Summary rnn_traced(const Repeats& r);
Summary rnn_floor(const Repeats& r);
Summary cnn_eager(const Repeats& r);
Summary cnn_traced(const Repeats& r);
Summary cnn_floor(const Repeats& r);

// W5 mlp-train: ms per training step, eager and traced; the floor is the
// step's five matmuls through oneDNN directly.
Summary mlp_train_eager(const Repeats& r);
Summary mlp_train_traced(const Repeats& r);
Summary mlp_train_floor(const Repeats& r);
// W5's step as a fresh duet::function, `count` times on one model: the ms of
// each function's first call (trace, passes, lowering, kernels from wherever
// the JIT finds them, and one step's run). One eager step runs first, so
// oneDNN's primitives, the OpenMP team and the allocator are already warm.
struct FirstCall {
  double ms = 0;
  int64_t compiled = 0;   // kernels LLVM compiled during the call
  int64_t disk_hits = 0;  // kernels loaded from $DUET_CACHE_DIR during it
};
std::vector<FirstCall> mlp_train_first_calls(int count);

// W5-compile: the first call of W5's step, from an empty kernel cache
// ("cold") and again on the cache that run filled ("warm-disk"), each in a
// child process (the JIT reads $DUET_CACHE_DIR once per process): r.repeats
// pairs, each on a fresh directory. And in this process, with the kernels in
// memory ("warm-memory"). ms.
struct DiskCompileTimes {
  Summary cold, warm_disk;
};
DiskCompileTimes compile_from_disk(const Repeats& r, int threads);
Summary compile_warm_memory(const Repeats& r);
// The child's side (the hidden option --compile-probe DIR): points the JIT at
// DIR, times one first call and prints "ms compiled disk_hits" on stdout.
void compile_probe(const std::string& cache_dir);

// STREAM triad a = b + s*c on 2^24 doubles, OpenMP with duet::num_threads()
// threads; GB/s counting the three arrays once.
Summary triad(const Repeats& r);
// matmul-1024 with a oneDNN primitive built and run here directly; ms.
Summary matmul_onednn(const Repeats& r);

// One op of a floor, built the way duet builds it (backends/cpu/onednn.cpp:
// plain row-major layouts, forward inference, direct convolution): a matmul
// [m,k] @ [k,n], or a stride-1 unpadded convolution of NCHW src with OIHW
// weights. No bias, no activation: the floor is the heavy ops alone.
struct DirectOp {
  std::vector<int64_t> src, weights, dst;
  bool conv = false;
  static DirectOp matmul(int64_t m, int64_t k, int64_t n);
  static DirectOp conv2d(int64_t batch, int64_t in, int64_t size, int64_t out, int64_t kernel);
};
// Runs `forward` in order, `runs` times per timed sample, each op straight
// through a oneDNN primitive on random normal inputs (ops of one shape share
// the primitive and the buffers, as a model's repeated layer does); ms per
// run of `forward`. Each output is checked against duet's eager op once per
// sample. `what` names the floor in errors.
Summary onednn_floor(const std::string& what, const std::vector<DirectOp>& forward, const Repeats& r, int runs);

// Throws duet::Error naming `what` when got(i) is not want(i) within a
// relative tolerance, at a fixed spread of indices in [0, n); returns the sum
// of the values read, for consume().
double check_elements(const std::string& what, int64_t n, const std::function<double(int64_t)>& got,
                      const std::function<double(int64_t)>& want, double tolerance);
// Element i of a @ b for row-major [n,n] f32 matrices, summed in f64.
double matmul_reference(const float* a, const float* b, int64_t n, int64_t i);
// The elements of a concrete contiguous f32 tensor.
inline const float* floats(const Tensor& t) { return static_cast<const float*>(t.data_ptr()); }

}  // namespace duet::bench
