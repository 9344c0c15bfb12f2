// The kernel IR: what a generated kernel computes, independent of the
// device that runs it and of the graph it came from. Lowering
// (codegen/lower.cpp) describes fusions, softmax rows and fused_matmul
// epilogues as BodySpecs; the CPU generator (codegen/llvm/) and the GPU
// generator (codegen/gpu/) each take a BodySpec and never depend on each
// other. Which bodies a device's generator takes is answered here, once, with
// one reason string (NOTE [One refusal per device]).
#pragma once

#include <string>
#include <vector>

#include <duet/graph/ir.h>

namespace duet::codegen {

// Why a fusion body cannot be a generated kernel on any device ("" when it
// can): every node but the last must be an elementwise op with scalar
// semantics the generators know;
// the last may be a sum, mean, max or min over the innermost axis alone, or
// over every axis but the innermost; every other result must have the
// iteration shape.
std::string unsupported(const Graph& body);

// A fusion body as the generators need it, independent of the Graph (which
// may be gone by the time a new input shape asks for a kernel): value ids
// are the parameters first, then one per op.
struct BodySpec {
  struct Op {
    ScalarOp scalar = ScalarOp::none;
    std::string name;
    std::vector<int> in;
    DType operand = DType::f32;  // the dtype the op computes in (where: its value operands')
    DType result = DType::f32;
  };
  std::vector<DType> params;
  std::vector<Op> ops;
  std::vector<int> yields;
  // The last op may be a reduction (its `name` says how): -1 if none, else
  // the index in `yields` of its result. Rows: over the innermost axis (the
  // kernel reduces one row and stores one element). Columns: over every axis
  // but the innermost (the kernel adds one row into an accumulator row the
  // caller owns: f64 for floating sums, else the operand's type; the caller
  // starts it at the identity and finishes it).
  int reduction_yield = -1;
  bool columns = false;
  // A row normalization instead of a loop of ops: one f32 parameter, one op
  // ("softmax" or "log_softmax") over the innermost axis, yielded. The kernel
  // normalizes one row: ptrs = {x row, y row, the next x row to prefetch (or
  // any readable address)}, n = the row's length
  // (NOTE [Compiled softmax] in generate.cpp).
  bool normalizes = false;
};
// Requires unsupported(body) == "".
BodySpec describe(const Graph& body);

// Why a softmax or log_softmax node cannot run as a compiled row kernel (""
// when it can: f32, over the innermost axis), and its BodySpec.
std::string unsupported_normalization(const Node& n);
BodySpec describe_normalization(const Node& n);

// The epilogue of an f32 fused_matmul whose activation is a transcendental
// (tanh, sigmoid, gelu) as an elementwise body over (product, bias[, bias2]):
// act((product + bias) + bias2), the backend epilogue's order. Empty (no ops)
// when the node is not such a fused_matmul. The Program runs the product
// through oneDNN and then this kernel in place (NOTE [Compiled epilogues] in
// codegen/lower.cpp).
BodySpec describe_epilogue(const Node& n);

// An input's stride (in elements) along each dim of `space` (numpy
// broadcasting), 0 where the input is broadcast; empty for a rank-0 space.
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& space);

// NOTE [One refusal per device]
// Why the generator of `device` cannot take this fusion node ("" when it
// can): unsupported(body) for every device; on a GPU also an iteration
// space of rank above kMaxGpuRank and the device's own limits
// (gpu_refusal). The lowering table and the listings ask this, nothing else.
constexpr int kMaxGpuRank = 8;
std::string fusion_refusal(const Node& fusion, Device::Type device);
// What a GPU cannot take of a described body ("" when it can): softmax rows
// (not generated for GPUs yet), integer pow, and math-library calls when
// CUDA's libdevice was not found. Eager CUDA kernels of single ops ask this.
std::string gpu_refusal(const BodySpec& body);

// Whether an op calls the math library (libm on the CPU, libdevice on a
// GPU): f64 transcendentals, pow, and sin and cos in any dtype.
bool calls_math_library(const BodySpec::Op& op);
// Whether the op is a transcendental function (exp, log, tanh, ...): a
// polynomial in f32, a math-library call in f64, about 20 times an add's work.
bool is_transcendental(ScalarOp s);
// The libdevice bitcode GPU kernels link ("" if none was found:
// $DUET_LIBDEVICE, else the CUDA toolkit's, found at build time).
std::string libdevice_path();

}  // namespace duet::codegen
