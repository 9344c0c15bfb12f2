// Program: an optimized graph lowered to steps over buffers, and the one
// engine that runs it (DESIGN.md §2.5). The compile road, in reading order:
// codegen/lower.cpp (graph to steps, one table of rules per device; kernels
// for static shapes compiled there), codegen/plan.cpp (slot types, buffers
// and arena per tuple of input shapes, each compiled step's walk),
// codegen/engine.cpp (runs the steps), codegen/listing.cpp (Stage::lowered).
// The steps themselves are in codegen/steps.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <duet/backends/kernel.h>
#include <duet/graph/ir.h>

namespace duet::codegen {

// Whether lower() compiles fusions, softmax rows and fused_matmul epilogues
// with LLVM (true unless DUET_JIT=0). Programs already lowered keep their
// choice; duet-difftest switches it to compare the stepped and the compiled
// paths in one process.
bool jit_enabled();
void set_jit_enabled(bool on);

// A tensor as the engine sees it: a type and a storage. Inputs are borrowed;
// outputs come back with one reference owned by the caller.
struct Buffer {
  TensorType type;
  Storage* storage = nullptr;
  // The caller gives this input's buffer up for the call: a variable's
  // value referenced by nothing else (NOTE [Donated variables]). The program
  // may then write the variable's next value into it (memory-plan's
  // plan.donate) and return that same storage.
  bool donated = false;
};

class Program {
 public:
  // Lowers a verified graph to run on `device`: its inputs, constants,
  // buffers and results live there (NOTE [Programs on a GPU]). A static
  // graph is planned and its kernels compiled here
  // (NOTE [Compile at lowering]). An op without a kernel for the device is a
  // DeviceError naming it; a structural op with no lowering rule (none
  // today: the guard for a new one) is an Error.
  static std::unique_ptr<Program> lower(const Graph& g, Device device = Device::cpu());
  Device device() const;
  ~Program();

  // Runs once. `inputs` holds one buffer per graph parameter, in order, with
  // concrete shapes that fit the parameters' types; `outputs` receives one
  // buffer per graph result. Safe to call from many threads at once.
  void run(const std::vector<Buffer>& inputs, std::vector<Buffer>* outputs) const;

  // Whether the plan would write a result into input `i` if it were donated.
  bool accepts_donation(int i) const;

  // The steps, one per line (Stage::lowered).
  std::string listing() const;
  int num_steps() const;
  // Roughly the memory this program holds: its constants, steps and cached
  // plans (for the function cache's byte bound).
  size_t footprint_bytes() const;

  struct Impl;

 private:
  explicit Program(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::codegen
