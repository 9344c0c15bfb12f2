// TraceContext: the Recorder a trace installs in its thread. It appends a
// node per dispatched op, turns concrete tensors into constants, and keeps
// the current SSA value of every variable the function touches.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <duet/graph/ir.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/region_grad.h>
#include <duet/runtime/variable.h>

namespace duet::detail {

// How a variable parameter of the graph is bound at call time.
struct VariableBinding {
  Variable captured;   // a variable the callable captured (fixed state)
  int arg_index = -1;  // or the call's argument at this position
};

// Also the RegionTrace through which runtime/region_grad.cpp builds the tape
// entries of the cond and while nodes it records.
class TraceContext final : public Recorder, public RegionTrace {
 public:
  TraceContext(std::string name, std::vector<Variable> arg_variables, std::vector<int> arg_variable_positions,
               bool allow_variable_creation);
  ~TraceContext() override;

  Graph& graph() { return *graph_; }
  std::unique_ptr<Graph> take_graph() { return std::move(graph_); }
  uint64_t trace_id() const override { return id_; }
  bool observe_ops() const override { return stack_.size() == 1; }

  // A symbolic tensor for a new graph parameter.
  Tensor parameter(const TensorType& type, const std::string& name);
  // The IR value of a tensor met in the trace: its own symbol, or a constant.
  Value* value_of(const Tensor& t, SrcLoc loc) override;

  // Appends the final values of the assigned variables as results marked
  // with the variables' names; returns how many.
  int finish_variables();
  const std::vector<VariableBinding>& bindings() const { return bindings_; }
  const std::vector<int>& writeback_params() const { return writebacks_; }  // per write-back result: its binding
  const std::vector<Variable>& created_variables() const { return created_; }

  TensorList record(const OpDef& op, const Tensor* const* inputs, int num_inputs, const Attrs& attrs,
                    const SmallVec<TensorType, 2>& result_types, SrcLoc loc) override;
  std::vector<Tensor> record_cond(const Tensor& pred, const std::function<std::vector<Tensor>()>& then_fn,
                                  const std::function<std::vector<Tensor>()>& else_fn, SrcLoc loc) override;
  std::vector<Tensor> record_while(const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
                                   const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
                                   const std::vector<Tensor>& init, int64_t max_iterations, SrcLoc loc) override;
  void record_print(const std::string& format, const std::vector<Tensor>& tensors, SrcLoc loc) override;
  Tensor read_variable(const Variable& v) override;
  void assign_variable(const Variable& v, const Tensor& value, SrcLoc loc) override;
  void variable_created(const Variable& v, SrcLoc loc) override;

 private:
  struct VarState {
    Variable var;
    Value* param;
    Value* current;
  };
  VarState& variable(const Variable& v);
  Tensor symbolic(Value* v) override;
  Graph& current() { return *stack_.back(); }
  // The token chain of a graph: its last side effect's token, or null.
  Value*& last_token(Graph* g) { return last_token_[g]; }
  Value* fresh_token(Graph& g, SrcLoc loc);
  using LoopCond = std::function<Tensor(const std::vector<Tensor>&)>;
  using LoopBody = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
  struct LoopScan {
    std::vector<size_t> carried;  // the variables the body assigns (indices into vars_)
    bool effects = false;         // whether the loop has side effects
  };
  LoopScan scan_loop(const LoopCond& cond_fn, const LoopBody& body_fn, const std::vector<Tensor>& init,
                     const std::vector<Value*>& init_values, const std::vector<Value*>& before, SrcLoc loc);
  // Runs fn with g as the graph being recorded into.
  template <class F>
  auto in_region(Graph* g, F&& fn);
  std::vector<Value*> variable_values() const;
  void set_variable_values(const std::vector<Value*>& values);

  std::unique_ptr<Graph> graph_;
  std::vector<Graph*> stack_;  // graph_ and the regions being traced, innermost last
  std::unordered_map<Graph*, Value*> last_token_;
  std::unordered_map<const Value*, Tensor> symbols_;
  uint64_t id_;
  std::vector<Variable> arg_variables_;
  std::vector<int> arg_variable_positions_;
  bool allow_variable_creation_;
  std::unordered_map<const TensorImpl*, Value*> constants_;
  std::vector<Tensor> keep_alive_;  // constants' tensors: their addresses key constants_
  std::vector<VarState> vars_;
  std::unordered_map<const VariableState*, size_t> var_index_;
  std::vector<VariableBinding> bindings_;
  std::vector<int> writebacks_;
  std::vector<Variable> created_;
  std::unordered_map<std::string, int> used_var_names_;
};

}  // namespace duet::detail
