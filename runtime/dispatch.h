// dispatch: the one road every op call takes (DESIGN.md §2.2): infer result
// types, then either record into the active trace or run the device kernel,
// then let recording tapes see the call.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <duet/graph/op_def.h>
#include <duet/graph/small_vec.h>
#include <duet/runtime/tensor.h>

namespace duet {

using TensorList = SmallVec<Tensor, 2>;

const Attrs& no_attrs();

TensorList dispatch(const OpDef& op, const Tensor* const* inputs, int num_inputs, const Attrs& attrs, SrcLoc loc);
inline TensorList dispatch(const OpDef& op, std::initializer_list<const Tensor*> inputs, const Attrs& attrs,
                           SrcLoc loc) {
  return dispatch(op, inputs.begin(), static_cast<int>(inputs.size()), attrs, loc);
}
// The single result of a one-result op.
Tensor dispatch1(const OpDef& op, std::initializer_list<const Tensor*> inputs, const Attrs& attrs, SrcLoc loc);

// The hook a trace installs in its thread: while set, dispatch records nodes
// instead of running kernels (NOTE [The recorder interface]).
class Variable;
class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual TensorList record(const OpDef& op, const Tensor* const* inputs, int num_inputs, const Attrs& attrs,
                            const SmallVec<TensorType, 2>& result_types, SrcLoc loc) = 0;
  // Variables are functionalized while tracing (NOTE [Variables in the IR]):
  // a read gives the variable's current symbolic value, an assign makes the
  // next one, and a variable created while tracing is announced.
  virtual Tensor read_variable(const Variable& v) = 0;
  virtual void assign_variable(const Variable& v, const Tensor& value, SrcLoc loc) = 0;
  virtual void variable_created(const Variable& v, SrcLoc loc) = 0;
  // Control flow and side effects (NOTE [Control flow in traces]).
  virtual std::vector<Tensor> record_cond(const Tensor& pred, const std::function<std::vector<Tensor>()>& then_fn,
                                          const std::function<std::vector<Tensor>()>& else_fn, SrcLoc loc) = 0;
  virtual std::vector<Tensor> record_while(
      const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
      const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
      const std::vector<Tensor>& init, int64_t max_iterations, SrcLoc loc) = 0;
  virtual void record_print(const std::string& format, const std::vector<Tensor>& tensors, SrcLoc loc) = 0;
  // Whether tapes may observe the ops recorded now (not inside a region: a
  // region op is one tape entry of its own).
  virtual bool observe_ops() const { return true; }
  // The id that this trace's symbolic tensors carry (TensorImpl::trace_id).
  virtual uint64_t trace_id() const = 0;
};
// While set, ops dispatched on this thread report this location instead of
// their caller's: gradient rules run under the forward op's (user's) line.
class LocationOverride {
 public:
  explicit LocationOverride(SrcLoc loc);
  ~LocationOverride();

 private:
  SrcLoc saved_;
};

// The override in force on this thread, or an unknown location.
SrcLoc location_override();
// `loc` unless an override is in force.
inline SrcLoc effective_location(SrcLoc loc) {
  SrcLoc o = location_override();
  return o.file ? o : loc;
}

Recorder* current_recorder();
void set_current_recorder(Recorder* r);

// The hook gradient tapes install in their thread: told of every op that ran.
class OpObserver {
 public:
  virtual ~OpObserver() = default;
  virtual void on_op(const OpDef& op, const Tensor* const* inputs, int num_inputs, const Attrs& attrs,
                     const TensorList& outputs, SrcLoc loc) = 0;
};
OpObserver* current_op_observer();
void set_current_op_observer(OpObserver* o);

}  // namespace duet
