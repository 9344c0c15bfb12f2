// A compiled call while a GradientTape records: one op on the tape whose
// backward is a traced function of its own.
//
// NOTE [Functions under a tape]
// A compiled call bypasses dispatch, so a recording tape would not see its
// ops. Under a tape the call is recorded as one op: its inputs are the tensor
// arguments and the variables the trace reads (read through value(), so the
// tape watches the trainable ones), and its backward is a second traced
// function that re-runs the body under a tape and returns the
// vector-Jacobian product. A function taking Variable arguments is inlined
// instead (each op recorded), since its backward would need those variables.
#include <duet/runtime/autodiff.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tape_hooks.h>
#include <duet/tracer/function_core.h>

namespace duet::detail {

namespace {

// The call's arguments with its tensors (flattened, in order) replaced by `xs`.
std::vector<ArgValue> with_tensors(std::vector<ArgValue> call, const std::vector<Tensor>& xs) {
  size_t next = 0;
  for (ArgValue& a : call) {
    if (a.kind == ArgValue::Kind::tensor) a.tensor = xs[next++];
    if (a.kind == ArgValue::Kind::tensor_list)
      for (Tensor& e : a.list) e = xs[next++];
  }
  return call;
}

// sum(out_i * dy_i) over the floating outputs: its gradient is the
// vector-Jacobian product. Undefined when no output is floating.
Tensor weighted_sum(const std::vector<Tensor>& outs, const std::vector<Tensor>& dys) {
  Tensor target;
  for (size_t i = 0; i < outs.size() && i < dys.size(); ++i) {
    if (!is_floating(outs[i].dtype())) continue;
    Tensor term = sum(outs[i] * dys[i]);
    target = target.defined() ? add(target, term) : term;
  }
  return target;
}

// The backward's body: re-runs the function inline under a tape that watches
// the tensors and the trace's variables, and returns their gradients (zeros
// where one does not reach them).
std::vector<Tensor> retraced_vjp(FunctionCore& core, const std::vector<ArgValue>& shape_of_args,
                                 const std::vector<Variable>& variables, const std::vector<Tensor>& xs,
                                 const std::vector<Tensor>& dys) {
  GradientTape tape(/*persistent=*/true);
  for (const Tensor& x : xs) tape.watch(x);
  for (const Variable& v : variables) tape.watch(v);  // non-trainable ones the outer tape watches too
  std::vector<ArgValue> call = with_tensors(shape_of_args, xs);
  std::vector<Tensor> outs = call_inline(core, call);
  Tensor target = weighted_sum(outs, dys);
  std::vector<GradSource> sources(xs.begin(), xs.end());
  for (const Variable& v : variables) sources.push_back(v);
  std::vector<Tensor> grads(sources.size());
  if (target.defined()) grads = tape.gradient(target, sources, Tensor());
  for (size_t i = 0; i < grads.size(); ++i)
    if (!grads[i].defined())
      grads[i] = i < xs.size() ? zeros_like(xs[i]) : zeros(variables[i - xs.size()].shape(),
                                                            variables[i - xs.size()].dtype());
  return grads;
}

std::shared_ptr<BackwardFunction> backward_of(const std::shared_ptr<FunctionCore>& core, const Trace& t,
                                              const std::vector<ArgValue>& args) {
  std::lock_guard<std::mutex> lock(t.backward_mu);
  if (t.backward) return t.backward;
  std::vector<ArgValue> shape_of_args = args;  // by-value arguments are part of this trace
  std::vector<Variable> variables;
  for (const VariableBinding& b : t.bindings) variables.push_back(b.captured);
  FunctionOptions options;
  options.name = t.name + "_backward";
  // The core owns this trace, which owns the backward: hold the core weakly,
  // or the three would keep each other alive forever.
  std::weak_ptr<FunctionCore> weak_core = core;
  t.backward = std::make_shared<BackwardFunction>(
      [weak_core, shape_of_args, variables](std::vector<Tensor> xs, std::vector<Tensor> dys) {
        std::shared_ptr<FunctionCore> core = weak_core.lock();
        if (!core) throw Error("gradient: the traced function of this tape entry no longer exists");
        return retraced_vjp(*core, shape_of_args, variables, xs, dys);
      },
      options);
  return t.backward;
}

}  // namespace

std::vector<Tensor> call_under_tape(FunctionCore& core, const std::shared_ptr<const Trace>& t,
                                    std::vector<ArgValue>& args) {
  for (const ArgValue& a : args)
    if (a.kind == ArgValue::Kind::variable) return call_inline(core, args);
  std::vector<Tensor> tape_inputs;
  for (const ArgValue& a : args) {
    if (a.kind == ArgValue::Kind::tensor) tape_inputs.push_back(a.tensor);
    if (a.kind == ArgValue::Kind::tensor_list) tape_inputs.insert(tape_inputs.end(), a.list.begin(), a.list.end());
  }
  const size_t num_tensors = tape_inputs.size();
  for (const VariableBinding& b : t->bindings) tape_inputs.push_back(b.captured.value());
  std::vector<Tensor> outs = run_trace(*t, args);
  if (!tapes_watch_any(tape_inputs)) return outs;
  std::shared_ptr<BackwardFunction> backward = backward_of(core.shared_from_this(), *t, args);
  std::vector<Tensor> xs(tape_inputs.begin(), tape_inputs.begin() + static_cast<std::ptrdiff_t>(num_tensors));
  auto op = std::make_shared<const OpBackward>(
      [backward, xs](const std::vector<Tensor>& dys) { return (*backward)(xs, dys); });
  tape_record_op(tape_inputs, outs, op, SrcLoc());
  return outs;
}

}  // namespace duet::detail
