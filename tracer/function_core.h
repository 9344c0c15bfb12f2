// FunctionCore, the type-erased core of duet::function (NOTE [Tracing] in
// function_core.cpp), and what its files share. Internal to the tracer layer:
// signature.cpp (keys and fits), function_core.cpp (the cache), tracing.cpp
// (a trace and its Program), run_trace.cpp (calling one), tape_call.cpp
// (calls under a tape).
#pragma once

#include <condition_variable>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <duet/tracer/trace.h>

namespace duet::detail {

// The cache key of a call's spec: kinds, types, by-value arguments, devices.
std::string key_of(const std::vector<ArgSpec>& spec);
// Whether a trace made for `want` (whose -1 dims match any size) serves `got`.
bool spec_fits(const std::vector<ArgSpec>& want, const std::vector<ArgSpec>& got);
// The first difference between two specs, in words: "arg 0: shape [32,784] -> [16,784]".
std::string difference(const std::vector<ArgSpec>& from, const std::vector<ArgSpec>& to);
// reduce_retracing: `spec` with the dims that changed since `last` made -1,
// when the two have the same kinds, values, dtypes and ranks; else `spec`.
std::vector<ArgSpec> generalize_changed_dims(const std::vector<ArgSpec>& last, const std::vector<ArgSpec>& spec);

class FunctionCore : public std::enable_shared_from_this<FunctionCore> {
 public:
  FunctionCore(Body body, FunctionOptions options, const char* result_kind);

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
  // A trace this thread started on a miss, and what finishing or failing it needs.
  struct Miss {
    std::shared_ptr<Entry> entry;
    bool first = false;                 // the function's first trace: it may create variables
    std::vector<ArgSpec> previous;      // last_spec_ before this trace started
    std::string reason;                 // why it traces again ("" for the first)
  };
  // Marks this function as being traced or inlined on this thread while it
  // lives (check_recursion reads the marks).
  class TracingMark {
   public:
    explicit TracingMark(const FunctionCore* f);
    ~TracingMark();
    TracingMark(const TracingMark&) = delete;
    TracingMark& operator=(const TracingMark&) = delete;
  };

  // The cache, under mu_ (function_core.cpp).
  std::shared_ptr<Entry> find_fitting(const std::vector<ArgSpec>& spec, const std::string& key);
  std::shared_ptr<const Trace> wait_for(const std::shared_ptr<Entry>& e, std::unique_lock<std::mutex>& lock);
  Miss start_trace(const std::vector<ArgSpec>& spec, const std::string& key);
  void fail_trace(const Miss& miss, const std::vector<ArgSpec>& spec, std::exception_ptr error);
  int finish_trace(const Miss& miss, const std::shared_ptr<const Trace>& result);
  void note_reason(const std::string& reason);
  void evict_beyond_bounds(const std::shared_ptr<Entry>& keep);
  void check_recursion() const;

  // Tracing the callable and lowering its graph (tracing.cpp).
  std::shared_ptr<const Trace> trace(std::vector<ArgValue>& args, const std::vector<ArgSpec>& spec, bool first);
  std::vector<Tensor> run_body(Recorder& ctx, std::vector<ArgValue>& symbolic_args);

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

// A call while a tape records: one op on the tape, or inlined (NOTE
// [Functions under a tape], tape_call.cpp).
std::vector<Tensor> call_under_tape(FunctionCore& core, const std::shared_ptr<const Trace>& t,
                                    std::vector<ArgValue>& args);

}  // namespace duet::detail
