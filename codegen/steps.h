// The inside of a Program (codegen/program.h): the steps lowering makes
// (codegen/lower.cpp), the per-shape plan that places their slots
// (codegen/plan.cpp), and the Impl that the engine (codegen/engine.cpp) and
// the listing (codegen/listing.cpp) read. Internal to codegen.
//
// NOTE [Program buffers]
// Every SSA value has a slot. Per call, a slot's buffer is one of:
//  - an input (borrowed from the caller) or a constant (owned by the Program);
//  - a fresh Storage, for values the graph returns (handed to the caller),
//    or a donated variable's own buffer (plan.donate);
//  - a region of the call's arena, for every other intermediate (region
//    parameters and results included);
//  - the buffer of its operand, for view ops (kView: reshape, expand_dims,
//    squeeze, stop_gradient) and a stepped fusion's parameters;
//  - nothing, for tokens.
// A returned value that lives in the arena or in a variable's buffer is
// copied out, so results never alias the arena (reused by later calls) or a
// variable (whose buffer a later call may overwrite, NOTE [Donated
// variables]); so is a variable's new value that is also returned to the
// user. A cond copies the taken branch's yields into its results; a while
// copies its loop variables into its results, then each iteration copies
// results into the regions' parameters and the body's yields back into the
// results (never in place, so a body that swaps variables is right). Slot
// shapes are resolved once per distinct tuple of input shapes and memoized,
// so a call with seen shapes runs no type inference; a Program whose shapes
// are all static is planned (and its kernels compiled) when it is lowered
// (NOTE [Compile at lowering]).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <duet/codegen/compiled_fusion.h>
#include <duet/codegen/program.h>

namespace duet::codegen {

struct Step;

// A nested list of steps with the slots its region's parameters and results
// take: a cond branch, a while's condition or body, a stepped fusion's body.
struct Region {
  std::vector<Step> steps;
  std::vector<int> params;
  std::vector<int> yields;
};

// An op's kernel (the backend's, CPU or CUDA), called on the slots' buffers.
// A view's result takes the buffer the kernel points it at.
struct KernelStep {
  KernelFn fn = nullptr;
  bool view = false;
};
struct CondStep {
  Region then_branch, else_branch;
};
struct WhileStep {
  Region condition, body;
  int64_t max_iterations = -1;  // -1: no bound
};
// A fusion no generator takes, run by stepping through its body, whose
// parameters alias the fusion's operands.
struct SteppedFusionStep {
  Region body;
};
// A kernel of codegen/llvm: a fusion, a softmax row kernel, or a
// fused_matmul's epilogue (NOTE [Compiled epilogues] in lower.cpp). Its walk
// and kernel per shape tuple are Plan::runs[run_index].
struct CompiledStep {
  enum class What : uint8_t { fusion, rows, epilogue } what = What::fusion;
  std::shared_ptr<const BodySpec> body;
  int run_index = -1;
};
// A generated GPU kernel over the broadcast of the inputs (NOTE [Programs on a GPU]).
struct GpuStep {
  std::shared_ptr<const BodySpec> body;
};
struct PrintStep {};  // on the host: formats its operands, writes a line
struct NopStep {};    // after_all: tokens only

struct Step {
  const OpDef* op = nullptr;
  Attrs attrs;
  SrcLoc loc;
  std::vector<int> in;
  std::vector<int> out;
  std::string text;  // the node's line, for listings and errors
  std::variant<KernelStep, CondStep, WhileStep, SteppedFusionStep, CompiledStep, GpuStep, PrintStep, NopStep> kind;
  // DUET_PROFILE=1: time spent in this step and how often it ran (shown by listing()).
  mutable std::shared_ptr<std::atomic<int64_t>> profile_ns = std::make_shared<std::atomic<int64_t>>(0);
  mutable std::shared_ptr<std::atomic<int64_t>> profile_runs = std::make_shared<std::atomic<int64_t>>(0);

  template <class K> const K* as() const { return std::get_if<K>(&kind); }
  template <class K> K* as() { return std::get_if<K>(&kind); }
};

// Where a slot's buffer comes from in one call (NOTE [Program buffers]).
enum class Where : uint8_t { input, constant, own, arena, view, token };

// The slots placed for one tuple of input shapes.
struct Plan {
  std::vector<TensorType> types;     // concrete, per slot
  std::vector<Where> where;
  std::vector<size_t> offset;        // arena offset of arena slots
  std::vector<size_t> buffer_bytes;  // per memory-plan buffer: the largest value it holds at these shapes
  std::vector<CompiledRun> runs;     // per compiled step
  size_t arena_bytes = 0;
};

inline size_t bytes_of(const TensorType& t) { return static_cast<size_t>(t.shape.numel()) * dtype_size(t.dtype); }

// The broadcast of the types of `slots` in `plan` (a compiled or GPU step's
// iteration space); false when they do not broadcast.
bool broadcast_space(const Plan& plan, const std::vector<int>& slots, Shape* space);

struct Program::Impl {
  Device device;
  int num_slots = 0;
  int num_params = 0;
  std::vector<ValueType> declared;      // slot types as in the graph (dims may be -1)
  std::vector<bool> variable_param;     // per param
  std::vector<int> constant_slot;
  std::vector<Storage*> constant_storage;
  std::vector<Step> steps;
  std::vector<int> result_slots;
  std::vector<bool> writeback;          // per result: a variable's final value
  std::vector<bool> returned;           // per slot
  std::vector<int> view_source;         // per slot: the slot a view reads, else -1
  std::vector<int> buffer_id;           // per slot: its memory-plan buffer, else -1
  int num_buffers = 0;
  std::vector<std::pair<int, int>> donations;  // (result slot, input index) from plan.donate
  bool dynamic = false;
  int num_runs = 0;
  std::unordered_map<const Value*, int> slot;  // while lowering only

  mutable std::shared_mutex plans_mu;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans;

  ~Impl();
  int new_slot(const Value* v);
  // codegen/plan.cpp
  std::shared_ptr<const Plan> plan_for(const std::vector<Buffer>& inputs) const;
  std::shared_ptr<const Plan> make_plan(const std::vector<TensorType>& inputs) const;
  void plan_steps(const std::vector<Step>& steps, Plan& plan) const;
  void place(int s, Plan& plan) const;
};

// The steps below `steps`, nested ones included.
int count_steps(const std::vector<Step>& steps);

}  // namespace duet::codegen
