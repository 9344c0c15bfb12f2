// The listing of a Program's steps (Stage::lowered): one line per step,
// nested steps indented, a compiled step's body with its kernel's LLVM IR
// and assembly, a GPU step's kernel key, and with DUET_PROFILE=1 the time
// each step took.
#include <duet/codegen/program.h>

#include <fmt/format.h>

#include <duet/codegen/gpu/kernels.h>
#include <duet/codegen/steps.h>

namespace duet::codegen {

namespace {

struct KindName {
  const char* operator()(const KernelStep& k) const { return k.view ? "kernel (view)" : "kernel"; }
  const char* operator()(const CondStep&) const { return "cond"; }
  const char* operator()(const WhileStep&) const { return "while"; }
  const char* operator()(const SteppedFusionStep&) const { return "fusion (stepped through)"; }
  const char* operator()(const CompiledStep& c) const {
    switch (c.what) {
      case CompiledStep::What::rows: return "compiled row kernel";
      case CompiledStep::What::epilogue: return "compiled epilogue of";
      case CompiledStep::What::fusion: break;
    }
    return "fusion (compiled kernel)";
  }
  const char* operator()(const GpuStep&) const { return "fusion (generated GPU kernel)"; }
  const char* operator()(const PrintStep&) const { return "host print"; }
  const char* operator()(const NopStep&) const { return "no-op"; }
};

// The body a generated kernel computes per element ("%3 = mul(%0, %1) : f32").
std::string body_text(const BodySpec& b, const std::string& pad) {
  const size_t np = b.params.size();
  std::string body;
  for (size_t k = 0; k < b.ops.size(); ++k) {
    body += fmt::format("{}    %{} = {}(", pad, np + k, b.ops[k].name);
    for (size_t i = 0; i < b.ops[k].in.size(); ++i) body += fmt::format("{}%{}", i ? ", " : "", b.ops[k].in[i]);
    body += fmt::format(") : {}\n", dtype_name(b.ops[k].result));
  }
  std::string s = fmt::format("{}  body (%0..%{} are the inputs):\n{}{}    yield", pad, np - 1, body, pad);
  for (int y : b.yields) s += fmt::format(" %{}", y);
  return s;
}

// The kernel itself for contiguous inputs (broadcast inputs get a variant
// that reads one element), as LLVM IR and as assembly.
std::string kernel_text(const BodySpec& b, const std::string& pad) {
  std::vector<bool> contiguous(b.params.size(), false);
  const std::string host = jit::host_description();
  return fmt::format("\n{}  kernel, LLVM IR after O3:\n", pad) + jit::kernel_llvm_ir(b, contiguous) +
         fmt::format("{}  kernel, {} assembly:\n", pad, host.substr(0, host.find(' '))) + jit::kernel_asm(b, contiguous);
}

void list_steps(const std::vector<Step>& steps, int depth, int& counter, std::string& s);

void list_regions(const Region& a, const char* a_name, const Region& b, const char* b_name, const std::string& pad,
                  int depth, int& counter, std::string& s) {
  s += pad + a_name + ":\n";
  list_steps(a.steps, depth + 1, counter, s);
  s += pad + b_name + ":\n";
  list_steps(b.steps, depth + 1, counter, s);
}

void list_steps(const std::vector<Step>& steps, int depth, int& counter, std::string& s) {
  std::string pad(static_cast<size_t>(2 * depth + 2), ' ');
  for (const Step& st : steps) {
    std::string line = st.text.substr(0, st.text.find('\n'));
    std::string time;
    if (int64_t runs = *st.profile_runs) time = fmt::format(" [{:.2f} us avg over {} runs]", *st.profile_ns / 1e3 / runs, runs);
    s += fmt::format("{}step {}: {} {}{}  // {}\n", pad, counter++, std::visit(KindName{}, st.kind),
                     st.op ? st.op->name() : "", time, line);
    if (const SteppedFusionStep* f = st.as<SteppedFusionStep>()) list_steps(f->body.steps, depth + 1, counter, s);
    if (const CompiledStep* c = st.as<CompiledStep>()) s += body_text(*c->body, pad) + kernel_text(*c->body, pad);
    // A GPU kernel's PTX depends on the device: its cache key.
    if (const GpuStep* g = st.as<GpuStep>()) s += body_text(*g->body, pad) + fmt::format("\n{}  GPU kernel: {}\n", pad, gpu::body_key(*g->body));
    if (const CondStep* c = st.as<CondStep>()) list_regions(c->then_branch, "then", c->else_branch, "else", pad, depth, counter, s);
    if (const WhileStep* w = st.as<WhileStep>()) list_regions(w->condition, "condition", w->body, "body", pad, depth, counter, s);
  }
}

}  // namespace

std::string Program::listing() const {
  const Impl& p = *impl_;
  std::string s = fmt::format("program: {} params, {} constants, {} steps{}\n", p.num_params,
                              p.constant_slot.size(), count_steps(p.steps), p.dynamic ? " (dynamic shapes)" : "");
  int counter = 0;
  list_steps(p.steps, 0, counter, s);
  return s;
}

}  // namespace duet::codegen
