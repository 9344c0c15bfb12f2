// Lowering: an optimized graph becomes a Program's steps over slots
// (NOTE [Program buffers] in steps.h), by one ordered table of rules per
// device; the first rule whose match holds makes the node's step. A new
// lowering is one row. A Program whose shapes are all static is then planned
// at once, so its kernels are compiled here (NOTE [Compile at lowering]).
//
// NOTE [Programs on a GPU]
// A Program lowered for cuda:i runs the same steps with everything on that
// device: constants are copied there once, the arena and the results are
// device storage, kernel steps call the ops' CUDA kernels, compilable fusions
// are one generated GPU kernel each (codegen/gpu/kernels.cpp) over the
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
//
// NOTE [Compile at lowering]
// When every slot's type is static (no -1 dim), the one plan the Program
// will ever use is made by lower() itself: its compiled steps' kernels are
// generated, or found in the kernel cache, before the first run, and a
// fusion whose result is too large is refused there. A Program with dynamic
// dims is planned per tuple of input shapes on first sight; its kernels
// depend only on the body and on which inputs repeat one element along the
// innermost dim (jit::kernel_for's key), so a new batch size finds them in
// the kernel cache and compiles nothing.
#include <duet/codegen/program.h>

#include <atomic>
#include <cstdlib>
#include <iterator>

#include <duet/backends/copy.h>
#include <duet/codegen/kernel_ir.h>
#include <duet/codegen/steps.h>
#include <duet/graph/printer.h>

namespace duet::codegen {

namespace {

// DUET_JIT=0 runs fusions by stepping through their bodies (for comparison
// and debugging); set_jit_enabled overrides it for programs lowered later.
std::atomic<bool>& jit_switch() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("DUET_JIT");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

// One graph being lowered into one list of steps.
struct Lowering {
  Program::Impl& p;
  bool jit;
  bool top;  // the function's own graph (memory-plan attributes apply), not a region
  std::vector<Step>* out;
  std::vector<Step> after;  // steps a rule adds after the node's own (an epilogue)
};

void lower_graph(Program::Impl& p, const Graph& g, std::vector<Step>& steps, bool top);

// A region's steps, with fresh slots for its parameters.
Region lower_region(Program::Impl& p, const Graph& region) {
  Region r;
  for (int i = 0; i < region.num_params(); ++i) r.params.push_back(p.new_slot(region.param(i)));
  lower_graph(p, region, r.steps, false);
  for (const Value* v : region.results()) r.yields.push_back(p.slot.at(v));
  return r;
}

// ---- the rules: when each matches, and the step it makes -------------------------

bool is_cond(const Node& n, const Lowering&) { return n.name() == "cond"; }
bool is_while(const Node& n, const Lowering&) { return n.name() == "while"; }
bool is_fusion(const Node& n, const Lowering&) { return n.name() == "fusion"; }
bool is_print(const Node& n, const Lowering&) { return n.name() == "print"; }
bool is_after_all(const Node& n, const Lowering&) { return n.name() == "after_all"; }
bool is_structural(const Node& n, const Lowering&) { return n.num_regions() > 0 || n.op().has(kStructural); }
bool any_op(const Node&, const Lowering&) { return true; }

bool compilable_fusion(const Node& n, const Lowering& l) {
  return l.jit && n.name() == "fusion" && fusion_refusal(n, Device::Type::cpu).empty();
}
bool compilable_rows(const Node& n, const Lowering& l) {
  return l.jit && (n.name() == "softmax" || n.name() == "log_softmax") && unsupported_normalization(n).empty();
}
bool compilable_epilogue(const Node& n, const Lowering& l) {
  return l.jit && n.name() == "fused_matmul" && !describe_epilogue(n).ops.empty();
}
bool generatable_fusion(const Node& n, const Lowering& l) {
  return l.jit && n.name() == "fusion" && fusion_refusal(n, Device::Type::cuda).empty();
}

void make_cond(const Node& n, Lowering& l, Step& step) {
  CondStep c;
  c.then_branch = lower_region(l.p, *n.region(0));
  c.else_branch = lower_region(l.p, *n.region(1));
  step.kind = std::move(c);
}

void make_while(const Node& n, Lowering& l, Step& step) {
  WhileStep w;
  if (const AttrValue* m = n.attrs().find("max_iterations")) w.max_iterations = std::get<int64_t>(*m);
  w.condition = lower_region(l.p, *n.region(0));
  w.body = lower_region(l.p, *n.region(1));
  step.kind = std::move(w);
}

CompiledStep compiled(CompiledStep::What what, BodySpec body, Lowering& l) {
  return CompiledStep{what, std::make_shared<const BodySpec>(std::move(body)), l.p.num_runs++};
}

void make_compiled_fusion(const Node& n, Lowering& l, Step& step) {
  step.kind = compiled(CompiledStep::What::fusion, describe(*n.region(0)), l);
}

// NOTE [Compiled softmax] in codegen/llvm/generate.cpp: one row-kernel call per row.
void make_compiled_rows(const Node& n, Lowering& l, Step& step) {
  step.kind = compiled(CompiledStep::What::rows, describe_normalization(n), l);
}

void make_gpu_fusion(const Node& n, Lowering&, Step& step) {
  step.kind = GpuStep{std::make_shared<const BodySpec>(describe(*n.region(0)))};
}

// Not compilable (a reduction inside, say): the body's steps, its parameters aliasing the operands.
void make_stepped_fusion(const Node& n, Lowering& l, Step& step) {
  SteppedFusionStep f;
  const Graph& region = *n.region(0);
  for (int i = 0; i < region.num_params(); ++i) {
    int s = l.p.new_slot(region.param(i));
    l.p.view_source[s] = step.in[static_cast<size_t>(i)];
    f.body.params.push_back(s);
  }
  lower_graph(l.p, region, f.body.steps, false);
  for (const Value* v : region.results()) f.body.yields.push_back(l.p.slot.at(v));
  step.kind = std::move(f);
}

void make_print(const Node&, Lowering&, Step& step) { step.kind = PrintStep{}; }
void make_nop(const Node&, Lowering&, Step& step) { step.kind = NopStep{}; }

[[noreturn]] void refuse(const Node& n, Lowering&, Step& step) {
  throw Error(format_error(n.name(), "the Program engine cannot run this op yet: " + step.text, n.loc()));
}

void make_kernel(const Node& n, Lowering& l, Step& step) {
  KernelStep k;
  k.fn = find_kernel(n.op().id(), l.p.device.type);
  if (!k.fn) throw DeviceError(format_error(n.name(), "no kernel for " + l.p.device.str(), n.loc()));
  k.view = n.op().has(kView);
  step.kind = k;
}

// NOTE [Compiled epilogues]: the kernel step computes the product alone; the
// epilogue follows as a compiled step in place over the result.
void make_matmul_and_epilogue(const Node& n, Lowering& l, Step& step) {
  Step e;
  e.op = step.op;
  e.loc = step.loc;
  e.text = step.text;
  e.in.assign(step.in.begin() + 2, step.in.end());  // the biases; the product is prepended below
  e.kind = compiled(CompiledStep::What::epilogue, describe_epilogue(n), l);
  l.after.push_back(std::move(e));
  step.in.resize(2);
  step.attrs.set("activation", std::string("none"));
  make_kernel(n, l, step);
}

struct Rule {
  const char* name;  // what the row lowers, for readers
  bool (*match)(const Node&, const Lowering&);
  void (*make)(const Node&, Lowering&, Step&);
};

const Rule kCpuRules[] = {
    {"cond", is_cond, make_cond},
    {"while", is_while, make_while},
    {"fusion the CPU generator takes", compilable_fusion, make_compiled_fusion},
    {"softmax rows", compilable_rows, make_compiled_rows},
    {"other fusion", is_fusion, make_stepped_fusion},
    {"fused_matmul with a transcendental epilogue", compilable_epilogue, make_matmul_and_epilogue},
    {"print", is_print, make_print},
    {"after_all", is_after_all, make_nop},
    {"other structural op", is_structural, refuse},
    {"op with a kernel", any_op, make_kernel},
};

const Rule kGpuRules[] = {
    {"cond", is_cond, make_cond},
    {"while", is_while, make_while},
    {"fusion the GPU generator takes", generatable_fusion, make_gpu_fusion},
    {"other fusion", is_fusion, make_stepped_fusion},
    {"print", is_print, make_print},
    {"after_all", is_after_all, make_nop},
    {"other structural op", is_structural, refuse},
    {"op with a kernel", any_op, make_kernel},
};

const Rule& rule_for(const Node& n, const Lowering& l) {
  auto pick = [&](const auto& rules) -> const Rule& {
    for (const Rule& r : rules)
      if (r.match(n, l)) return r;
    return rules[std::size(rules) - 1];  // unreached: the last rule matches every node
  };
  return l.p.device.is_cpu() ? pick(kCpuRules) : pick(kGpuRules);
}

// ---- the common part of every step -----------------------------------------------

// Constants are slots, not steps: copied to the device once.
void lower_constant(Program::Impl& p, const Node& n) {
  const DenseData& d = *n.attrs().get_dense("value").data;
  Storage* s = Storage::allocate(d.bytes.size(), p.device);
  copy_bytes(s->data(), p.device, d.bytes.data(), Device::cpu(), d.bytes.size());
  p.constant_storage.push_back(s);
  p.constant_slot.push_back(p.new_slot(n.result()));
}

// The memory plan (passes/memory_plan.cpp) covers the function's own nodes:
// its buffer ids for the results, and a donation of an input's buffer.
void take_memory_plan(Program::Impl& p, const Node& n, const Step& step) {
  const bool view = step.as<KernelStep>() && step.as<KernelStep>()->view;
  if (const AttrValue* ids = n.attrs().find("plan.buffers")) {
    const auto& v = std::get<std::vector<int64_t>>(*ids);
    for (size_t k = 0; k < v.size() && k < step.out.size(); ++k)
      if (v[k] >= 0 && !view) {
        p.buffer_id[static_cast<size_t>(step.out[k])] = static_cast<int>(v[k]);
        p.num_buffers = std::max(p.num_buffers, static_cast<int>(v[k]) + 1);
      }
  }
  if (const AttrValue* d = n.attrs().find("plan.donate")) {
    const auto& v = std::get<std::vector<int64_t>>(*d);
    if (v.size() == 2 && v[0] < static_cast<int64_t>(step.out.size()) && v[1] < static_cast<int64_t>(step.in.size()) &&
        step.in[static_cast<size_t>(v[1])] < p.num_params)
      p.donations.emplace_back(step.out[static_cast<size_t>(v[0])], step.in[static_cast<size_t>(v[1])]);
  }
}

void lower_node(Lowering& l, const Node& n) {
  Program::Impl& p = l.p;
  Step step;
  step.op = &n.op();
  step.attrs = n.attrs();
  step.loc = n.loc();
  step.text = print_node(n);
  for (int i = 0; i < n.num_operands(); ++i) step.in.push_back(p.slot.at(n.operand(i)));
  rule_for(n, l).make(n, l, step);
  for (int i = 0; i < n.num_results(); ++i) step.out.push_back(p.new_slot(n.result(i)));
  if (const KernelStep* k = step.as<KernelStep>(); k && k->view) p.view_source[static_cast<size_t>(step.out[0])] = step.in[0];
  if (l.top) take_memory_plan(p, n, step);
  for (Step& e : l.after) {  // an epilogue works in place on the node's first result
    e.in.insert(e.in.begin(), step.out[0]);
    e.out = {step.out[0]};
  }
  l.out->push_back(std::move(step));
  for (Step& e : l.after) l.out->push_back(std::move(e));
  l.after.clear();
}

void lower_graph(Program::Impl& p, const Graph& g, std::vector<Step>& steps, bool top) {
  Lowering l{p, jit_switch().load(), top, &steps, {}};
  for (const auto& node : g.nodes()) {
    if (node->name() == "constant") lower_constant(p, *node);
    else lower_node(l, *node);
  }
}

}  // namespace

bool jit_enabled() { return jit_switch().load(); }
void set_jit_enabled(bool on) { jit_switch().store(on); }

Program::Program(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Program::~Program() = default;

Program::Impl::~Impl() {
  for (Storage* s : constant_storage) s->release();
}

int Program::Impl::new_slot(const Value* v) {
  slot[v] = num_slots++;
  declared.push_back(v->type());
  view_source.push_back(-1);
  buffer_id.push_back(-1);
  if (!v->type().is_token && !v->type().tensor.shape.is_static()) dynamic = true;
  return slot[v];
}

std::unique_ptr<Program> Program::lower(const Graph& g, Device device) {
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->num_params = g.num_params();
  for (int i = 0; i < g.num_params(); ++i) {
    impl->new_slot(g.param(i));
    impl->variable_param.push_back(!g.param(i)->variable().empty());
  }
  lower_graph(*impl, g, impl->steps, true);
  impl->returned.assign(static_cast<size_t>(impl->num_slots), false);
  for (size_t i = 0; i < g.results().size(); ++i) {
    int s = impl->slot.at(g.results()[i]);
    impl->result_slots.push_back(s);
    impl->writeback.push_back(!g.result_variable(static_cast<int>(i)).empty());
    impl->returned[static_cast<size_t>(s)] = true;
  }
  impl->slot.clear();
  if (!impl->dynamic) {  // NOTE [Compile at lowering]
    std::vector<TensorType> inputs;
    for (int i = 0; i < impl->num_params; ++i) inputs.push_back(impl->declared[static_cast<size_t>(i)].tensor);
    impl->plans.emplace(std::vector<int64_t>{}, impl->make_plan(inputs));
  }
  return std::unique_ptr<Program>(new Program(std::move(impl)));
}

}  // namespace duet::codegen
