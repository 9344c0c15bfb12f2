// The recorder of a trace. See NOTE [Tracing] in tracer/function_core.cpp and
// NOTE [Variables in the IR] in graph/ir.h.
#include <duet/tracer/trace_context.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include <duet/backends/cuda/runtime.h>
#include <duet/runtime/control_flow.h>
#include <duet/runtime/gradient.h>
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
  if (bytes && impl->device().is_cpu()) std::memcpy(data->bytes.data(), impl->data(), bytes);
  else if (bytes) cuda::copy_to_host(data->bytes.data(), impl->data(), bytes, impl->device().index);
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

// The values a region uses that are defined outside `top` (captures), in
// first-use order, nested regions included.
void collect_captured(const Graph& top, const Graph& g, std::vector<Value*>& out, std::unordered_set<Value*>& seen) {
  for (const auto& node : g.nodes()) {
    for (Value* v : node->operands()) {
      if (v->type().is_token || seen.count(v)) continue;
      Graph* home = v->producer() ? v->producer()->parent() : v->owner();
      if (top.encloses(home)) continue;
      seen.insert(v);
      out.push_back(v);
    }
    for (int r = 0; r < node->num_regions(); ++r) collect_captured(top, *node->region(r), out, seen);
  }
  // A region may also yield an outer value as it is (a branch returning a
  // captured tensor, a loop body assigning one to a variable).
  for (Value* v : g.results()) {
    if (v->type().is_token || seen.count(v)) continue;
    Graph* home = v->producer() ? v->producer()->parent() : v->owner();
    if (top.encloses(home)) continue;
    seen.insert(v);
    out.push_back(v);
  }
}

void accumulate(std::unordered_map<const Value*, Tensor>& grads, const Value* v, Tensor g) {
  if (!g.defined()) return;
  if (g.dtype() != v->type().tensor.dtype) g = cast(g, v->type().tensor.dtype);
  auto it = grads.find(v);
  if (it == grads.end()) grads.emplace(v, g);
  else it->second = add(it->second, g);
}

// NOTE [Gradients through a traced cond]
// The backward of a cond is a cond on the same predicate whose branches
// replay the forward branch's nodes (recomputing what the rules need) and
// then apply each op's gradient rule in reverse: built from the recorded
// region, never by calling the user's lambdas again. Each branch returns a
// gradient for every captured value (zeros where it has none), so both
// branches yield the same types.
struct Replayed {
  const Node* node;
  std::vector<Tensor> in, out;
  // A nested cond: its captures (in order), their tensors, its predicate and
  // the positions of its non-token results.
  std::vector<Value*> captured;
  Tensor pred;
  std::vector<int> results;
};

std::vector<Tensor> region_vjp(const Graph& region, const std::vector<Value*>& captured,
                               const std::vector<Tensor>& captured_t, const std::vector<int>& out_index,
                               const std::vector<Tensor>& dys, SrcLoc loc);

// Re-dispatches a region's nodes with `bound` values given (parameters and
// captures); effects are skipped. Returns the region's yields (undefined for
// tokens) and, when asked, what each node saw and made.
std::vector<Tensor> replay_region(const Graph& region, const std::vector<Value*>& bound,
                                  const std::vector<Tensor>& bound_t, SrcLoc loc,
                                  std::vector<Replayed>* record = nullptr) {
  std::unordered_map<const Value*, Tensor> val;
  for (size_t i = 0; i < bound.size(); ++i) val[bound[i]] = bound_t[i];
  std::vector<Replayed> local;
  std::vector<Replayed>& replayed = record ? *record : local;
  for (const auto& node : region.nodes()) {
    const std::string& name = node->name();
    if (name == "print" || name == "after_all") continue;  // effects are not replayed
    if (name == "cond") {
      // Replayed as a cond whose branches replay the nested regions.
      Replayed r{node.get(), {}, {}, {}, {}, {}};
      std::unordered_set<Value*> seen;
      for (int b = 0; b < 2; ++b) collect_captured(*node->region(b), *node->region(b), r.captured, seen);
      for (Value* v : r.captured) {
        auto it = val.find(v);
        if (it == val.end()) throw TraceError(format_error(name, "a control-flow gradient needs a value it cannot see", loc));
        r.in.push_back(it->second);
      }
      r.pred = val.at(node->operand(0));
      for (int k = 0; k < node->num_results(); ++k)
        if (!node->result(k)->type().is_token) r.results.push_back(k);
      auto branch = [&](int b) {
        return [&, b]() {
          std::vector<Tensor> y = replay_region(*node->region(b), r.captured, r.in, loc);
          std::vector<Tensor> picked;
          for (int k : r.results) picked.push_back(y[k]);
          return picked;
        };
      };
      std::vector<Tensor> res = cond(r.pred, branch(0), branch(1));
      r.out.assign(node->num_results(), Tensor());
      for (size_t j = 0; j < r.results.size(); ++j) {
        r.out[r.results[j]] = res[j];
        val[node->result(r.results[j])] = res[j];
      }
      replayed.push_back(std::move(r));
      continue;
    }
    if (node->num_regions() > 0 || (node->op().has(kStructural) && name != "constant"))
      throw TraceError(format_error(name, "gradients through control flow nested in traced control flow are not supported yet", loc));
    Replayed r{node.get(), {}, {}, {}, {}, {}};
    std::vector<const Tensor*> ptrs;
    for (Value* v : node->operands()) {
      auto it = val.find(v);
      if (it == val.end()) throw TraceError(format_error(name, "a control-flow gradient needs a value it cannot see", loc));
      r.in.push_back(it->second);
    }
    for (const Tensor& t : r.in) ptrs.push_back(&t);
    TensorList out = dispatch(node->op(), ptrs.data(), static_cast<int>(ptrs.size()), node->attrs(), node->loc());
    for (int k = 0; k < node->num_results(); ++k) {
      r.out.push_back(out[k]);
      val[node->result(k)] = out[k];
    }
    replayed.push_back(std::move(r));
  }
  std::vector<Tensor> yields;
  for (const Value* y : region.results()) {
    auto it = val.find(y);
    yields.push_back(y->type().is_token || it == val.end() ? Tensor() : it->second);
  }
  return yields;
}

std::vector<Tensor> region_vjp(const Graph& region, const std::vector<Value*>& captured,
                               const std::vector<Tensor>& captured_t, const std::vector<int>& out_index,
                               const std::vector<Tensor>& dys, SrcLoc loc) {
  std::vector<Replayed> replayed;
  replay_region(region, captured, captured_t, loc, &replayed);
  std::unordered_map<const Value*, Tensor> grads;
  for (size_t j = 0; j < out_index.size(); ++j) accumulate(grads, region.results()[out_index[j]], dys[j]);
  for (auto it = replayed.rbegin(); it != replayed.rend(); ++it) {
    const Node& n = *it->node;
    std::vector<Tensor> out_grads;
    bool any = false;
    for (int k = 0; k < n.num_results(); ++k) {
      auto g = grads.find(n.result(k));
      out_grads.push_back(g == grads.end() ? Tensor() : g->second);
      any |= g != grads.end();
    }
    if (!any || n.op().has(kNotDifferentiable)) continue;
    if (n.name() == "cond") {
      // A nested cond's backward: a cond of the nested branches' products.
      std::vector<Tensor> dys_nested;
      for (int k : it->results) dys_nested.push_back(out_grads[k]);
      auto branch = [&](int b) {
        return [&, b]() { return region_vjp(*n.region(b), it->captured, it->in, it->results, dys_nested, loc); };
      };
      std::vector<Tensor> g = cond(it->pred, branch(0), branch(1));
      for (size_t c = 0; c < it->captured.size(); ++c)
        if (!it->captured[c]->type().is_token && is_floating(it->captured[c]->type().tensor.dtype))
          accumulate(grads, it->captured[c], g[c]);
      continue;
    }
    GradFn fn = find_gradient(n.op());
    if (!fn) throw Error(format_error(n.name(), "has no gradient rule", n.loc()));
    GradContext ctx{n.op(), it->in, it->out, n.attrs(), out_grads, Loc::current()};
    LocationOverride at(n.loc());
    std::vector<Tensor> in_grads = fn(ctx);
    for (int i = 0; i < n.num_operands() && i < static_cast<int>(in_grads.size()); ++i)
      if (is_floating(n.operand(i)->type().tensor.dtype)) accumulate(grads, n.operand(i), in_grads[i]);
  }
  std::vector<Tensor> out;
  for (size_t i = 0; i < captured.size(); ++i) {
    auto g = grads.find(captured[i]);
    out.push_back(g != grads.end() ? g->second
                                   : broadcast_like(scalar(0.0, captured_t[i].dtype()), captured_t[i]));
  }
  return out;
}

// Float captures of the regions of `node` (the inputs of its tape entry).
std::vector<Value*> float_captures(const Node& node) {
  std::vector<Value*> all, out;
  std::unordered_set<Value*> seen;
  for (int r = 0; r < node.num_regions(); ++r) collect_captured(*node.region(r), *node.region(r), all, seen);
  for (int i = 0; i < node.num_operands(); ++i)
    if (!seen.count(node.operand(i))) all.push_back(node.operand(i)), seen.insert(node.operand(i));
  for (Value* v : all)
    if (!v->type().is_token && is_floating(v->type().tensor.dtype)) out.push_back(v);
  return out;
}

}  // namespace

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
  if (stack_.size() == 1 && detail::tapes_recording()) record_cond_gradient(node, p, loc);
  return result;
}

// NOTE [Gradients through a traced while_loop]
// Reverse mode over the iterations actually run: the forward loop gets one
// more loop variable, its trip count N. The backward is a loop for k = N-1
// down to 0 whose body rebuilds the state of iteration k by replaying the
// recorded body k times from the initial values (an inner loop), then
// applies the body's vector-Jacobian product (region_vjp) to the adjoint of
// the loop variables, accumulating the gradients of the captured values.
// It re-runs recorded regions, never the user's lambdas, and costs O(N^2)
// body evaluations (no per-iteration stack yet).
void TraceContext::record_while_gradient(Node* node, SrcLoc loc) {
  const Graph& body = *node->region(1);
  // The body's captures (as it is now, and the constant the trip counter below adds).
  std::vector<Value*> captured;
  {
    std::unordered_set<Value*> seen;
    collect_captured(body, body, captured, seen);
  }
  Value* one = value_of(scalar(int64_t(1)), loc);
  if (std::find(captured.begin(), captured.end(), one) == captured.end()) captured.push_back(one);
  std::vector<int> state;  // non-token loop-variable positions
  for (int i = 0; i < node->num_operands(); ++i)
    if (!node->operand(i)->type().is_token) state.push_back(i);
  std::vector<Tensor> inputs;
  std::vector<int> float_state, float_captured;
  for (size_t j = 0; j < state.size(); ++j)
    if (is_floating(node->operand(state[j])->type().tensor.dtype)) {
      float_state.push_back(static_cast<int>(j));
      inputs.push_back(symbolic(node->operand(state[j])));
    }
  for (size_t c = 0; c < captured.size(); ++c)
    if (is_floating(captured[c]->type().tensor.dtype)) {
      float_captured.push_back(static_cast<int>(c));
      inputs.push_back(symbolic(captured[c]));
    }
  if (!detail::tapes_watch_any(inputs)) return;

  // The trip count: one more loop variable, 0 before the loop, +1 per body run.
  Value* zero = value_of(scalar(int64_t(0)), loc);
  node->add_operand(zero);
  Value* in_cond = node->region(0)->add_param(zero->type());
  (void)in_cond;
  Value* in_body = node->region(1)->add_param(zero->type());
  Node* inc = node->region(1)->append(op_def("add"), {in_body, one}, {}, loc);
  std::vector<Value*> yields = node->region(1)->results();
  yields.push_back(inc->result());
  node->region(1)->set_results(yields);
  Value* trips = node->add_result(zero->type());

  std::vector<Tensor> init, captured_t;
  std::vector<Value*> body_params;
  for (int i : state) {
    init.push_back(symbolic(node->operand(i)));
    body_params.push_back(body.param(i));
  }
  for (Value* c : captured) captured_t.push_back(symbolic(c));
  std::vector<Tensor> outputs;
  for (int j : float_state) outputs.push_back(symbolic(node->result(state[j])));
  Tensor n_trips = symbolic(trips);
  auto backward = std::make_shared<const detail::OpBackward>([node, state, float_state, float_captured, captured,
                                                              captured_t, init, body_params, n_trips, in_body,
                                                              loc](const std::vector<Tensor>& dys) {
    const Graph& body = *node->region(1);
    // Bound: the state parameters, the captures, and the trip counter (unused by the user's body).
    std::vector<Value*> bound = body_params;
    bound.insert(bound.end(), captured.begin(), captured.end());
    bound.push_back(in_body);
    const Tensor counter_stub = scalar(int64_t(0));
    std::vector<int> out_index;
    for (int j : float_state) out_index.push_back(state[j]);
    // Outer loop variables: k, the adjoints of the float loop variables, the
    // gradients of the float captures so far.
    std::vector<Tensor> start{n_trips - 1};
    for (size_t j = 0; j < float_state.size(); ++j)  // an output nothing differentiates has no adjoint: zeros
      start.push_back(dys[j].defined() ? dys[j]
                                       : broadcast_like(scalar(0.0, init[float_state[j]].dtype()), init[float_state[j]]));
    for (int c : float_captured) start.push_back(broadcast_like(scalar(0.0, captured_t[c].dtype()), captured_t[c]));
    std::vector<Tensor> done = while_loop(
        [](const std::vector<Tensor>& v) { return v[0] >= int64_t(0); },
        [&](const std::vector<Tensor>& v) -> std::vector<Tensor> {
          const Tensor& k = v[0];
          // The state entering iteration k: the body replayed k times.
          std::vector<Tensor> inner{scalar(int64_t(0))};
          inner.insert(inner.end(), init.begin(), init.end());
          std::vector<Tensor> at_k = while_loop(
              [&](const std::vector<Tensor>& w) { return w[0] < k; },
              [&](const std::vector<Tensor>& w) -> std::vector<Tensor> {
                std::vector<Tensor> bound_t(w.begin() + 1, w.end());
                bound_t.insert(bound_t.end(), captured_t.begin(), captured_t.end());
                bound_t.push_back(counter_stub);
                std::vector<Tensor> y = replay_region(body, bound, bound_t, loc);
                std::vector<Tensor> next{w[0] + int64_t(1)};
                for (int i : state) next.push_back(y[i]);
                return next;
              },
              inner);
          std::vector<Tensor> bound_t(at_k.begin() + 1, at_k.end());
          bound_t.insert(bound_t.end(), captured_t.begin(), captured_t.end());
          bound_t.push_back(counter_stub);
          std::vector<Tensor> adj(v.begin() + 1, v.begin() + 1 + static_cast<std::ptrdiff_t>(float_state.size()));
          std::vector<Tensor> g = region_vjp(body, bound, bound_t, out_index, adj, loc);
          // A loop variable the body's results do not depend on (a variable the
          // body assigns from outside the loop, say) has no gradient: zeros.
          auto or_zeros = [](const Tensor& grad, const Tensor& like) {
            return grad.defined() ? grad : broadcast_like(scalar(0.0, like.dtype()), like);
          };
          std::vector<Tensor> next{k - int64_t(1)};
          for (size_t j = 0; j < float_state.size(); ++j) next.push_back(or_zeros(g[float_state[j]], adj[j]));
          for (size_t c = 0; c < float_captured.size(); ++c) {
            const Tensor& sum_so_far = v[1 + float_state.size() + c];
            const Tensor& grad = g[state.size() + float_captured[c]];
            next.push_back(grad.defined() ? sum_so_far + grad : sum_so_far);
          }
          return next;
        },
        start);
    return std::vector<Tensor>(done.begin() + 1, done.end());
  });
  detail::tape_record_op(inputs, outputs, backward, loc);
}

// Tells recording tapes about a traced cond: one entry whose backward is a
// cond (NOTE [Gradients through a traced cond]).
void TraceContext::record_cond_gradient(Node* node, Value* pred, SrcLoc loc) {
  std::vector<Value*> captured = float_captures(*node);
  captured.erase(std::remove(captured.begin(), captured.end(), pred), captured.end());
  std::vector<Tensor> inputs;
  for (Value* c : captured) inputs.push_back(symbolic(c));
  if (!detail::tapes_watch_any(inputs)) return;
  std::vector<int> out_index;
  std::vector<Tensor> outputs;
  for (int k = 0; k < node->num_results(); ++k) {
    const ValueType& t = node->result(k)->type();
    if (t.is_token || !is_floating(t.tensor.dtype)) continue;
    out_index.push_back(k);
    outputs.push_back(symbolic(node->result(k)));
  }
  Tensor pred_t = symbolic(pred);
  auto backward = std::make_shared<const detail::OpBackward>(
      [node, captured, inputs, out_index, pred_t, loc](const std::vector<Tensor>& dys) {
        auto branch = [&](int b) {
          return [&, b]() { return region_vjp(*node->region(b), captured, inputs, out_index, dys, loc); };
        };
        return cond(pred_t, branch(0), branch(1));
      });
  detail::tape_record_op(inputs, outputs, backward, loc);
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
  std::vector<size_t> carried;
  bool effects = false;
  {
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
      if (after[k] != base) carried.push_back(k);
    }
    effects = last_token(&scratch) != nullptr;
    for (auto it = last_token_.begin(); it != last_token_.end();)
      it = scratch.encloses(it->first) ? last_token_.erase(it) : std::next(it);
    set_variable_values(before);
    // The scratch graph dies here: forget its values (their addresses will be reused).
    for (auto it = symbols_.begin(); it != symbols_.end();) {
      const Value* v = it->first;
      Graph* home = v->producer() ? v->producer()->parent() : v->owner();
      it = scratch.encloses(home) ? symbols_.erase(it) : std::next(it);
    }
  }

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
  if (stack_.size() == 1 && detail::tapes_recording()) record_while_gradient(node, loc);
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
