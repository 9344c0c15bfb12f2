// A cache miss made into a Trace: the callable runs once on symbolic
// arguments under a TraceContext, and the graph it records is verified,
// optimized and lowered to a Program (NOTE [Tracing] in function_core.cpp).
#include <fmt/format.h>

#include <duet/backends/target.h>
#include <duet/codegen/program.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>
#include <duet/tracer/function_core.h>
#include <duet/tracer/trace_context.h>

namespace duet::detail {

namespace {

// The arguments the callable is traced with. Variable arguments are traced
// through proxies (one per distinct variable), so a read through the
// argument is told apart from a read of the same variable captured by the
// callable (NOTE [Variable arguments] in function_core.cpp).
struct SymbolicArgs {
  std::vector<ArgValue> args;
  std::vector<Variable> proxies;     // one per distinct variable argument
  std::vector<int> proxy_positions;  // the argument each proxy stands for
};

SymbolicArgs with_variable_proxies(const std::vector<ArgValue>& args) {
  SymbolicArgs s{args, {}, {}};
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].kind != ArgValue::Kind::variable) continue;
    const Variable& real = args[i].variable;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j)
      if (args[j].kind == ArgValue::Kind::variable && args[j].variable.same_as(real)) {
        s.args[i].variable = s.args[j].variable;
        seen = true;
      }
    if (seen) continue;
    Variable proxy(real.concrete_value(), real.name(), real.trainable());
    s.args[i].variable = proxy;
    s.proxies.push_back(proxy);
    s.proxy_positions.push_back(static_cast<int>(i));
  }
  return s;
}

// Tensor arguments become the graph's parameters, typed by the trace's spec.
void bind_parameters(TraceContext& ctx, std::vector<ArgValue>& symbolic, const std::vector<ArgSpec>& spec) {
  for (size_t i = 0; i < symbolic.size(); ++i) {
    ArgValue& a = symbolic[i];
    if (a.kind == ArgValue::Kind::tensor) {
      a.tensor = ctx.parameter(spec[i].types[0], fmt::format("arg{}", i));
    } else if (a.kind == ArgValue::Kind::tensor_list) {
      for (size_t k = 0; k < a.list.size(); ++k) a.list[k] = ctx.parameter(spec[i].types[k], fmt::format("arg{}_{}", i, k));
    }
  }
}

// Where a trace runs: its first tensor or variable argument's device, else
// its first captured variable's, else the CPU. Every input must be there
// (run_trace says so otherwise).
Device function_device(const Trace& t) {
  for (const ArgSpec& s : t.spec)
    if (!s.types.empty()) return s.device;
  for (const Variable& v : t.captured) return v.device();
  return Device::cpu();
}

// The recorded graph, verified, optimized for its device's target (what that
// device fuses: backends/target.h) and lowered, with its IR text at each stage.
void lower(Trace& t, std::unique_ptr<Graph> g) {
  t.traced_ir = print_graph(*g);
  verify(*g);
  const Device device = function_device(t);
  passes::PassManager("default").run(*g, &target_of(device));
  t.optimized_ir = print_graph(*g);
  t.program = codegen::Program::lower(*g, device);
}

}  // namespace

std::vector<Tensor> FunctionCore::run_body(Recorder& ctx, std::vector<ArgValue>& symbolic_args) {
  // Restored on the way out, error or not: this function's mark first, then the recorder.
  struct RecorderScope {
    Recorder* outer = current_recorder();
    explicit RecorderScope(Recorder* r) { set_current_recorder(r); }
    ~RecorderScope() { set_current_recorder(outer); }
  } recorder(&ctx);
  TracingMark mark(this);
  return body_(symbolic_args);
}

std::shared_ptr<const Trace> FunctionCore::trace(std::vector<ArgValue>& args, const std::vector<ArgSpec>& spec,
                                                 bool first) {
  auto t = std::make_shared<Trace>();
  t->name = name();
  t->spec = spec;
  SymbolicArgs symbolic = with_variable_proxies(args);
  TraceContext ctx(name(), symbolic.proxies, symbolic.proxy_positions, /*allow_variable_creation=*/first);
  bind_parameters(ctx, symbolic.args, spec);
  t->num_tensor_params = ctx.graph().num_params();
  std::vector<Tensor> outs = run_body(ctx, symbolic.args);
  std::vector<Value*> results;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].defined())
      throw TraceError(fmt::format("function '{}': result {} is an undefined tensor", name(), i));
    results.push_back(ctx.value_of(outs[i], SrcLoc()));
  }
  ctx.graph().set_results(results);
  t->num_user_results = static_cast<int>(results.size());
  ctx.finish_variables();
  t->bindings = ctx.bindings();
  for (const VariableBinding& b : t->bindings)
    if (b.arg_index < 0) t->captured.push_back(b.captured);
  t->writebacks = ctx.writeback_params();
  lower(*t, ctx.take_graph());
  return t;
}

}  // namespace duet::detail
