// Calling a trace: the arguments and the variables it reads become the
// Program's input buffers, the Program runs, and the variables it assigns are
// written back. ConcreteFunction calls a trace the same way.
#include <algorithm>

#include <fmt/format.h>

#include <duet/codegen/program.h>
#include <duet/runtime/tensor_impl.h>
#include <duet/runtime/variable_lock.h>
#include <duet/tracer/trace.h>

namespace duet::detail {

namespace {

// The Program's inputs, each checked to be a concrete tensor on the trace's
// device. `where` names the input only when an error needs it (this runs on
// every call).
struct ProgramInputs {
  const Trace& t;
  std::vector<codegen::Buffer> buffers;

  template <class Where>
  void add(const Tensor& x, Where&& where) {
    TensorImpl* impl = x.impl();
    if (!impl->storage)
      throw TraceError(fmt::format("function '{}': {} is a symbolic tensor of a finished trace", t.name, where()));
    if (!(impl->device() == t.program->device()))
      throw DeviceError(fmt::format("function '{}': {} is on {}, but this trace runs on {} (where its first tensor "
                                    "argument or variable is): move every input to one device",
                                    t.name, where(), impl->device().str(), t.program->device().str()));
    buffers.push_back(codegen::Buffer{impl->type, impl->storage});
  }

  void add_arguments(const std::vector<ArgValue>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].kind == ArgValue::Kind::tensor) add(args[i].tensor, [&] { return fmt::format("arg {}", i); });
      if (args[i].kind == ArgValue::Kind::tensor_list)
        for (size_t k = 0; k < args[i].list.size(); ++k)
          add(args[i].list[k], [&] { return fmt::format("arg {}[{}]", i, k); });
    }
  }
};

// The variables of one call. Variables are read when the call starts (NOTE
// [Variables in the IR]). Those the program would update in place are locked
// for the call, in address order, and donated when nothing else references
// their buffer (NOTE [Donated variables]). Unlocked values are read before
// any lock is taken, and locks are released before any other variable is
// assigned, so no thread ever waits for a variable while holding one out of
// order.
class CallVariables {
 public:
  CallVariables(const Trace& t, const std::vector<ArgValue>& args, int first_var_input) {
    vars_.reserve(t.bindings.size());
    for (const VariableBinding& b : t.bindings) vars_.push_back(b.arg_index >= 0 ? args[b.arg_index].variable : b.captured);
    for (size_t k = 0; k < vars_.size(); ++k)
      if (t.program->accepts_donation(first_var_input + static_cast<int>(k))) lockable_.push_back(k);
    std::sort(lockable_.begin(), lockable_.end(), [&](size_t x, size_t y) { return vars_[x].state() < vars_[y].state(); });
    values_.resize(vars_.size());
    for (size_t k = 0; k < vars_.size(); ++k)
      if (!is_locked(k)) values_[k] = vars_[k].concrete_value();
    locks_.resize(vars_.size());
    donate_.assign(vars_.size(), false);
    for (size_t k : lockable_) {
      locks_[k] = std::make_unique<detail::VariableLock>(vars_[k]);
      donate_[k] = locks_[k]->sole_owner();
      values_[k] = locks_[k]->value();
    }
  }

  void add_to(ProgramInputs& inputs) const {
    for (size_t k = 0; k < vars_.size(); ++k) {
      inputs.add(values_[k], [&] { return "variable '" + vars_[k].name() + "'"; });
      inputs.buffers.back().donated = donate_[k];
    }
  }

  // Writes back the assigned variables, in order (the locked ones under
  // their lock, then the others), from the results past the user's.
  void write_back(const Trace& t, const std::vector<Tensor>& results) {
    for (size_t k = 0; k < t.writebacks.size(); ++k)
      if (locks_[t.writebacks[k]]) locks_[t.writebacks[k]]->set(results[t.num_user_results + k]);
    locks_.clear();
    for (size_t k = 0; k < t.writebacks.size(); ++k)
      if (!is_locked(t.writebacks[k])) vars_[t.writebacks[k]].assign(results[t.num_user_results + k]);
  }

 private:
  bool is_locked(size_t k) const { return std::count(lockable_.begin(), lockable_.end(), k) != 0; }

  std::vector<Variable> vars_;
  std::vector<size_t> lockable_;  // indices into vars_, in lock order
  std::vector<Tensor> values_;
  std::vector<std::unique_ptr<detail::VariableLock>> locks_;
  std::vector<bool> donate_;
};

std::vector<Tensor> run_program(const Trace& t, const std::vector<codegen::Buffer>& inputs, SrcLoc loc) {
  std::vector<codegen::Buffer> outputs;
  try {
    t.program->run(inputs, &outputs);
  } catch (const OutOfMemoryError& e) {  // NOTE [Result sizes]: the function, then what the Program asked for
    throw OutOfMemoryError(format_error(fmt::format("function '{}'", t.name), e.what(), loc));
  }
  std::vector<Tensor> results;
  for (const codegen::Buffer& b : outputs) {
    results.push_back(Tensor(TensorImpl::create_view(b.type, b.storage)));
    b.storage->release();  // create_view took its own reference
  }
  return results;
}

}  // namespace

std::vector<Tensor> run_trace(const Trace& t, std::vector<ArgValue>& args, SrcLoc loc) {
  ProgramInputs inputs{t, {}};
  inputs.add_arguments(args);
  CallVariables vars(t, args, static_cast<int>(inputs.buffers.size()));
  vars.add_to(inputs);
  std::vector<Tensor> results = run_program(t, inputs.buffers, loc);
  vars.write_back(t, results);  // then hand out the user's results
  results.resize(t.num_user_results);
  return results;
}

}  // namespace duet::detail

namespace duet {

std::string ConcreteFunction::ir(Stage stage) const {
  if (!trace_) throw Error("ConcreteFunction: empty");
  switch (stage) {
    case Stage::traced: return trace_->traced_ir;
    case Stage::optimized: return trace_->optimized_ir;
    case Stage::lowered: return trace_->program->listing();
  }
  return "";
}

const std::string& ConcreteFunction::name() const {
  if (!trace_) throw Error("ConcreteFunction: empty");
  return trace_->name;
}

std::vector<Tensor> ConcreteFunction::operator()(const std::vector<Tensor>& inputs, Loc loc) const {
  if (!trace_) throw Error("ConcreteFunction: empty");
  int expected = trace_->num_tensor_params;
  if (static_cast<int>(inputs.size()) != expected)
    throw Error(fmt::format("function '{}': the concrete function takes {} tensors, got {}", trace_->name, expected,
                            inputs.size()));
  // Flattened tensors map onto the tensor arguments of the signature in order.
  std::vector<detail::ArgValue> args;
  size_t next = 0;
  for (const detail::ArgSpec& s : trace_->spec) {
    detail::ArgValue a;
    a.kind = s.kind;
    if (s.kind == detail::ArgValue::Kind::tensor) a.tensor = inputs[next++];
    else if (s.kind == detail::ArgValue::Kind::tensor_list)
      for (size_t k = 0; k < s.types.size(); ++k) a.list.push_back(inputs[next++]);
    else if (s.kind == detail::ArgValue::Kind::variable)
      throw Error(fmt::format("function '{}': a concrete function with Variable arguments is called through the "
                              "function itself",
                              trace_->name));
    args.push_back(std::move(a));
  }
  size_t k = 0;
  for (const detail::ArgSpec& s : trace_->spec)
    for (const TensorType& want : s.types) {
      if (s.kind == detail::ArgValue::Kind::variable) continue;
      const Tensor& got = inputs[k];
      if (!got.defined() || got.dtype() != want.dtype || !detail::dims_fit(want.shape, got.shape()))
        throw Error(fmt::format("function '{}': input {} is {}, the concrete function takes {}", trace_->name, k,
                                got.defined() ? got.type().str() : "undefined", want.str()));
      ++k;
    }
  return detail::run_trace(*trace_, args, loc);
}

}  // namespace duet
