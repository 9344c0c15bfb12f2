// The type-erased core of duet::function: the trace cache (one trace per
// key in flight, bounded by count and bytes, the retrace reasons) and the
// call paths that choose between a compiled call, an inlined one and one
// under a tape. The signature, tracing and running a trace have files of
// their own (function_core.h lists them).
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
#include <duet/tracer/function_core.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>

#include <fmt/format.h>

#include <duet/runtime/tape_hooks.h>
#include <duet/tracer/trace.h>

namespace duet {

namespace {
std::atomic<bool> g_run_eagerly{false};
thread_local std::vector<const detail::FunctionCore*> t_tracing;  // functions being traced or inlined here
}  // namespace

void run_functions_eagerly(bool on) { g_run_eagerly.store(on); }
bool functions_run_eagerly() { return g_run_eagerly.load(); }

namespace detail {

FunctionCore::FunctionCore(Body body, FunctionOptions options, const char* result_kind)
    : body_(std::move(body)), options_(std::move(options)), result_kind_(result_kind) {
  if (options_.name.empty()) options_.name = "function";
  for (char& c : options_.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') c = '_';
  if (options_.cache_size < 1) options_.cache_size = 1;
}

FunctionCore::TracingMark::TracingMark(const FunctionCore* f) { t_tracing.push_back(f); }
FunctionCore::TracingMark::~TracingMark() { t_tracing.pop_back(); }

void FunctionCore::check_recursion() const {
  for (const FunctionCore* f : t_tracing)
    if (f == this)
      throw TraceError(fmt::format("function '{}' calls itself while it is being traced; recursion cannot be "
                                   "traced: loop with while_loop() instead",
                                   name()));
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

std::shared_ptr<const Trace> FunctionCore::wait_for(const std::shared_ptr<Entry>& e,
                                                    std::unique_lock<std::mutex>& lock) {
  if (e->ready) return e->trace;
  cv_.wait(lock, [&] { return e->ready || e->error; });  // another thread is tracing this key
  if (e->error) throw_copy(e->error);  // NOTE [A failed trace's error, shared]
  return e->trace;
}

// Under mu_: the entry of a new trace, so one trace per key is in flight.
FunctionCore::Miss FunctionCore::start_trace(const std::vector<ArgSpec>& spec, const std::string& key) {
  std::vector<ArgSpec> trace_spec = options_.reduce_retracing ? generalize_changed_dims(last_spec_, spec) : spec;
  std::string reason = last_spec_.empty() ? "" : difference(last_spec_, spec);
  if (options_.max_traces > 0 && traces_ + in_flight_ >= options_.max_traces)
    throw TraceError(fmt::format("function '{}' is locked at {} trace{} (max_traces) and would trace again: {}", name(),
                                 options_.max_traces, options_.max_traces == 1 ? "" : "s", reason));
  Miss miss;
  miss.entry = std::make_shared<Entry>();
  miss.entry->key = key;
  miss.entry->spec = trace_spec;
  entries_.push_front(miss.entry);
  // Only the function's first trace may create variables (DESIGN.md §1).
  miss.first = traces_ == 0 && in_flight_ == 0;
  ++in_flight_;
  miss.previous = last_spec_;
  miss.reason = std::move(reason);
  last_spec_ = spec;
  return miss;
}

// Under mu_: the entry goes, and its waiters get the error.
void FunctionCore::fail_trace(const Miss& miss, const std::vector<ArgSpec>& spec, std::exception_ptr error) {
  --in_flight_;
  if (key_of(last_spec_) == key_of(spec)) last_spec_ = miss.previous;  // no later trace started
  miss.entry->error = std::move(error);
  entries_.remove(miss.entry);
  cv_.notify_all();
}

// Under mu_: the entry is ready, and the cache back within its bounds. Returns the count of traces.
int FunctionCore::finish_trace(const Miss& miss, const std::shared_ptr<const Trace>& result) {
  --in_flight_;
  const std::shared_ptr<Entry>& entry = miss.entry;
  entry->trace = result;
  entry->ready = true;
  ++traces_;
  note_reason(miss.reason);
  entry->bytes = result->traced_ir.size() + result->optimized_ir.size() +
                 (result->program ? result->program->footprint_bytes() : 0);
  bytes_ += entry->bytes;
  evict_beyond_bounds(entry);
  int count = traces_;
  cv_.notify_all();
  return count;
}

void FunctionCore::note_reason(const std::string& reason) {
  if (reason.empty()) return;
  reasons_.push_back(reason);
  // The most recent ones only: a function retraced forever must not grow forever (test_soak.cpp).
  if (reasons_.size() > kMaxReasons) reasons_.erase(reasons_.begin());
}

// Over either bound, the least recently used ready traces go (never `keep`, the one just made).
void FunctionCore::evict_beyond_bounds(const std::shared_ptr<Entry>& keep) {
  while (static_cast<int>(entries_.size()) > options_.cache_size || bytes_ > options_.cache_bytes) {
    auto victim = std::find_if(entries_.rbegin(), entries_.rend(),
                               [&](const auto& e) { return e->ready && e != keep; });
    if (victim == entries_.rend()) break;
    bytes_ -= (*victim)->bytes;
    entries_.erase(std::next(victim).base());
  }
}

std::shared_ptr<const Trace> FunctionCore::get_trace(std::vector<ArgValue>& args) {
  check_recursion();
  std::vector<ArgSpec> spec = spec_of(args);
  std::string key = key_of(spec);
  std::unique_lock<std::mutex> lock(mu_);
  if (std::shared_ptr<Entry> e = find_fitting(spec, key)) return wait_for(e, lock);
  Miss miss = start_trace(spec, key);
  lock.unlock();

  std::shared_ptr<const Trace> result;
  try {
    result = trace(args, miss.entry->spec, miss.first);
  } catch (...) {
    lock.lock();
    fail_trace(miss, spec, std::current_exception());
    lock.unlock();
    throw_copy(miss.entry->error);
  }
  lock.lock();
  int count = finish_trace(miss, result);
  lock.unlock();
  if (count >= 5)
    fmt::print(stderr,
               "duet: warning: function '{}' has been traced {} times (last because {}); tracing is slow: give it an "
               "input_signature or reduce_retracing, or pass changing numbers as tensors\n",
               name(), count, miss.reason);
  return result;
}

std::vector<Tensor> FunctionCore::inline_call(std::vector<ArgValue>& args) {
  if (current_recorder()) check_recursion();  // eagerly (run_functions_eagerly) recursion is plain C++
  TracingMark mark(this);
  return body_(args);
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

}  // namespace duet
