// The recorder of a trace. See NOTE [Tracing] in tracer/function_core.cpp and
// NOTE [Variables in the IR] in graph/ir.h.
#include <duet/tracer/trace_context.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include <fmt/format.h>

#include <duet/backends/copy.h>
#include <duet/runtime/control_flow.h>
#include <duet/runtime/tape_hooks.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tensor_impl.h>

namespace duet::detail {

namespace {
std::atomic<uint64_t> g_next_trace_id{1};

// A graph-friendly name hint from a variable's name ("dense/kernel" -> dense_kernel).
std::string identifier(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out.empty() || std::isdigit(static_cast<unsigned char>(out[0])) ? "v" + out : out;
}
}  // namespace

TraceContext::TraceContext(std::string name, std::vector<Variable> arg_variables,
                           std::vector<int> arg_variable_positions, bool allow_variable_creation)
    : graph_(std::make_unique<Graph>(std::move(name))),
      id_(g_next_trace_id.fetch_add(1)),
      arg_variables_(std::move(arg_variables)),
      arg_variable_positions_(std::move(arg_variable_positions)),
      allow_variable_creation_(allow_variable_creation) {
  stack_.push_back(graph_.get());
}

TraceContext::~TraceContext() = default;

// One symbolic tensor per SSA value: a tape that watches a value watches it
// however often the callable reads it (a variable read twice, a cond result).
Tensor TraceContext::symbolic(Value* v) {
  auto it = symbols_.find(v);
  if (it != symbols_.end()) return it->second;
  Tensor t(TensorImpl::create_symbolic(v->type().tensor, v, id_));
  symbols_.emplace(v, t);
  return t;
}

Tensor TraceContext::parameter(const TensorType& type, const std::string& name) {
  return symbolic(graph_->add_param(type, name));
}

Value* TraceContext::value_of(const Tensor& t, SrcLoc loc) {
  const TensorImpl* impl = t.impl();
  if (!impl->storage) {
    if (impl->trace_id != id_)
      throw TraceError(format_error("trace",
                                    fmt::format("a symbolic {} of another (finished) trace was used; traced values "
                                                "cannot leave their function",
                                                t.type().str()),
                                    loc));
    auto* v = static_cast<Value*>(impl->symbol);
    Graph* home = v->producer() ? v->producer()->parent() : v->owner();
    if (std::find(stack_.begin(), stack_.end(), home) == stack_.end())
      throw TraceError(format_error("trace",
                                    fmt::format("a {} computed inside a cond or while_loop branch was used outside "
                                                "it; return it from the branch instead",
                                                t.type().str()),
                                    loc));
    return v;
  }
  auto it = constants_.find(impl);
  if (it != constants_.end()) return it->second;
  // A concrete tensor met in the trace becomes a constant of the graph.
  auto data = std::make_shared<DenseData>();
  data->dtype = impl->type.dtype;
  data->shape = impl->type.shape;
  size_t bytes = static_cast<size_t>(impl->type.shape.numel()) * dtype_size(impl->type.dtype);
  data->bytes.resize(bytes);
  copy_bytes(data->bytes.data(), Device::cpu(), impl->data(), impl->device(), bytes);
  Attrs attrs{{"value", Dense{data}}};
  // Constants go first in the function, so they dominate every region.
  Node* first = graph_->nodes().empty() ? nullptr : graph_->nodes().front().get();
  Node* n = graph_->create(op_def("constant"), {}, {ValueType(impl->type)}, attrs, loc, first);
  constants_[impl] = n->result();
  keep_alive_.push_back(t);
  return n->result();
}

TensorList TraceContext::record(const OpDef& op, const Tensor* const* inputs, int n, const Attrs& attrs,
                                const SmallVec<TensorType, 2>& result_types, SrcLoc loc) {
  std::vector<Value*> operands;
  for (int i = 0; i < n; ++i) operands.push_back(value_of(*inputs[i], loc));
  std::vector<ValueType> types;
  for (size_t i = 0; i < result_types.size(); ++i) types.push_back(result_types[i]);
  Node* node = current().create(op, operands, types, attrs, loc);
  TensorList out;
  for (int i = 0; i < node->num_results(); ++i) out.push_back(symbolic(node->result(i)));
  return out;
}

TraceContext::VarState& TraceContext::variable(const Variable& v) {
  auto it = var_index_.find(v.state());
  if (it != var_index_.end()) return vars_[it->second];
  // First touch: a parameter bound to the call's argument or to the captured variable.
  VariableBinding binding;
  for (size_t k = 0; k < arg_variables_.size(); ++k)
    if (arg_variables_[k].same_as(v)) binding.arg_index = arg_variable_positions_[k];
  if (binding.arg_index < 0) binding.captured = v;
  std::string name = v.name().empty() ? "variable" : v.name();
  int& seen = used_var_names_[name];
  std::string marker = seen == 0 ? name : fmt::format("{}_{}", name, seen);
  ++seen;
  Value* p = graph_->add_param(TensorType{v.dtype(), v.shape()}, identifier(marker));
  p->set_variable(marker);
  bindings_.push_back(binding);
  var_index_[v.state()] = vars_.size();
  vars_.push_back(VarState{v, p, p});
  return vars_.back();
}

Tensor TraceContext::read_variable(const Variable& v) { return symbolic(variable(v).current); }

void TraceContext::assign_variable(const Variable& v, const Tensor& value, SrcLoc loc) {
  VarState& s = variable(v);
  s.current = value_of(value, loc);
}

void TraceContext::variable_created(const Variable& v, SrcLoc loc) {
  if (!allow_variable_creation_)
    throw TraceError(format_error(
        "Variable",
        fmt::format("'{}' is created while retracing {}: variables created in a function live on as state, so "
                    "only its first trace may create them; create it outside the function",
                    v.name(), "@" + graph_->name()),
        loc));
  created_.push_back(v);
}

// NOTE [Control flow in traces]
// cond and while_loop trace their lambdas into regions of one node while the
// region is the graph being recorded into (stack_). A region may use any value
// of an enclosing graph; a value made inside a branch cannot be used outside
// it. Constants are hoisted to the top of the function so every region sees
// them. Variables stay functionalized across regions: a variable assigned in
// either branch of a cond becomes an extra result (each branch yields its
// final value, or the value before the cond); a variable a loop body assigns
// becomes an extra loop variable (found by tracing the body once more into a
// scratch graph that is thrown away). Side effects keep one token chain per
// graph: a region op with effects inside consumes its graph's token and
// yields a new one; a branch or loop without one starts from after_all.
// Under a recording tape, a cond or while node of the function's own graph
// becomes one tape entry, built by runtime/region_grad.cpp (NOTE [Gradients
// through a traced cond], NOTE [Gradients through a traced while_loop]).

std::vector<Value*> TraceContext::variable_values() const {
  std::vector<Value*> out;
  for (const VarState& v : vars_) out.push_back(v.current);
  return out;
}

void TraceContext::set_variable_values(const std::vector<Value*>& values) {
  for (size_t k = 0; k < values.size() && k < vars_.size(); ++k) vars_[k].current = values[k];
  for (size_t k = values.size(); k < vars_.size(); ++k) vars_[k].current = vars_[k].param;
}

Value* TraceContext::fresh_token(Graph& g, SrcLoc loc) {
  Node* n = g.create(op_def("after_all"), {}, {ValueType::token()}, {}, loc);
  last_token(&g) = n->result();
  return n->result();
}

template <class F>
auto TraceContext::in_region(Graph* g, F&& fn) {
  stack_.push_back(g);
  try {
    auto r = fn();
    stack_.pop_back();
    return r;
  } catch (...) {
    stack_.pop_back();
    throw;
  }
}

namespace {
Value* as_scalar_predicate(TraceContext& ctx, const Tensor& pred, SrcLoc loc) {
  Tensor p = pred.rank() == 0 ? pred : reshape(pred, Shape{});  // one element: checked by the caller
  return ctx.value_of(p, loc);
}
}  // namespace

std::vector<Tensor> TraceContext::record_cond(const Tensor& pred, const std::function<std::vector<Tensor>()>& then_fn,
                                              const std::function<std::vector<Tensor>()>& else_fn, SrcLoc loc) {
  Graph& outer = current();
  Value* p = as_scalar_predicate(*this, pred, loc);
  std::vector<Value*> before = variable_values();
  Node* node = outer.create(op_def("cond"), {p}, {}, {}, loc);
  Graph* branches[2] = {node->add_region(), node->add_region()};
  const std::function<std::vector<Tensor>()>* fns[2] = {&then_fn, &else_fn};
  std::vector<Value*> outs[2], finals[2];
  for (int b = 0; b < 2; ++b) {
    set_variable_values(before);
    std::vector<Tensor> r = in_region(branches[b], [&] { return (*fns[b])(); });
    in_region(branches[b], [&] {
      for (const Tensor& t : r) {
        if (!t.defined()) throw TraceError(format_error("cond", "a branch returned an undefined tensor", loc));
        outs[b].push_back(value_of(t, loc));
      }
      return 0;
    });
    finals[b] = variable_values();
  }
  const char* names[2] = {"then", "else"};
  if (outs[0].size() != outs[1].size())
    throw TraceError(format_error("cond", fmt::format("the then branch returns {} tensors but the else branch {}",
                                                      outs[0].size(), outs[1].size()), loc));
  for (size_t i = 0; i < outs[0].size(); ++i)
    if (!(outs[0][i]->type() == outs[1][i]->type()))
      throw TraceError(format_error("cond", fmt::format("result {} is {} in the {} branch but {} in the {} branch", i,
                                                        outs[0][i]->type().str(), names[0], outs[1][i]->type().str(),
                                                        names[1]), loc));
  // Variables assigned in either branch: one more result each.
  std::vector<Value*> yields[2] = {outs[0], outs[1]};
  std::vector<size_t> assigned;
  size_t nvars = finals[0].size() > finals[1].size() ? finals[0].size() : finals[1].size();
  for (size_t k = 0; k < nvars; ++k) {
    Value* base = k < before.size() ? before[k] : vars_[k].param;
    Value* f0 = k < finals[0].size() ? finals[0][k] : vars_[k].param;
    Value* f1 = k < finals[1].size() ? finals[1][k] : vars_[k].param;
    if (f0 == base && f1 == base) continue;
    assigned.push_back(k);
    yields[0].push_back(f0);
    yields[1].push_back(f1);
  }
  // Side effects inside: the cond joins the outer chain.
  bool effects = last_token(branches[0]) || last_token(branches[1]);
  if (effects) {
    for (int b = 0; b < 2; ++b) {
      Value* tok = last_token(branches[b]);
      if (!tok) tok = fresh_token(*branches[b], loc);
      yields[b].push_back(tok);
    }
  }
  for (int b = 0; b < 2; ++b) branches[b]->set_results(yields[b]);
  for (Value* v : yields[0]) node->add_result(v->type());
  set_variable_values(before);
  for (size_t j = 0; j < assigned.size(); ++j) vars_[assigned[j]].current = node->result(static_cast<int>(outs[0].size() + j));
  if (effects) {
    // The outer token (if any) is consumed; the cond's token continues the chain.
    if (Value* t = last_token(&outer)) node->add_operand(t);
    last_token(&outer) = node->result(node->num_results() - 1);
  }
  std::vector<Tensor> result;
  for (size_t i = 0; i < outs[0].size(); ++i) result.push_back(symbolic(node->result(static_cast<int>(i))));
  if (stack_.size() == 1 && detail::tapes_recording()) record_cond_gradient(*this, node, p, loc);
  return result;
}

// Traces the loop once into a scratch graph that is thrown away (NOTE
// [Control flow in traces]): the variables its body assigns, and whether it
// has side effects.
TraceContext::LoopScan TraceContext::scan_loop(const LoopCond& cond_fn, const LoopBody& body_fn,
                                               const std::vector<Tensor>& init,
                                               const std::vector<Value*>& init_values,
                                               const std::vector<Value*>& before, SrcLoc loc) {
  LoopScan scan;
  Graph scratch("scratch");
  std::vector<Tensor> params;
  for (Value* v : init_values) params.push_back(symbolic(scratch.add_param(v->type())));
  in_region(&scratch, [&] {
    Tensor c = cond_fn(params);
    (void)c;
    std::vector<Tensor> next = body_fn(params);
    check_loop_vars(init, next, loc);  // a ShapeError naming the variable and both types
    return 0;
  });
  std::vector<Value*> after = variable_values();
  for (size_t k = 0; k < after.size(); ++k) {
    Value* base = k < before.size() ? before[k] : vars_[k].param;
    if (after[k] != base) scan.carried.push_back(k);
  }
  scan.effects = last_token(&scratch) != nullptr;
  for (auto it = last_token_.begin(); it != last_token_.end();)
    it = scratch.encloses(it->first) ? last_token_.erase(it) : std::next(it);
  set_variable_values(before);
  // The scratch graph dies here: forget its values (their addresses will be reused).
  for (auto it = symbols_.begin(); it != symbols_.end();) {
    const Value* v = it->first;
    Graph* home = v->producer() ? v->producer()->parent() : v->owner();
    it = scratch.encloses(home) ? symbols_.erase(it) : std::next(it);
  }
  return scan;
}

std::vector<Tensor> TraceContext::record_while(
    const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn, const std::vector<Tensor>& init,
    int64_t max_iterations, SrcLoc loc) {
  Graph& outer = current();
  std::vector<Value*> init_values;
  for (const Tensor& t : init) init_values.push_back(value_of(t, loc));
  std::vector<Value*> before = variable_values();

  // Pass 1, thrown away: which variables does the body assign, and does the loop print?
  const LoopScan scan = scan_loop(cond_fn, body_fn, init, init_values, before, loc);
  const std::vector<size_t>& carried = scan.carried;
  const bool effects = scan.effects;

  // Pass 2: the loop variables are the user's, then the carried variables, then a token.
  std::vector<Value*> operands = init_values;
  for (size_t k : carried) operands.push_back(vars_[k].current);
  if (effects) operands.push_back(last_token(&outer) ? last_token(&outer) : fresh_token(outer, loc));
  Attrs attrs;
  if (max_iterations >= 0) attrs.set("max_iterations", max_iterations);
  Node* node = outer.create(op_def("while"), operands, {}, attrs, loc);
  Graph* regions[2] = {node->add_region(), node->add_region()};
  const size_t n_user = init_values.size();
  for (int r = 0; r < 2; ++r) {
    std::vector<Tensor> params;
    for (size_t i = 0; i < operands.size(); ++i) {
      Value* p = regions[r]->add_param(operands[i]->type());
      if (i < n_user) params.push_back(symbolic(p));
      else if (i < n_user + carried.size()) vars_[carried[i - n_user]].current = p;
      else last_token(regions[r]) = p;
    }
    in_region(regions[r], [&] {
      if (r == 0) {
        Tensor c = cond_fn(params);
        if (!c.defined() || c.dtype() != DType::b8 || c.numel() != 1)
          throw TraceError(format_error("while_loop", fmt::format("the condition must return a one-element b8 tensor, got {}",
                                                                  c.defined() ? c.type().str() : "undefined"), loc));
        regions[r]->set_results({as_scalar_predicate(*this, c, loc)});
      } else {
        std::vector<Tensor> next = body_fn(params);
        check_loop_vars(init, next, loc);
        std::vector<Value*> yields;
        for (const Tensor& t : next) yields.push_back(value_of(t, loc));
        for (size_t k : carried) yields.push_back(vars_[k].current);
        if (effects) yields.push_back(last_token(regions[r]));
        regions[r]->set_results(yields);
      }
      return 0;
    });
    set_variable_values(before);
  }
  for (Value* v : operands) node->add_result(v->type());
  if (stack_.size() == 1 && detail::tapes_recording()) record_while_gradient(*this, node, loc);
  for (size_t j = 0; j < carried.size(); ++j) vars_[carried[j]].current = node->result(static_cast<int>(n_user + j));
  if (effects) last_token(&outer) = node->result(static_cast<int>(n_user + carried.size()));  // before a trip count
  std::vector<Tensor> result;
  for (size_t i = 0; i < n_user; ++i) result.push_back(symbolic(node->result(static_cast<int>(i))));
  return result;
}

void TraceContext::record_print(const std::string& format, const std::vector<Tensor>& tensors, SrcLoc loc) {
  Graph& g = current();
  std::vector<Value*> operands;
  if (Value* t = last_token(&g)) operands.push_back(t);
  for (const Tensor& t : tensors) operands.push_back(value_of(t, loc));
  Attrs attrs{{"format", format}};
  Node* n = g.create(op_def("print"), operands, {ValueType::token()}, attrs, loc);
  last_token(&g) = n->result();
}

int TraceContext::finish_variables() {
  std::vector<Value*> results = graph_->results();
  std::vector<std::string> markers;
  for (size_t i = 0; i < results.size(); ++i) markers.push_back(graph_->result_variable(static_cast<int>(i)));
  int added = 0;
  for (size_t k = 0; k < vars_.size(); ++k) {
    if (vars_[k].current == vars_[k].param) continue;  // read only
    results.push_back(vars_[k].current);
    markers.push_back(vars_[k].param->variable());
    writebacks_.push_back(static_cast<int>(k));
    ++added;
  }
  graph_->set_results(results);
  for (size_t i = 0; i < markers.size(); ++i) graph_->set_result_variable(static_cast<int>(i), markers[i]);
  return added;
}

}  // namespace duet::detail
