// The Program engine's first form: one step per node, each calling the op's
// eager CPU kernel on buffers the engine owns; cond and while steps hold
// nested step lists; print is a host step.
//
// NOTE [Program buffers]
// Every SSA value has a slot. Per call, a slot's buffer is one of:
//  - an input (borrowed from the caller) or a constant (owned by the Program);
//  - a fresh Storage, for values the graph returns (handed to the caller);
//  - a region of the call's arena, for every other intermediate (region
//    parameters and results included);
//  - the buffer of its operand, for view ops (reshape, expand_dims, squeeze);
//  - nothing, for tokens.
// A returned value that lives in the arena or in a variable's buffer is
// copied out, so results never alias the arena (reused by later calls) or a
// variable (which a later memory plan may update in place); so is a
// variable's new value that is also returned to the user. A cond copies the
// taken branch's yields into its results; a while copies its loop variables
// into its results, then each iteration copies results into the regions'
// parameters and the body's yields back into the results (never in place, so
// a body that swaps variables is right). Slot shapes are resolved once per
// distinct tuple of input shapes and memoized, so a call with seen shapes
// runs no type inference.
//
// NOTE [Programs on a GPU]
// A Program lowered for cuda:i runs the same steps with everything on that
// device: constants are copied there once, the arena and the results are
// device storage, kernel steps call the ops' CUDA kernels, compilable fusions
// are one generated GPU kernel each (codegen/gpu_kernels.cpp) over the
// broadcast of their inputs, and slot copies are device copies. Every step
// is queued on the device's one stream (NOTE [One stream per device]), so a
// call runs without a host synchronization between steps; the host waits
// only for a cond or while predicate (one byte), a print, an op that runs on
// the host (NOTE [Ops without a CUDA kernel]), and when the caller reads a
// result. Softmax rows and fused_matmul epilogues are the CUDA kernels of
// those ops (cuDNN, cuBLASLt), not compiled steps.
//
// NOTE [Compiled epilogues]
// An f32 fused_matmul whose activation is a transcendental (tanh, sigmoid,
// gelu) lowers to two steps over its result slot: the backend kernel with
// only the product (oneDNN), then a compiled elementwise kernel computing
// act((product + bias) + bias2) in place, the backend epilogue's order and
// scalar semantics, so the bits are the same. The JIT's vector tanh is the
// faster (W6's 50 tanh epilogues of [32,128]: 0.35 -> 0.325 ms per
// sequence). relu and bias-only epilogues stay in the backend, where they
// cost no more.
#include <duet/codegen/program.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <fmt/format.h>

#include <duet/backends/cpu/loops.h>
#include <duet/backends/cuda/runtime.h>
#include <duet/backends/format.h>
#include <duet/codegen/compiled_fusion.h>
#include <duet/codegen/gpu_kernels.h>
#include <duet/codegen/llvm/kernels.h>
#include <duet/codegen/llvm/ptx.h>
#include <duet/graph/ops/infer_util.h>
#include <duet/graph/printer.h>

namespace duet::codegen {

namespace {

enum class Where : uint8_t { input, constant, own, arena, view, token };

struct Step {
  enum class Kind : uint8_t { kernel, cond, loop, fusion, compiled, gpu, print, nop } kind = Kind::kernel;
  const OpDef* op = nullptr;
  KernelFn fn = nullptr;
  Attrs attrs;
  SrcLoc loc;
  std::vector<int> in;
  std::vector<int> out;
  bool view = false;
  std::string text;  // the node's line, for listings and errors
  // cond: a = then, b = else; loop: a = condition, b = body.
  std::vector<Step> a, b;
  std::vector<int> params_a, params_b, yields_a, yields_b;
  int64_t max_iterations = -1;
  // compiled: the fusion body for the kernel generator, and this step's slot in Plan::runs.
  // gpu: the body of its generated kernel.
  std::shared_ptr<const jit::BodySpec> body;
  int run_index = -1;
  // DUET_PROFILE=1: time spent in this step and how often it ran (shown by listing()).
  mutable std::shared_ptr<std::atomic<int64_t>> profile_ns = std::make_shared<std::atomic<int64_t>>(0);
  mutable std::shared_ptr<std::atomic<int64_t>> profile_runs = std::make_shared<std::atomic<int64_t>>(0);
};

struct Plan {
  std::vector<TensorType> types;  // concrete, per slot
  std::vector<Where> where;
  std::vector<size_t> offset;     // arena offset of arena slots
  std::vector<size_t> buffer_bytes;  // per memory-plan buffer: the largest value it holds at these shapes
  std::vector<CompiledRun> runs;     // per compiled fusion step
  size_t arena_bytes = 0;
};

constexpr size_t kAlign = 64;

// DUET_PROFILE=1 times every step (ir(Stage::lowered) then shows the times).
bool profiling() {
  static const bool on = [] {
    const char* v = std::getenv("DUET_PROFILE");
    return v && std::string(v) == "1";
  }();
  return on;
}

// DUET_JIT=0 runs fusions by stepping through their bodies (for comparison
// and debugging); set_jit_enabled overrides it for programs lowered later.
std::atomic<bool>& jit_switch() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("DUET_JIT");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

size_t bytes_of(const TensorType& t) { return static_cast<size_t>(t.shape.numel()) * dtype_size(t.dtype); }

// The rank of a fusion's iteration space: its widest operand or result.
int space_rank(const Node& n) {
  int r = 0;
  for (const Value* v : n.operands()) r = std::max(r, v->type().tensor.shape.rank());
  for (int i = 0; i < n.num_results(); ++i) r = std::max(r, n.result(i)->type().tensor.shape.rank());
  return r;
}

}  // namespace

bool jit_enabled() { return jit_switch().load(); }
void set_jit_enabled(bool on) { jit_switch().store(on); }

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

  mutable std::shared_mutex plans_mu;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans;

  ~Impl() {
    for (Storage* s : constant_storage) s->release();
  }

  std::unordered_map<const Value*, int> slot;
  int new_slot(const Value* v);
  void lower_graph(const Graph& g, std::vector<Step>& steps, bool top);
  std::shared_ptr<const Plan> plan_for(const std::vector<Buffer>& inputs) const;
  std::shared_ptr<const Plan> make_plan(const std::vector<Buffer>& inputs) const;
  void plan_steps(const std::vector<Step>& steps, Plan& plan) const;
  void place(int s, Plan& plan) const;
};

Program::Program(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Program::~Program() = default;

int Program::Impl::new_slot(const Value* v) {
  slot[v] = num_slots++;
  declared.push_back(v->type());
  view_source.push_back(-1);
  buffer_id.push_back(-1);
  if (!v->type().is_token && !v->type().tensor.shape.is_static()) dynamic = true;
  return slot[v];
}

void Program::Impl::lower_graph(const Graph& g, std::vector<Step>& out_steps, bool top) {
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    const std::string& name = n.name();
    if (name == "constant") {
      const DenseData& d = *n.attrs().get_dense("value").data;
      Storage* s = Storage::allocate(d.bytes.size(), device);
      if (device.is_cpu() && !d.bytes.empty()) std::memcpy(s->data(), d.bytes.data(), d.bytes.size());
      else if (!device.is_cpu()) cuda::copy_to_device(s->data(), d.bytes.data(), d.bytes.size(), device.index);
      constant_storage.push_back(s);
      constant_slot.push_back(new_slot(n.result()));
      continue;
    }
    Step step;
    jit::BodySpec epilogue;       // a fused_matmul's compiled epilogue, if any
    std::vector<int> epilogue_in;  // its bias slots
    step.op = &n.op();
    step.attrs = n.attrs();
    step.loc = n.loc();
    step.text = print_node(n);
    for (int i = 0; i < n.num_operands(); ++i) step.in.push_back(slot.at(n.operand(i)));
    const bool jit = jit_switch().load(), gpu = !device.is_cpu();
    if (name == "fused_matmul" && jit && !gpu) epilogue = jit::describe_epilogue(n);
    if (!epilogue.ops.empty()) {
      // NOTE [Compiled epilogues]: the kernel step computes the product alone; the epilogue follows as a compiled step.
      epilogue_in.assign(step.in.begin() + 2, step.in.end());
      step.in.resize(2);
      step.attrs.set("activation", std::string("none"));
    }
    if (name == "cond" || name == "while") {
      step.kind = name == "cond" ? Step::Kind::cond : Step::Kind::loop;
      if (const AttrValue* m = n.attrs().find("max_iterations")) step.max_iterations = std::get<int64_t>(*m);
      for (int r = 0; r < 2; ++r) {
        const Graph& region = *n.region(r);
        std::vector<int>& params = r == 0 ? step.params_a : step.params_b;
        for (int i = 0; i < region.num_params(); ++i) params.push_back(new_slot(region.param(i)));
        lower_graph(region, r == 0 ? step.a : step.b, false);
        std::vector<int>& yields = r == 0 ? step.yields_a : step.yields_b;
        for (const Value* v : region.results()) yields.push_back(slot.at(v));
      }
    } else if (name == "fusion" && jit && gpu && space_rank(n) <= ptx::kMaxRank &&
               jit::unsupported(*n.region(0)).empty() && gpu::unsupported(jit::describe(*n.region(0))).empty()) {
      // One generated GPU kernel (NOTE [Programs on a GPU]).
      step.kind = Step::Kind::gpu;
      step.body = std::make_shared<const jit::BodySpec>(jit::describe(*n.region(0)));
    } else if (name == "fusion" && jit && !gpu && jit::unsupported(*n.region(0)).empty()) {
      // One compiled kernel call per contiguous run (codegen/llvm).
      step.kind = Step::Kind::compiled;
      step.body = std::make_shared<const jit::BodySpec>(jit::describe(*n.region(0)));
      step.run_index = num_runs++;
    } else if ((name == "softmax" || name == "log_softmax") && jit && !gpu &&
               jit::unsupported_normalization(n).empty()) {
      // One compiled row-kernel call per row (NOTE [Compiled softmax]).
      step.kind = Step::Kind::compiled;
      step.body = std::make_shared<const jit::BodySpec>(jit::describe_normalization(n));
      step.run_index = num_runs++;
    } else if (name == "fusion") {
      // Not compilable (a reduction inside, say): the body's steps, its parameters aliasing the operands.
      step.kind = Step::Kind::fusion;
      const Graph& region = *n.region(0);
      for (int i = 0; i < region.num_params(); ++i) {
        int s = new_slot(region.param(i));
        view_source[s] = step.in[i];
        step.params_a.push_back(s);
      }
      lower_graph(region, step.a, false);
      for (const Value* v : region.results()) step.yields_a.push_back(slot.at(v));
    } else if (name == "print") {
      step.kind = Step::Kind::print;
    } else if (name == "after_all") {
      step.kind = Step::Kind::nop;
    } else if (n.num_regions() > 0 || n.op().has(kStructural)) {
      throw Error(format_error(name, "the Program engine cannot run this op yet: " + step.text, n.loc()));
    } else {
      step.fn = find_kernel(n.op().id(), device.type);
      if (!step.fn) throw DeviceError(format_error(name, "no kernel for " + device.str(), n.loc()));
      step.view = n.op().has(kView);
    }
    for (int i = 0; i < n.num_results(); ++i) step.out.push_back(new_slot(n.result(i)));
    if (step.view) view_source[step.out[0]] = step.in[0];
    // The memory plan (passes/memory_plan.cpp) covers the function's own nodes.
    if (const AttrValue* ids = top ? n.attrs().find("plan.buffers") : nullptr) {
      const auto& v = std::get<std::vector<int64_t>>(*ids);
      for (size_t k = 0; k < v.size() && k < step.out.size(); ++k)
        if (v[k] >= 0 && !step.view) {
          buffer_id[step.out[k]] = static_cast<int>(v[k]);
          num_buffers = std::max(num_buffers, static_cast<int>(v[k]) + 1);
        }
    }
    if (const AttrValue* d = top ? n.attrs().find("plan.donate") : nullptr) {
      const auto& v = std::get<std::vector<int64_t>>(*d);
      if (v.size() == 2 && v[0] < static_cast<int64_t>(step.out.size()) && v[1] < static_cast<int64_t>(step.in.size()) &&
          step.in[static_cast<size_t>(v[1])] < num_params)
        donations.emplace_back(step.out[static_cast<size_t>(v[0])], step.in[static_cast<size_t>(v[1])]);
    }
    if (!epilogue.ops.empty()) {
      Step e;
      e.kind = Step::Kind::compiled;
      e.op = step.op;
      e.loc = step.loc;
      e.text = step.text;
      e.in = {step.out[0]};
      e.in.insert(e.in.end(), epilogue_in.begin(), epilogue_in.end());
      e.out = {step.out[0]};
      e.body = std::make_shared<const jit::BodySpec>(std::move(epilogue));
      e.run_index = num_runs++;
      out_steps.push_back(std::move(step));
      out_steps.push_back(std::move(e));
      continue;
    }
    out_steps.push_back(std::move(step));
  }
}

std::unique_ptr<Program> Program::lower(const Graph& g, Device device) {
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->num_params = g.num_params();
  for (int i = 0; i < g.num_params(); ++i) {
    impl->new_slot(g.param(i));
    impl->variable_param.push_back(!g.param(i)->variable().empty());
  }
  impl->lower_graph(g, impl->steps, true);
  impl->returned.assign(impl->num_slots, false);
  for (size_t i = 0; i < g.results().size(); ++i) {
    int s = impl->slot.at(g.results()[i]);
    impl->result_slots.push_back(s);
    impl->writeback.push_back(!g.result_variable(static_cast<int>(i)).empty());
    impl->returned[s] = true;
  }
  impl->slot.clear();
  return std::unique_ptr<Program>(new Program(std::move(impl)));
}

// Where slot s lives: an own buffer when returned, else the arena (tokens: nowhere).
void Program::Impl::place(int s, Plan& plan) const {
  if (declared[s].is_token) {
    plan.where[s] = Where::token;
  } else if (returned[s]) {
    plan.where[s] = Where::own;
  } else if (buffer_id[s] >= 0) {  // laid out once every slot's size is known (make_plan)
    plan.where[s] = Where::arena;
    size_t& b = plan.buffer_bytes[static_cast<size_t>(buffer_id[s])];
    b = std::max(b, bytes_of(plan.types[s]));
  } else {
    plan.where[s] = Where::arena;
    plan.offset[s] = plan.arena_bytes;
    plan.arena_bytes += (bytes_of(plan.types[s]) + kAlign - 1) / kAlign * kAlign;
  }
}

void Program::Impl::plan_steps(const std::vector<Step>& steps, Plan& plan) const {
  for (const Step& step : steps) {
    switch (step.kind) {
      case Step::Kind::kernel: {
        if (!dynamic) {
          for (int s : step.out) plan.types[s] = declared[s].tensor;
        } else {
          std::vector<const TensorType*> in;
          for (int s : step.in) in.push_back(&plan.types[s]);
          SmallVec<TensorType, 2> out = infer_types(*step.op, in, step.attrs, step.loc);
          for (size_t k = 0; k < step.out.size(); ++k) plan.types[step.out[k]] = out[k];
        }
        for (int s : step.out) {
          if (step.view) plan.where[s] = Where::view;
          else place(s, plan);
        }
        break;
      }
      case Step::Kind::cond:
      case Step::Kind::loop: {
        // Region parameters take the types of the values that flow into them.
        for (size_t i = 0; i < step.params_a.size(); ++i) {
          plan.types[step.params_a[i]] = plan.types[step.in[i]];
          plan.types[step.params_b[i]] = plan.types[step.in[i]];
          place(step.params_a[i], plan);
          place(step.params_b[i], plan);
        }
        plan_steps(step.a, plan);
        plan_steps(step.b, plan);
        const std::vector<int>& from = step.kind == Step::Kind::cond ? step.yields_a : step.yields_b;
        for (size_t k = 0; k < step.out.size(); ++k) {
          plan.types[step.out[k]] = plan.types[from[k]];
          place(step.out[k], plan);
        }
        break;
      }
      case Step::Kind::fusion: {
        for (size_t i = 0; i < step.params_a.size(); ++i) {
          plan.types[step.params_a[i]] = plan.types[step.in[i]];
          plan.where[step.params_a[i]] = Where::view;
        }
        plan_steps(step.a, plan);
        for (size_t k = 0; k < step.out.size(); ++k) {
          plan.types[step.out[k]] = plan.types[step.yields_a[k]];
          place(step.out[k], plan);
        }
        break;
      }
      case Step::Kind::gpu:
      case Step::Kind::compiled: {
        // The results span the broadcast of the inputs (every input reaches a result).
        Shape space;
        for (int s : step.in) {
          Shape joined;
          if (!broadcast_shapes(space, plan.types[s].shape, &joined))
            throw ShapeError(format_error("fusion", "inputs do not broadcast: " + step.text, step.loc));
          space = joined;
        }
        for (size_t k = 0; k < step.out.size(); ++k) {
          int s = step.out[k];
          Shape shape = space;
          if (static_cast<int>(k) == step.body->reduction_yield) {
            const bool keep = declared[s].tensor.shape.rank() == space.rank();
            if (step.body->columns) {  // every dim but the last reduced: [C], or [1, ..., 1, C]
              shape = Shape(std::vector<int64_t>(keep ? static_cast<size_t>(space.rank() - 1) : 0, 1));
              shape.push_back(space.dim(space.rank() - 1));
            } else {  // the row reduction drops (or keeps as 1) the last dim
              shape = Shape(space.begin(), space.end() - 1);
              if (keep) shape.push_back(1);
            }
          }
          plan.types[s] = TensorType{declared[s].tensor.dtype, shape};
          // Dims resolved at run time: the size check kernel steps get from infer (NOTE [Result sizes]).
          if (std::string problem = type_size_problem(plan.types[s], /*allow_dynamic=*/false); !problem.empty())
            throw ShapeError(format_error("fusion", "the result " + problem, step.loc));
          place(s, plan);
        }
        if (step.kind == Step::Kind::gpu) break;
        std::vector<const Shape*> in_shapes;
        for (int s : step.in) in_shapes.push_back(&plan.types[s].shape);
        plan.runs[static_cast<size_t>(step.run_index)] = plan_compiled(*step.body, in_shapes, space);
        break;
      }
      case Step::Kind::print:
      case Step::Kind::nop:
        for (int s : step.out) plan.where[s] = Where::token;
        break;
    }
  }
}

std::shared_ptr<const Plan> Program::Impl::make_plan(const std::vector<Buffer>& inputs) const {
  auto plan = std::make_shared<Plan>();
  plan->types.resize(num_slots);
  plan->where.assign(num_slots, Where::arena);
  plan->offset.assign(num_slots, 0);
  for (int i = 0; i < num_params; ++i) {
    plan->types[i] = inputs[i].type;
    plan->where[i] = declared[i].is_token ? Where::token : Where::input;
  }
  for (int s : constant_slot) {
    plan->types[s] = declared[s].tensor;
    plan->where[s] = Where::constant;
  }
  plan->buffer_bytes.assign(static_cast<size_t>(num_buffers), 0);
  plan->runs.resize(static_cast<size_t>(num_runs));
  plan_steps(steps, *plan);
  std::vector<size_t> buffer_offset(static_cast<size_t>(num_buffers));
  for (size_t b = 0; b < buffer_offset.size(); ++b) {
    buffer_offset[b] = plan->arena_bytes;
    plan->arena_bytes += (plan->buffer_bytes[b] + kAlign - 1) / kAlign * kAlign;
  }
  for (int s = 0; s < num_slots; ++s)
    if (buffer_id[s] >= 0 && plan->where[s] == Where::arena) plan->offset[s] = buffer_offset[static_cast<size_t>(buffer_id[s])];
  return plan;
}

std::shared_ptr<const Plan> Program::Impl::plan_for(const std::vector<Buffer>& inputs) const {
  std::vector<int64_t> key;
  if (dynamic)
    for (const Buffer& b : inputs) {
      key.push_back(b.type.shape.rank());
      key.insert(key.end(), b.type.shape.begin(), b.type.shape.end());
    }
  {
    std::shared_lock<std::shared_mutex> lock(plans_mu);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
  }
  auto plan = make_plan(inputs);
  std::unique_lock<std::shared_mutex> lock(plans_mu);
  if (plans.size() > 256) plans.clear();  // many batch sizes: start over rather than grow without bound
  return plans.emplace(key, plan).first->second;
}

namespace {

// Releases every reference a call took if a kernel throws.
struct CallGuard {
  std::vector<Storage*> held;
  ~CallGuard() {
    for (Storage* s : held) s->release();
  }
};

// One call's buffers.
struct Frame {
  const Plan& plan;
  Device device;
  std::vector<void*> data;
  std::vector<Storage*> storage;
};

void copy_slot(Frame& f, int from, int to) {
  if (f.plan.where[to] == Where::token || f.data[from] == f.data[to]) return;
  size_t bytes = bytes_of(f.plan.types[to]);
  if (!bytes) return;
  if (f.device.is_cpu()) std::memmove(f.data[to], f.data[from], bytes);
  else cuda::copy_on_device(f.data[to], f.data[from], bytes, f.device.index);  // never overlapping: distinct slots
}

// A cond or while predicate, read on the host (on a GPU: waits for the device).
bool predicate(const Frame& f, int s) {
  if (f.device.is_cpu()) return *static_cast<const bool*>(f.data[s]);
  uint8_t b = 0;  // a b8 is one byte, 0 or 1
  cuda::copy_to_host(&b, f.data[s], 1, f.device.index);
  return b != 0;
}

// A generated GPU kernel over the broadcast of the step's inputs (NOTE [Programs on a GPU]).
void run_gpu(const Step& step, Frame& f) {
  const Plan& plan = f.plan;
  Shape space;
  for (int s : step.in) {
    Shape joined;
    broadcast_shapes(space, plan.types[s].shape, &joined);
    space = joined;
  }
  gpu::Launch l;
  l.dims.assign(space.begin(), space.end());
  if (l.dims.empty()) l.dims.push_back(1);
  for (int s : step.in) {
    l.ptrs.push_back(f.data[s]);
    l.strides.push_back(gpu::launch_strides(plan.types[s].shape, space));
  }
  for (int s : step.out) l.ptrs.push_back(f.data[s]);
  gpu::run(*step.body, l, f.device.index);
}

void run_step(const Step& step, Frame& f, KernelTensor* kin, KernelTensor* kout, std::vector<KernelTensor>& kin_many);

void run_steps(const std::vector<Step>& steps, Frame& f) {
  KernelTensor kin[8], kout[2];
  std::vector<KernelTensor> kin_many;
  if (!profiling()) {
    for (const Step& step : steps) run_step(step, f, kin, kout, kin_many);
    return;
  }
  for (const Step& step : steps) {
    auto t0 = std::chrono::steady_clock::now();
    run_step(step, f, kin, kout, kin_many);
    *step.profile_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    ++*step.profile_runs;
  }
}

void run_step(const Step& step, Frame& f, KernelTensor* kin, KernelTensor* kout, std::vector<KernelTensor>& kin_many) {
  const Plan& plan = f.plan;
  {
    switch (step.kind) {
      case Step::Kind::kernel: {
        const int n_in = static_cast<int>(step.in.size());
        KernelTensor* in = n_in <= 8 ? kin : (kin_many.resize(n_in), kin_many.data());
        for (int k = 0; k < n_in; ++k) {
          int s = step.in[k];
          in[k] = KernelTensor{f.data[s], plan.types[s].dtype, &plan.types[s].shape, f.storage[s]};
        }
        bool any = step.view;
        for (size_t k = 0; k < step.out.size(); ++k) {
          int s = step.out[k];
          kout[k] = KernelTensor{f.data[s], plan.types[s].dtype, &plan.types[s].shape, f.storage[s]};
          any |= plan.types[s].shape.numel() > 0;
        }
        if (!any) break;
        KernelContext ctx{*step.op, step.attrs, step.loc, in, n_in, kout, static_cast<int>(step.out.size()), f.device};
        step.fn(ctx);
        if (step.view) {
          f.data[step.out[0]] = kout[0].data;
          f.storage[step.out[0]] = kout[0].storage;
        }
        break;
      }
      case Step::Kind::cond: {
        bool taken = predicate(f, step.in[0]);
        run_steps(taken ? step.a : step.b, f);
        const std::vector<int>& yields = taken ? step.yields_a : step.yields_b;
        for (size_t k = 0; k < step.out.size(); ++k) copy_slot(f, yields[k], step.out[k]);
        break;
      }
      case Step::Kind::loop: {
        for (size_t k = 0; k < step.out.size(); ++k) copy_slot(f, step.in[k], step.out[k]);
        for (int64_t it = 0; step.max_iterations < 0 || it < step.max_iterations; ++it) {
          for (size_t k = 0; k < step.out.size(); ++k) copy_slot(f, step.out[k], step.params_a[k]);
          run_steps(step.a, f);
          if (!predicate(f, step.yields_a[0])) break;
          for (size_t k = 0; k < step.out.size(); ++k) copy_slot(f, step.out[k], step.params_b[k]);
          run_steps(step.b, f);
          for (size_t k = 0; k < step.out.size(); ++k) copy_slot(f, step.yields_b[k], step.out[k]);
        }
        break;
      }
      case Step::Kind::fusion: {
        for (size_t k = 0; k < step.params_a.size(); ++k) {
          f.data[step.params_a[k]] = f.data[step.in[k]];
          f.storage[step.params_a[k]] = f.storage[step.in[k]];
        }
        run_steps(step.a, f);
        for (size_t k = 0; k < step.out.size(); ++k) copy_slot(f, step.yields_a[k], step.out[k]);
        break;
      }
      case Step::Kind::compiled: {
        const CompiledRun& run = plan.runs[static_cast<size_t>(step.run_index)];
        const size_t n_in = step.in.size(), n_all = n_in + step.out.size();
        std::vector<char*> base(n_all);
        std::vector<int64_t> width(n_all);
        for (size_t k = 0; k < n_all; ++k) {
          int s = k < n_in ? step.in[k] : step.out[k - n_in];
          base[k] = static_cast<char*>(f.data[s]);
          width[k] = static_cast<int64_t>(dtype_size(plan.types[s].dtype));
        }
        run_compiled(*step.body, run, base, width);
        break;
      }
      case Step::Kind::gpu:
        run_gpu(step, f);
        break;
      case Step::Kind::print: {
        std::vector<std::string> values;
        std::vector<char> host;
        for (int s : step.in) {
          if (plan.where[s] == Where::token) continue;
          const void* data = f.data[s];
          if (!f.device.is_cpu()) {
            host.resize(bytes_of(plan.types[s]));
            cuda::copy_to_host(host.data(), data, host.size(), f.device.index);
            data = host.data();
          }
          values.push_back(format_values(data, plan.types[s].dtype, plan.types[s].shape));
        }
        const AttrValue* format = step.attrs.find("format");
        std::string text = format ? std::get<std::string>(*format) : std::string();
        if (!format) for (size_t i = 0; i < values.size(); ++i) text += i ? " {}" : "{}";
        write_line(render_print(text, values));
        break;
      }
      case Step::Kind::nop:
        break;
    }
  }
}

void list_steps(const std::vector<Step>& steps, int depth, int& counter, std::string& s) {
  std::string pad(2 * depth + 2, ' ');
  for (const Step& st : steps) {
    const char* kind = st.kind == Step::Kind::kernel ? (st.view ? "kernel (view)" : "kernel")
                       : st.kind == Step::Kind::cond ? "cond"
                       : st.kind == Step::Kind::loop ? "while"
                       : st.kind == Step::Kind::fusion ? "fusion (stepped through)"
                       : st.kind == Step::Kind::compiled ? (st.body->normalizes                           ? "compiled row kernel"
                                                            : st.op && st.op->name() == "fused_matmul" ? "compiled epilogue of"
                                                                                                       : "fusion (compiled kernel)")
                       : st.kind == Step::Kind::gpu ? "fusion (generated GPU kernel)"
                       : st.kind == Step::Kind::print ? "host print"
                                                      : "no-op";
    std::string line = st.text.substr(0, st.text.find('\n'));
    std::string time;
    if (int64_t runs = *st.profile_runs) time = fmt::format(" [{:.2f} us avg over {} runs]", *st.profile_ns / 1e3 / runs, runs);
    s += fmt::format("{}step {}: {} {}{}  // {}\n", pad, counter++, kind, st.op ? st.op->name() : "", time, line);
    if (st.kind == Step::Kind::fusion) list_steps(st.a, depth + 1, counter, s);
    if (st.kind == Step::Kind::compiled || st.kind == Step::Kind::gpu) {
      // The body the kernel computes per element, then the kernel itself for
      // contiguous inputs (broadcast inputs get a variant that reads one
      // element); a GPU kernel's PTX depends on the device: its cache key.
      const jit::BodySpec& b = *st.body;
      const size_t np = b.params.size();
      std::string body;
      for (size_t k = 0; k < b.ops.size(); ++k) {
        body += fmt::format("{}    %{} = {}(", pad, np + k, b.ops[k].name);
        for (size_t i = 0; i < b.ops[k].in.size(); ++i) body += fmt::format("{}%{}", i ? ", " : "", b.ops[k].in[i]);
        body += fmt::format(") : {}\n", dtype_name(b.ops[k].result));
      }
      s += fmt::format("{}  body (%0..%{} are the inputs):\n{}{}    yield", pad, np - 1, body, pad);
      for (int y : b.yields) s += fmt::format(" %{}", y);
      if (st.kind == Step::Kind::gpu) {
        s += fmt::format("\n{}  GPU kernel: {}\n", pad, gpu::body_key(b));
        continue;
      }
      std::vector<bool> contiguous(np, false);
      s += fmt::format("\n{}  kernel, LLVM IR after O3:\n", pad) + jit::kernel_llvm_ir(b, contiguous);
      s += fmt::format("{}  kernel, {} assembly:\n", pad, jit::host_description().substr(0, jit::host_description().find(' '))) +
           jit::kernel_asm(b, contiguous);
    }
    if (st.kind == Step::Kind::cond || st.kind == Step::Kind::loop) {
      s += pad + (st.kind == Step::Kind::cond ? "then:\n" : "condition:\n");
      list_steps(st.a, depth + 1, counter, s);
      s += pad + (st.kind == Step::Kind::cond ? "else:\n" : "body:\n");
      list_steps(st.b, depth + 1, counter, s);
    }
  }
}

int count_steps(const std::vector<Step>& steps) {
  int n = 0;
  for (const Step& s : steps) n += 1 + count_steps(s.a) + count_steps(s.b);
  return n;
}

}  // namespace

void Program::run(const std::vector<Buffer>& inputs, std::vector<Buffer>* outputs) const {
  const Impl& p = *impl_;
  DUET_CHECK(static_cast<int>(inputs.size()) == p.num_params, "Program::run: wrong number of inputs");
  std::shared_ptr<const Plan> plan = p.plan_for(inputs);
  CallGuard guard;
  Frame f{*plan, p.device, std::vector<void*>(p.num_slots, nullptr), std::vector<Storage*>(p.num_slots, nullptr)};
  for (int i = 0; i < p.num_params; ++i) {
    f.storage[i] = inputs[i].storage;
    f.data[i] = inputs[i].storage ? inputs[i].storage->data() : nullptr;
  }
  for (size_t k = 0; k < p.constant_slot.size(); ++k) {
    f.storage[p.constant_slot[k]] = p.constant_storage[k];
    f.data[p.constant_slot[k]] = p.constant_storage[k]->data();
  }
  Storage* arena = nullptr;
  if (plan->arena_bytes > 0) {
    try {
      arena = Storage::allocate(plan->arena_bytes, p.device);
    } catch (const OutOfMemoryError& e) {  // NOTE [Result sizes]: the caller adds the function and line
      throw OutOfMemoryError(fmt::format("cannot allocate the call's arena ({} bytes for the intermediates of the "
                                         "memory plan): {}", plan->arena_bytes, e.what()));
    }
    guard.held.push_back(arena);
  }
  // The donated input whose buffer slot s (returned) receives, else -1: a
  // variable's next value goes into the variable's own buffer.
  auto donor = [&](int s) {
    for (const auto& [slot, in] : p.donations)
      if (slot == s && inputs[in].donated && plan->types[s] == inputs[in].type) return in;
    return -1;
  };
  for (int s = 0; s < p.num_slots; ++s) {
    const int in = plan->where[s] == Where::own && !p.donations.empty() ? donor(s) : -1;
    if (in >= 0) {
      f.storage[s] = inputs[in].storage;
      f.data[s] = f.storage[s]->data();
    } else if (plan->where[s] == Where::arena) {
      f.storage[s] = arena;
      f.data[s] = arena ? static_cast<char*>(arena->data()) + plan->offset[s] : nullptr;
    } else if (plan->where[s] == Where::own) {
      try {
        f.storage[s] = Storage::allocate(bytes_of(plan->types[s]), p.device);
      } catch (const OutOfMemoryError& e) {
        throw OutOfMemoryError(fmt::format("cannot allocate the result {} ({} bytes): {}", plan->types[s].str(),
                                           bytes_of(plan->types[s]), e.what()));
      }
      guard.held.push_back(f.storage[s]);
      f.data[s] = f.storage[s]->data();
    }
  }
  run_steps(p.steps, f);
  outputs->clear();
  std::vector<bool> handed_out(p.num_slots, false);
  for (size_t r = 0; r < p.result_slots.size(); ++r) {
    int s = p.result_slots[r];
    const TensorType& t = plan->types[s];
    // Follow views to the buffer they read.
    int root = s;
    while (plan->where[root] == Where::view) root = p.view_source[root];
    Where w = plan->where[root];
    // A variable's new value never shares a buffer with another result.
    bool copy = w == Where::arena || (w == Where::input && root < p.num_params && p.variable_param[root]) ||
                (p.writeback[r] && handed_out[root]);
    handed_out[root] = true;
    if (copy) {
      size_t bytes = bytes_of(t);
      Storage* fresh = Storage::allocate(bytes, p.device);
      if (bytes && p.device.is_cpu()) std::memcpy(fresh->data(), f.data[s], bytes);
      else if (bytes) cuda::copy_on_device(fresh->data(), f.data[s], bytes, p.device.index);
      outputs->push_back(Buffer{t, fresh});
    } else {
      f.storage[s]->retain();
      outputs->push_back(Buffer{t, f.storage[s]});
    }
  }
}

std::string Program::listing() const {
  const Impl& p = *impl_;
  std::string s = fmt::format("program: {} params, {} constants, {} steps{}\n", p.num_params,
                              p.constant_slot.size(), count_steps(p.steps), p.dynamic ? " (dynamic shapes)" : "");
  int counter = 0;
  list_steps(p.steps, 0, counter, s);
  return s;
}

Device Program::device() const { return impl_->device; }
int Program::num_steps() const { return count_steps(impl_->steps); }

size_t Program::footprint_bytes() const {
  size_t bytes = sizeof(Impl) + static_cast<size_t>(num_steps()) * (sizeof(Step) + 256);
  for (const Storage* s : impl_->constant_storage) bytes += s->bytes();
  std::shared_lock<std::shared_mutex> lock(impl_->plans_mu);
  for (const auto& [shape, plan] : impl_->plans) bytes += sizeof(Plan) + plan->types.size() * 64 + shape.size() * 8;
  return bytes;
}

bool Program::accepts_donation(int i) const {
  for (const auto& d : impl_->donations)
    if (d.second == i) return true;
  return false;
}

}  // namespace duet::codegen
