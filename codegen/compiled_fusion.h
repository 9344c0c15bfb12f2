// Running a compiled fusion (codegen/llvm kernels) over its iteration
// space: the walk planned once per tuple of input shapes, then the kernel
// called per contiguous run, per row, or per column range, split over the
// OpenMP team. Internal to codegen.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <duet/codegen/kernel_ir.h>
#include <duet/codegen/llvm/kernels.h>

namespace duet::codegen {

// How a compiled fusion walks its iteration space for one tuple of input
// shapes: dims merged where every input is contiguous across them, each
// input's stride per dim (0 where it is broadcast), and the kernel, chosen
// by which inputs repeat one element along the innermost dim.
struct CompiledRun {
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // per input
  int64_t numel = 0;  // elements; rows for a row reduction
  int64_t row = -1;   // a row or column reduction's row length, else -1
  std::vector<bool> inner_scalar;  // per input, for reductions: one element repeated along the row
  int64_t cost = 1;  // rough work per element, for the parallel split
  jit::RunFn fn = nullptr;
  std::shared_ptr<const void> kernel;  // keeps fn loaded
};

// The walk over `space` (the broadcast of the inputs) for these input
// shapes, and its kernel (compiled or found in the kernel cache).
CompiledRun plan_compiled(const BodySpec& body, const std::vector<const Shape*>& inputs, const Shape& space);

// Runs it: `base` holds the inputs' and then the results' data, `width`
// their element sizes.
void run_compiled(const BodySpec& body, const CompiledRun& run, const std::vector<char*>& base,
                  const std::vector<int64_t>& width);

}  // namespace duet::codegen
