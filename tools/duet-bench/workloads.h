// The measurements duet-bench makes: duet's eager workloads (workloads.cpp)
// and the floors they are judged against (floors.cpp). Each verifies its
// results and returns a summary in its metric's unit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

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

// W5 mlp-train: ms per training step, eager and traced; the floor is the
// step's five matmuls through oneDNN directly.
Summary mlp_train_eager(const Repeats& r);
Summary mlp_train_traced(const Repeats& r);
Summary mlp_train_floor(const Repeats& r);

// STREAM triad a = b + s*c on 2^24 doubles, OpenMP with duet::num_threads()
// threads; GB/s counting the three arrays once.
Summary triad(const Repeats& r);
// matmul-1024 with a oneDNN primitive built and run here directly; ms.
Summary matmul_onednn(const Repeats& r);

// Throws duet::Error naming `what` when got(i) is not want(i) within a
// relative tolerance, at a fixed spread of indices in [0, n); returns the sum
// of the values read, for consume().
double check_elements(const std::string& what, int64_t n, const std::function<double(int64_t)>& got,
                      const std::function<double(int64_t)>& want, double tolerance);
// Element i of a @ b for row-major [n,n] f32 matrices, summed in f64.
double matmul_reference(const float* a, const float* b, int64_t n, int64_t i);

}  // namespace duet::bench
