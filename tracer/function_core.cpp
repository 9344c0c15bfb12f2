// The type-erased core of duet::function: the signature cache, tracing, and
// calling the compiled Program.
//
// NOTE [Tracing]
// A call builds a key from its arguments: tensors by dtype, shape and device
// (or by the input_signature, whose -1 dims match any size), Variables by
// type, tensor lists by length and types, by-value arguments by value. A miss
// traces: a TraceContext is installed as this thread's Recorder, tensor
// arguments become graph parameters (symbolic tensors), and the callable runs
// once; every op it calls goes through dispatch, which records a node instead
// of running a kernel. Concrete tensors it meets (captured eager tensors)
// become constants; variables become parameters and write-back results
// (NOTE [Variables in the IR]). The graph is verified, optimized by the
// "default" pipeline, and lowered to a Program. Later calls with the same key
// run the Program: no dispatch, no callable.
// One trace per key is in flight at a time: other threads wait for it and get
// its error if it fails. A function called while a trace is recording on the
// same thread is inlined into that trace; one that is already being traced
// on this thread is a TraceError (recursion), never a deadlock.
#include <duet/tracer/function.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <mutex>

#include <fmt/format.h>

#include <duet/backends/target.h>
#include <duet/codegen/program.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>
#include <duet/runtime/autodiff.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tape_hooks.h>
#include <duet/runtime/tensor_impl.h>
#include <duet/runtime/variable_lock.h>
#include <duet/tracer/trace.h>
#include <duet/tracer/trace_context.h>

namespace duet {

namespace {
std::atomic<bool> g_run_eagerly{false};
thread_local std::vector<const detail::FunctionCore*> t_tracing;  // functions being traced or inlined here
}  // namespace

void run_functions_eagerly(bool on) { g_run_eagerly.store(on); }
bool functions_run_eagerly() { return g_run_eagerly.load(); }

namespace detail {

namespace {

const char* kind_name(ArgValue::Kind k) {
  switch (k) {
    case ArgValue::Kind::tensor: return "Tensor";
    case ArgValue::Kind::variable: return "Variable";
    case ArgValue::Kind::tensor_list: return "std::vector<Tensor>";
    case ArgValue::Kind::boolean: return "bool";
    case ArgValue::Kind::integer: return "integer";
    case ArgValue::Kind::real: return "floating";
    case ArgValue::Kind::string: return "std::string";
  }
  return "?";
}

std::string spec_text(const ArgSpec& s) {
  switch (s.kind) {
    case ArgValue::Kind::tensor: return s.types[0].str();
    case ArgValue::Kind::variable: return "Variable " + s.types[0].str() + (s.value.empty() ? "" : " " + s.value);
    case ArgValue::Kind::tensor_list: {
      std::string t = "[";
      for (size_t i = 0; i < s.types.size(); ++i) t += (i ? ", " : "") + s.types[i].str();
      return t + "]";
    }
    default: return s.value;
  }
}

std::string key_of(const std::vector<ArgSpec>& spec) {
  std::string k;
  for (const ArgSpec& s : spec) {
    k += kind_name(s.kind);
    k += ':';
    k += spec_text(s);
    if (s.kind == ArgValue::Kind::tensor || s.kind == ArgValue::Kind::tensor_list || s.kind == ArgValue::Kind::variable)
      k += "@" + s.device.str();
    k += '|';
  }
  return k;
}

}  // namespace

bool dims_fit(const Shape& want, const Shape& got) {
  if (want.rank() != got.rank()) return false;
  for (int i = 0; i < want.rank(); ++i)
    if (want.dim(i) >= 0 && want.dim(i) != got.dim(i)) return false;
  return true;
}

namespace {

bool spec_fits(const std::vector<ArgSpec>& want, const std::vector<ArgSpec>& got) {
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    const ArgSpec &w = want[i], &g = got[i];
    if (w.kind != g.kind || w.types.size() != g.types.size() || w.value != g.value || !(w.device == g.device)) return false;
    for (size_t k = 0; k < w.types.size(); ++k)
      if (w.types[k].dtype != g.types[k].dtype || !dims_fit(w.types[k].shape, g.types[k].shape)) return false;
  }
  return true;
}

// The first difference between two specs, in words: "arg 0: shape [32,784] -> [16,784]".
std::string difference(const std::vector<ArgSpec>& from, const std::vector<ArgSpec>& to) {
  for (size_t i = 0; i < std::min(from.size(), to.size()); ++i) {
    const ArgSpec &a = from[i], &b = to[i];
    if (a.kind != b.kind) return fmt::format("arg {}: {} -> {}", i, kind_name(a.kind), kind_name(b.kind));
    if (a.value != b.value) return fmt::format("arg {}: value {} -> {}", i, a.value, b.value);
    if (a.types.size() != b.types.size())
      return fmt::format("arg {}: {} tensors -> {}", i, a.types.size(), b.types.size());
    for (size_t k = 0; k < a.types.size(); ++k) {
      std::string where = a.kind == ArgValue::Kind::tensor_list ? fmt::format("arg {}[{}]", i, k) : fmt::format("arg {}", i);
      if (a.types[k].dtype != b.types[k].dtype)
        return fmt::format("{}: dtype {} -> {}", where, dtype_name(a.types[k].dtype), dtype_name(b.types[k].dtype));
      if (!(a.types[k].shape == b.types[k].shape))
        return fmt::format("{}: shape {} -> {}", where, a.types[k].shape.str(), b.types[k].shape.str());
    }
    if (!(a.device == b.device)) return fmt::format("arg {}: device {} -> {}", i, a.device.str(), b.device.str());
  }
  if (from.size() != to.size()) return fmt::format("{} arguments -> {}", from.size(), to.size());
  return "a new signature";
}

std::string value_text(double d) { return fmt::format("{}", d); }

}  // namespace

class FunctionCore : public std::enable_shared_from_this<FunctionCore> {
 public:
  FunctionCore(Body body, FunctionOptions options, const char* result_kind)
      : body_(std::move(body)), options_(std::move(options)), result_kind_(result_kind) {
    if (options_.name.empty()) options_.name = "function";
    for (char& c : options_.name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') c = '_';
    if (options_.cache_size < 1) options_.cache_size = 1;
  }

  const std::string& name() const { return options_.name; }

  std::vector<ArgSpec> spec_of(const std::vector<ArgValue>& args) const;
  std::shared_ptr<const Trace> get_trace(std::vector<ArgValue>& args);
  std::vector<Tensor> inline_call(std::vector<ArgValue>& args);

  int trace_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return traces_;
  }
  std::vector<std::string> reasons() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reasons_;
  }

 private:
  struct Entry {
    std::string key;
    std::vector<ArgSpec> spec;
    bool ready = false;
    std::exception_ptr error;
    std::shared_ptr<const Trace> trace;
    size_t bytes = 0;  // the trace's footprint, counted in bytes_
  };

  std::shared_ptr<const Trace> trace(std::vector<ArgValue>& args, const std::vector<ArgSpec>& spec, bool first);
  void check_recursion() const {
    for (const FunctionCore* f : t_tracing)
      if (f == this)
        throw TraceError(fmt::format("function '{}' calls itself while it is being traced; recursion cannot be "
                                     "traced: loop with while_loop() instead",
                                     name()));
  }
  std::shared_ptr<Entry> find_fitting(const std::vector<ArgSpec>& spec, const std::string& key);

  Body body_;
  FunctionOptions options_;
  const char* result_kind_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::shared_ptr<Entry>> entries_;  // most recently used first
  size_t bytes_ = 0;                            // footprints of the ready entries
  std::vector<ArgSpec> last_spec_;  // of the last trace started
  int traces_ = 0;                   // finished traces
  int in_flight_ = 0;                // traces started and not yet finished
  static constexpr size_t kMaxReasons = 100;
  std::vector<std::string> reasons_;  // the last kMaxReasons retrace reasons
};

std::vector<ArgSpec> FunctionCore::spec_of(const std::vector<ArgValue>& args) const {
  std::vector<ArgSpec> spec;
  size_t next_sig = 0;
  const auto& sig = options_.input_signature;
  // `element` is the index in a tensor list, or -1; the argument's name is
  // only formatted for an error (this runs on every call).
  auto tensor_type = [&](const Tensor& t, size_t arg, long element) {
    auto where = [&] { return element < 0 ? fmt::format("arg {}", arg) : fmt::format("arg {}[{}]", arg, element); };
    if (!t.defined()) throw Error(fmt::format("function '{}': {} is an undefined tensor", name(), where()));
    TensorType type = t.type();
    if (!sig.empty()) {
      if (next_sig >= sig.size())
        throw Error(fmt::format("function '{}': {} has no entry in the input_signature ({} specs)", name(), where(),
                                sig.size()));
      const TensorSpec& want = sig[next_sig++];
      if (want.dtype != type.dtype || !dims_fit(want.shape, type.shape))
        throw Error(fmt::format("function '{}': {} is {}, which does not fit the input_signature {}", name(), where(),
                                type.str(), TensorType{want.dtype, want.shape}.str()));
      type.shape = want.shape;
    }
    return type;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const ArgValue& a = args[i];
    ArgSpec s;
    s.kind = a.kind;
    switch (a.kind) {
      case ArgValue::Kind::tensor:
        s.types.push_back(tensor_type(a.tensor, i, -1));
        s.device = a.tensor.device();
        break;
      case ArgValue::Kind::variable:
        if (!a.variable.defined()) throw Error(fmt::format("function '{}': arg {} is an empty Variable", name(), i));
        s.types.push_back(TensorType{a.variable.dtype(), a.variable.shape()});
        s.device = a.variable.device();
        // Aliasing is part of the key: (v, v) and (v, w) need different traces.
        for (size_t j = 0; j < i; ++j)
          if (args[j].kind == ArgValue::Kind::variable && args[j].variable.same_as(a.variable)) {
            s.value = fmt::format("(the variable of arg {})", j);
            break;
          }
        break;
      case ArgValue::Kind::tensor_list:
        for (size_t k = 0; k < a.list.size(); ++k) {
          s.types.push_back(tensor_type(a.list[k], i, static_cast<long>(k)));
          s.device = a.list[k].device();
        }
        break;
      case ArgValue::Kind::boolean: s.value = a.i ? "true" : "false"; break;
      case ArgValue::Kind::integer: s.value = std::to_string(a.i); break;
      case ArgValue::Kind::real: s.value = value_text(a.d); break;
      case ArgValue::Kind::string: s.value = quote_string(a.s); break;
    }
    spec.push_back(std::move(s));
  }
  if (!sig.empty() && next_sig != sig.size())
    throw Error(fmt::format("function '{}': the input_signature has {} specs but the call has {} tensors", name(),
                            sig.size(), next_sig));
  return spec;
}

std::shared_ptr<FunctionCore::Entry> FunctionCore::find_fitting(const std::vector<ArgSpec>& spec,
                                                                const std::string& key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if ((*it)->key == key || ((*it)->ready && spec_fits((*it)->spec, spec))) {
      auto e = *it;
      entries_.erase(it);
      entries_.push_front(e);  // most recently used
      return e;
    }
  }
  return nullptr;
}

namespace {

// NOTE [A failed trace's error, shared]
// The error of a failed trace reaches its own caller and every caller that
// waited for that trace. Each gets its own copy of the exception object
// (same type, same message), never the one object: threads that rethrow one
// std::exception_ptr share the object, and its reference count lives in
// libstdc++, where ThreadSanitizer cannot see the ordering it provides (a
// report of a vptr race in ~Error()). Copies leave nothing to order. An
// exception that is not a duet::Error is rethrown as it is.
[[noreturn]] void throw_copy(const std::exception_ptr& p) {
  try {
    std::rethrow_exception(p);
  } catch (const ShapeError& e) {
    throw ShapeError(e.what());
  } catch (const DTypeError& e) {
    throw DTypeError(e.what());
  } catch (const TraceError& e) {
    throw TraceError(e.what());
  } catch (const ParseError& e) {
    throw ParseError(e.what());
  } catch (const IOError& e) {
    throw IOError(e.what());
  } catch (const DeviceError& e) {
    throw DeviceError(e.what());
  } catch (const Error& e) {
    throw Error(e.what());
  }
}

}  // namespace

std::shared_ptr<const Trace> FunctionCore::get_trace(std::vector<ArgValue>& args) {
  check_recursion();
  std::vector<ArgSpec> spec = spec_of(args);
  std::string key = key_of(spec);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    std::shared_ptr<Entry> e = find_fitting(spec, key);
    if (!e) break;
    if (e->ready) return e->trace;
    cv_.wait(lock, [&] { return e->ready || e->error; });  // another thread is tracing this key
    if (e->error) throw_copy(e->error);  // NOTE [A failed trace's error, shared]
    return e->trace;
  }
  // A miss: decide what to trace, under the lock so one trace per key is in flight.
  std::vector<ArgSpec> trace_spec = spec;
  if (options_.reduce_retracing && !last_spec_.empty() && last_spec_.size() == spec.size()) {
    // Generalize the dims that changed since the last trace (same kinds and ranks only).
    bool compatible = true;
    for (size_t i = 0; i < spec.size() && compatible; ++i) {
      const ArgSpec &a = last_spec_[i], &b = spec[i];
      compatible = a.kind == b.kind && a.value == b.value && a.types.size() == b.types.size();
      for (size_t k = 0; compatible && k < a.types.size(); ++k)
        compatible = a.types[k].dtype == b.types[k].dtype && a.types[k].shape.rank() == b.types[k].shape.rank();
    }
    if (compatible)
      for (size_t i = 0; i < spec.size(); ++i)
        for (size_t k = 0; k < spec[i].types.size(); ++k)
          for (int d = 0; d < spec[i].types[k].shape.rank(); ++d)
            if (last_spec_[i].types[k].shape.dim(d) != spec[i].types[k].shape.dim(d)) trace_spec[i].types[k].shape.at(d) = -1;
  }
  std::string reason = last_spec_.empty() ? "" : difference(last_spec_, spec);
  if (options_.max_traces > 0 && traces_ + in_flight_ >= options_.max_traces)
    throw TraceError(fmt::format("function '{}' is locked at {} trace{} (max_traces) and would trace again: {}", name(),
                                 options_.max_traces, options_.max_traces == 1 ? "" : "s", reason));
  auto entry = std::make_shared<Entry>();
  entry->key = key;
  entry->spec = trace_spec;
  entries_.push_front(entry);
  // Only the function's first trace may create variables (DESIGN.md §1).
  const bool first = traces_ == 0 && in_flight_ == 0;
  ++in_flight_;
  std::vector<ArgSpec> previous = last_spec_;
  last_spec_ = spec;
  lock.unlock();

  std::shared_ptr<const Trace> result;
  try {
    result = trace(args, trace_spec, first);
  } catch (...) {
    lock.lock();
    --in_flight_;
    if (key_of(last_spec_) == key_of(spec)) last_spec_ = previous;  // no later trace started
    entry->error = std::current_exception();
    entries_.remove(entry);
    cv_.notify_all();
    lock.unlock();
    throw_copy(entry->error);
  }
  lock.lock();
  --in_flight_;
  entry->trace = result;
  entry->ready = true;
  ++traces_;
  if (!reason.empty()) {
    reasons_.push_back(reason);
    // The most recent ones only: a function retraced forever must not grow forever (test_soak.cpp).
    if (reasons_.size() > kMaxReasons) reasons_.erase(reasons_.begin());
  }
  entry->bytes = result->traced_ir.size() + result->optimized_ir.size() +
                 (result->program ? result->program->footprint_bytes() : 0);
  bytes_ += entry->bytes;
  // Over either bound, the least recently used ready traces go (never the one just made).
  while (static_cast<int>(entries_.size()) > options_.cache_size || bytes_ > options_.cache_bytes) {
    auto victim = std::find_if(entries_.rbegin(), entries_.rend(),
                               [&](const auto& e) { return e->ready && e != entry; });
    if (victim == entries_.rend()) break;
    bytes_ -= (*victim)->bytes;
    entries_.erase(std::next(victim).base());
  }
  int count = traces_;
  cv_.notify_all();
  lock.unlock();
  if (count >= 5)
    fmt::print(stderr,
               "duet: warning: function '{}' has been traced {} times (last because {}); tracing is slow: give it an "
               "input_signature or reduce_retracing, or pass changing numbers as tensors\n",
               name(), count, reason);
  return result;
}

// Where a trace runs: its first tensor or variable argument's device, else
// its first captured variable's, else the CPU. Every input must be there
// (run_trace says so otherwise).
static Device function_device(const Trace& t) {
  for (const ArgSpec& s : t.spec)
    if (!s.types.empty()) return s.device;
  for (const Variable& v : t.captured) return v.device();
  return Device::cpu();
}

std::shared_ptr<const Trace> FunctionCore::trace(std::vector<ArgValue>& args, const std::vector<ArgSpec>& spec,
                                                 bool first) {
  auto t = std::make_shared<Trace>();
  t->name = name();
  t->spec = spec;
  // Variable arguments are traced through proxies (one per distinct variable),
  // so a read through the argument is told apart from a read of the same
  // variable captured by the callable (NOTE [Variable arguments]).
  std::vector<ArgValue> symbolic = args;
  std::vector<Variable> arg_vars;
  std::vector<int> arg_var_positions;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].kind != ArgValue::Kind::variable) continue;
    const Variable& real = args[i].variable;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j)
      if (args[j].kind == ArgValue::Kind::variable && args[j].variable.same_as(real)) {
        symbolic[i].variable = symbolic[j].variable;
        seen = true;
      }
    if (seen) continue;
    Variable proxy(real.concrete_value(), real.name(), real.trainable());
    symbolic[i].variable = proxy;
    arg_vars.push_back(proxy);
    arg_var_positions.push_back(static_cast<int>(i));
  }
  TraceContext ctx(name(), arg_vars, arg_var_positions, /*allow_variable_creation=*/first);
  for (size_t i = 0; i < args.size(); ++i) {
    ArgValue& a = symbolic[i];
    if (a.kind == ArgValue::Kind::tensor) {
      a.tensor = ctx.parameter(spec[i].types[0], fmt::format("arg{}", i));
    } else if (a.kind == ArgValue::Kind::tensor_list) {
      for (size_t k = 0; k < a.list.size(); ++k) a.list[k] = ctx.parameter(spec[i].types[k], fmt::format("arg{}_{}", i, k));
    }
  }
  t->num_tensor_params = ctx.graph().num_params();
  std::vector<Tensor> outs;
  {
    Recorder* outer = current_recorder();
    set_current_recorder(&ctx);
    t_tracing.push_back(this);
    try {
      outs = body_(symbolic);
    } catch (...) {
      t_tracing.pop_back();
      set_current_recorder(outer);
      throw;
    }
    t_tracing.pop_back();
    set_current_recorder(outer);
  }
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
  std::unique_ptr<Graph> g = ctx.take_graph();
  t->traced_ir = print_graph(*g);
  verify(*g);
  passes::PassManager("default").run(*g, &cpu_target());
  t->optimized_ir = print_graph(*g);
  t->program = codegen::Program::lower(*g, function_device(*t));
  return t;
}

std::vector<Tensor> run_trace(const Trace& t, std::vector<ArgValue>& args, SrcLoc loc) {
  const std::string& name = t.name;
  std::vector<codegen::Buffer> inputs;
  // `where` names the input only when an error needs it (this runs on every call).
  auto add = [&](const Tensor& x, auto&& where) {
    TensorImpl* impl = x.impl();
    if (!impl->storage)
      throw TraceError(fmt::format("function '{}': {} is a symbolic tensor of a finished trace", name, where()));
    if (!(impl->device() == t.program->device()))
      throw DeviceError(fmt::format("function '{}': {} is on {}, but this trace runs on {} (where its first tensor "
                                    "argument or variable is): move every input to one device",
                                    name, where(), impl->device().str(), t.program->device().str()));
    inputs.push_back(codegen::Buffer{impl->type, impl->storage});
  };
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].kind == ArgValue::Kind::tensor) add(args[i].tensor, [&] { return fmt::format("arg {}", i); });
    if (args[i].kind == ArgValue::Kind::tensor_list)
      for (size_t k = 0; k < args[i].list.size(); ++k)
        add(args[i].list[k], [&] { return fmt::format("arg {}[{}]", i, k); });
  }
  // Variables are read when the call starts (NOTE [Variables in the IR]).
  // Those the program would update in place are locked for the call, in
  // address order, and donated when nothing else references their buffer
  // (NOTE [Donated variables]).
  std::vector<Variable> vars;
  vars.reserve(t.bindings.size());
  for (const VariableBinding& b : t.bindings) vars.push_back(b.arg_index >= 0 ? args[b.arg_index].variable : b.captured);
  const int first_var_input = static_cast<int>(inputs.size());
  std::vector<size_t> lockable;
  for (size_t k = 0; k < vars.size(); ++k)
    if (t.program->accepts_donation(first_var_input + static_cast<int>(k))) lockable.push_back(k);
  std::sort(lockable.begin(), lockable.end(), [&](size_t x, size_t y) { return vars[x].state() < vars[y].state(); });
  // Unlocked values are read before any lock is taken, and locks are
  // released before any other variable is assigned, so no thread ever waits
  // for a variable while holding one out of order.
  std::vector<Tensor> var_values(vars.size());
  for (size_t k = 0; k < vars.size(); ++k)
    if (!std::count(lockable.begin(), lockable.end(), k)) var_values[k] = vars[k].concrete_value();
  std::vector<std::unique_ptr<detail::VariableLock>> locks(vars.size());
  std::vector<bool> donate(vars.size(), false);
  for (size_t k : lockable) {
    locks[k] = std::make_unique<detail::VariableLock>(vars[k]);
    donate[k] = locks[k]->sole_owner();
    var_values[k] = locks[k]->value();
  }
  for (size_t k = 0; k < vars.size(); ++k) {
    add(var_values[k], [&] { return "variable '" + vars[k].name() + "'"; });
    inputs.back().donated = donate[k];
  }
  std::vector<codegen::Buffer> outputs;
  try {
    t.program->run(inputs, &outputs);
  } catch (const OutOfMemoryError& e) {  // NOTE [Result sizes]: the function, then what the Program asked for
    throw OutOfMemoryError(format_error(fmt::format("function '{}'", name), e.what(), loc));
  }
  std::vector<Tensor> results;
  for (const codegen::Buffer& b : outputs) {
    results.push_back(Tensor(TensorImpl::create_view(b.type, b.storage)));
    b.storage->release();  // create_view took its own reference
  }
  // Write back the assigned variables, in order (the locked ones under their
  // lock), then hand out the user's results.
  for (size_t k = 0; k < t.writebacks.size(); ++k)
    if (locks[t.writebacks[k]]) locks[t.writebacks[k]]->set(results[t.num_user_results + k]);
  locks.clear();
  for (size_t k = 0; k < t.writebacks.size(); ++k)
    if (!std::count(lockable.begin(), lockable.end(), t.writebacks[k])) vars[t.writebacks[k]].assign(results[t.num_user_results + k]);
  results.resize(t.num_user_results);
  return results;
}

std::vector<Tensor> FunctionCore::inline_call(std::vector<ArgValue>& args) {
  if (current_recorder()) check_recursion();  // eagerly (run_functions_eagerly) recursion is plain C++
  t_tracing.push_back(this);
  try {
    std::vector<Tensor> out = body_(args);
    t_tracing.pop_back();
    return out;
  } catch (...) {
    t_tracing.pop_back();
    throw;
  }
}

std::shared_ptr<FunctionCore> make_core(Body body, FunctionOptions options, const char* result_kind) {
  // A spec's dims are sizes or -1 (any size); -2 and a list past rank 8 are errors here, not at the first call.
  for (size_t k = 0; k < options.input_signature.size(); ++k) {
    const std::string what = fmt::format("function '{}': input_signature[{}]",
                                         options.name.empty() ? "function" : options.name, k);
    check_shape_argument(what.c_str(), options.input_signature[k].shape, /*allow_dynamic=*/true, SrcLoc());
  }
  return std::make_shared<FunctionCore>(std::move(body), std::move(options), result_kind);
}

// NOTE [Functions under a tape]
// A compiled call bypasses dispatch, so a recording tape would not see its
// ops. Under a tape the call is recorded as one op: its inputs are the tensor
// arguments and the variables the trace reads (read through value(), so the
// tape watches the trainable ones), and its backward is a second traced
// function that re-runs the body under a tape and returns the
// vector-Jacobian product. A function taking Variable arguments is inlined
// instead (each op recorded), since its backward would need those variables.
namespace {

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
        GradientTape tape(/*persistent=*/true);
        for (const Tensor& x : xs) tape.watch(x);
        for (const Variable& v : variables) tape.watch(v);  // non-trainable ones the outer tape watches too
        std::vector<ArgValue> call = shape_of_args;
        size_t next = 0;
        for (ArgValue& a : call) {
          if (a.kind == ArgValue::Kind::tensor) a.tensor = xs[next++];
          if (a.kind == ArgValue::Kind::tensor_list)
            for (Tensor& e : a.list) e = xs[next++];
        }
        std::vector<Tensor> outs = call_inline(*core, call);
        Tensor target;
        for (size_t i = 0; i < outs.size() && i < dys.size(); ++i) {
          if (!is_floating(outs[i].dtype())) continue;
          Tensor term = sum(outs[i] * dys[i]);  // vector-Jacobian product: weight each output
          target = target.defined() ? add(target, term) : term;
        }
        std::vector<GradSource> sources(xs.begin(), xs.end());
        for (const Variable& v : variables) sources.push_back(v);
        std::vector<Tensor> grads(sources.size());
        if (target.defined()) grads = tape.gradient(target, sources, Tensor());
        for (size_t i = 0; i < grads.size(); ++i)
          if (!grads[i].defined())
            grads[i] = i < xs.size() ? zeros_like(xs[i]) : zeros(variables[i - xs.size()].shape(),
                                                                  variables[i - xs.size()].dtype());
        return grads;
      },
      options);
  return t.backward;
}

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

}  // namespace

// NOTE [Variable arguments]
// A trace binds each Variable argument to a parameter of its own. A call that
// passes a variable the callable also captures would need both to be one
// variable, which that trace cannot express, so such a call runs the callable
// eagerly (correct, not compiled). Aliasing among the arguments themselves is
// part of the cache key instead.
static bool aliases_captured(const Trace& t, const std::vector<ArgValue>& args) {
  for (const ArgValue& a : args)
    if (a.kind == ArgValue::Kind::variable)
      for (const Variable& c : t.captured)
        if (c.same_as(a.variable)) return true;
  return false;
}

std::vector<Tensor> call_core(FunctionCore& core, std::vector<ArgValue>& args, SrcLoc loc) {
  std::shared_ptr<const Trace> t = core.get_trace(args);
  if (aliases_captured(*t, args)) return call_inline(core, args);
  if (tapes_recording()) return call_under_tape(core, t, args);
  return run_trace(*t, args, loc);
}

std::shared_ptr<const Trace> concrete_core(FunctionCore& core, std::vector<ArgValue>& args) {
  return core.get_trace(args);
}

std::vector<Tensor> call_inline(FunctionCore& core, std::vector<ArgValue>& args) { return core.inline_call(args); }

int trace_count(const FunctionCore& core) { return core.trace_count(); }
std::vector<std::string> retrace_reasons(const FunctionCore& core) { return core.reasons(); }

}  // namespace detail

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
