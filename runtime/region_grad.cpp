// Gradients through traced control flow: the tape entry of a cond or while
// node, whose backward replays the recorded regions and applies each op's
// gradient rule in reverse. The tracer records the nodes (NOTE [Control flow
// in traces] in tracer/trace_context.cpp) and hands them here.
#include <duet/runtime/region_grad.h>

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <duet/graph/ir.h>
#include <duet/runtime/control_flow.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/gradient.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tape_hooks.h>

namespace duet::detail {

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

// Zeros of like's dtype and shape: a scalar broadcast to it.
Tensor broadcast_zeros(const Tensor& like) { return broadcast_like(scalar(0.0, like.dtype()), like); }

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

using Values = std::unordered_map<const Value*, Tensor>;

std::vector<Tensor> region_vjp(const Graph& region, const std::vector<Value*>& captured,
                               const std::vector<Tensor>& captured_t, const std::vector<int>& out_index,
                               const std::vector<Tensor>& dys, SrcLoc loc);
std::vector<Tensor> replay_region(const Graph& region, const std::vector<Value*>& bound,
                                  const std::vector<Tensor>& bound_t, SrcLoc loc,
                                  std::vector<Replayed>* record = nullptr);

// The tensor a replay bound to `v`; the region of `op` used a value the
// replay was not given otherwise.
const Tensor& replayed_value(const Values& val, const Value* v, const std::string& op, SrcLoc loc) {
  auto it = val.find(v);
  if (it == val.end()) throw TraceError(format_error(op, "a control-flow gradient needs a value it cannot see", loc));
  return it->second;
}

// A cond nested in a replayed region, replayed as a cond whose branches
// replay the nested regions.
Replayed replay_nested_cond(const Node& node, Values& val, SrcLoc loc) {
  Replayed r{&node, {}, {}, {}, {}, {}};
  std::unordered_set<Value*> seen;
  for (int b = 0; b < 2; ++b) collect_captured(*node.region(b), *node.region(b), r.captured, seen);
  for (Value* v : r.captured) r.in.push_back(replayed_value(val, v, node.name(), loc));
  r.pred = val.at(node.operand(0));
  for (int k = 0; k < node.num_results(); ++k)
    if (!node.result(k)->type().is_token) r.results.push_back(k);
  auto branch = [&](int b) {
    return [&, b]() {
      std::vector<Tensor> y = replay_region(*node.region(b), r.captured, r.in, loc);
      std::vector<Tensor> picked;
      for (int k : r.results) picked.push_back(y[k]);
      return picked;
    };
  };
  std::vector<Tensor> res = cond(r.pred, branch(0), branch(1));
  r.out.assign(node.num_results(), Tensor());
  for (size_t j = 0; j < r.results.size(); ++j) {
    r.out[r.results[j]] = res[j];
    val[node.result(r.results[j])] = res[j];
  }
  return r;
}

// Re-dispatches one op node of a replayed region.
Replayed replay_op(const Node& node, Values& val, SrcLoc loc) {
  const std::string& name = node.name();
  if (node.num_regions() > 0 || (node.op().has(kStructural) && name != "constant"))
    throw TraceError(format_error(
        name, "gradients through a '" + name + "' nested in traced control flow are not supported yet (a nested cond is)",
        loc));
  Replayed r{&node, {}, {}, {}, {}, {}};
  std::vector<const Tensor*> ptrs;
  for (Value* v : node.operands()) r.in.push_back(replayed_value(val, v, name, loc));
  for (const Tensor& t : r.in) ptrs.push_back(&t);
  TensorList out = dispatch(node.op(), ptrs.data(), static_cast<int>(ptrs.size()), node.attrs(), node.loc());
  for (int k = 0; k < node.num_results(); ++k) {
    r.out.push_back(out[k]);
    val[node.result(k)] = out[k];
  }
  return r;
}

// Re-dispatches a region's nodes with `bound` values given (parameters and
// captures); effects are skipped. Returns the region's yields (undefined for
// tokens) and, when asked, what each node saw and made.
std::vector<Tensor> replay_region(const Graph& region, const std::vector<Value*>& bound,
                                  const std::vector<Tensor>& bound_t, SrcLoc loc, std::vector<Replayed>* record) {
  Values val;
  for (size_t i = 0; i < bound.size(); ++i) val[bound[i]] = bound_t[i];
  std::vector<Replayed> local;
  std::vector<Replayed>& replayed = record ? *record : local;
  for (const auto& node : region.nodes()) {
    const std::string& name = node->name();
    if (name == "print" || name == "after_all") continue;  // effects are not replayed
    replayed.push_back(name == "cond" ? replay_nested_cond(*node, val, loc) : replay_op(*node, val, loc));
  }
  std::vector<Tensor> yields;
  for (const Value* y : region.results()) {
    auto it = val.find(y);
    yields.push_back(y->type().is_token || it == val.end() ? Tensor() : it->second);
  }
  return yields;
}

// A nested cond's backward: a cond of the nested branches' products.
void nested_cond_vjp(const Replayed& r, const std::vector<Tensor>& out_grads, Values& grads, SrcLoc loc) {
  const Node& n = *r.node;
  std::vector<Tensor> dys_nested;
  for (int k : r.results) dys_nested.push_back(out_grads[k]);
  auto branch = [&](int b) {
    return [&, b]() { return region_vjp(*n.region(b), r.captured, r.in, r.results, dys_nested, loc); };
  };
  std::vector<Tensor> g = cond(r.pred, branch(0), branch(1));
  for (size_t c = 0; c < r.captured.size(); ++c)
    if (!r.captured[c]->type().is_token && is_floating(r.captured[c]->type().tensor.dtype))
      accumulate(grads, r.captured[c], g[c]);
}

// One op's gradient rule, on the replayed inputs and outputs.
void op_vjp(const Replayed& r, const std::vector<Tensor>& out_grads, Values& grads) {
  const Node& n = *r.node;
  GradFn fn = find_gradient(n.op());
  if (!fn) throw Error(format_error(n.name(), "has no gradient rule", n.loc()));
  GradContext ctx{n.op(), r.in, r.out, n.attrs(), out_grads, Loc::current()};
  LocationOverride at(n.loc());
  std::vector<Tensor> in_grads = fn(ctx);
  for (int i = 0; i < n.num_operands() && i < static_cast<int>(in_grads.size()); ++i)
    if (is_floating(n.operand(i)->type().tensor.dtype)) accumulate(grads, n.operand(i), in_grads[i]);
}

// The vector-Jacobian product of a region: the adjoints `dys` of its results
// at `out_index` in, the gradient of every captured value out (zeros where
// it has none).
std::vector<Tensor> region_vjp(const Graph& region, const std::vector<Value*>& captured,
                               const std::vector<Tensor>& captured_t, const std::vector<int>& out_index,
                               const std::vector<Tensor>& dys, SrcLoc loc) {
  std::vector<Replayed> replayed;
  replay_region(region, captured, captured_t, loc, &replayed);
  Values grads;
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
    if (n.name() == "cond") nested_cond_vjp(*it, out_grads, grads, loc);
    else op_vjp(*it, out_grads, grads);
  }
  std::vector<Tensor> out;
  for (size_t i = 0; i < captured.size(); ++i) {
    auto g = grads.find(captured[i]);
    out.push_back(g != grads.end() ? g->second : broadcast_zeros(captured_t[i]));
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

void record_cond_gradient(RegionTrace& trace, Node* node, Value* pred, SrcLoc loc) {
  std::vector<Value*> captured = float_captures(*node);
  captured.erase(std::remove(captured.begin(), captured.end(), pred), captured.end());
  std::vector<Tensor> inputs;
  for (Value* c : captured) inputs.push_back(trace.symbolic(c));
  if (!tapes_watch_any(inputs)) return;
  std::vector<int> out_index;
  std::vector<Tensor> outputs;
  for (int k = 0; k < node->num_results(); ++k) {
    const ValueType& t = node->result(k)->type();
    if (t.is_token || !is_floating(t.tensor.dtype)) continue;
    out_index.push_back(k);
    outputs.push_back(trace.symbolic(node->result(k)));
  }
  Tensor pred_t = trace.symbolic(pred);
  auto backward = std::make_shared<const OpBackward>(
      [node, captured, inputs, out_index, pred_t, loc](const std::vector<Tensor>& dys) {
        auto branch = [&](int b) {
          return [&, b]() { return region_vjp(*node->region(b), captured, inputs, out_index, dys, loc); };
        };
        return cond(pred_t, branch(0), branch(1));
      });
  tape_record_op(inputs, outputs, backward, loc);
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

namespace {

// What the backward of a traced while node needs, fixed when it is recorded.
struct WhileAdjoint {
  const Node* node;
  std::vector<int> state;           // non-token loop-variable positions
  std::vector<int> float_state;     // the floating ones, as indices into state
  std::vector<int> float_captured;  // the floating captures, as indices into captured
  std::vector<Value*> captured;     // the body's captures (the trip counter's 1 included)
  std::vector<Tensor> captured_t;   // their tensors
  std::vector<Tensor> init;         // the state's initial values
  std::vector<Value*> body_params;  // the body's state parameters
  Tensor n_trips;
  Value* trip_param = nullptr;  // the body's trip-counter parameter
  SrcLoc loc;
};

// What a replay of the body binds: the state parameters, the captures, and
// the trip counter (which the user's body does not use).
std::vector<Value*> body_bound(const WhileAdjoint& w) {
  std::vector<Value*> bound = w.body_params;
  bound.insert(bound.end(), w.captured.begin(), w.captured.end());
  bound.push_back(w.trip_param);
  return bound;
}

std::vector<Tensor> bound_tensors(const WhileAdjoint& w, std::vector<Tensor> state, const Tensor& counter_stub) {
  state.insert(state.end(), w.captured_t.begin(), w.captured_t.end());
  state.push_back(counter_stub);
  return state;
}

// The state entering iteration k: the body replayed k times from the initial values.
std::vector<Tensor> state_entering(const WhileAdjoint& w, const std::vector<Value*>& bound,
                                   const Tensor& counter_stub, const Tensor& k) {
  const Graph& body = *w.node->region(1);
  std::vector<Tensor> inner{scalar(int64_t(0))};
  inner.insert(inner.end(), w.init.begin(), w.init.end());
  std::vector<Tensor> at_k = while_loop(
      [&](const std::vector<Tensor>& v) { return v[0] < k; },
      [&](const std::vector<Tensor>& v) -> std::vector<Tensor> {
        std::vector<Tensor> y = replay_region(body, bound, bound_tensors(w, {v.begin() + 1, v.end()}, counter_stub),
                                              w.loc);
        std::vector<Tensor> next{v[0] + int64_t(1)};
        for (int i : w.state) next.push_back(y[i]);
        return next;
      },
      inner);
  return {at_k.begin() + 1, at_k.end()};
}

// One iteration of the backward loop. v: k, the adjoints of the float loop
// variables, the gradients of the float captures so far.
std::vector<Tensor> adjoint_step(const WhileAdjoint& w, const std::vector<Value*>& bound,
                                 const Tensor& counter_stub, const std::vector<int>& out_index,
                                 const std::vector<Tensor>& v) {
  const Tensor& k = v[0];
  std::vector<Tensor> bound_t = bound_tensors(w, state_entering(w, bound, counter_stub, k), counter_stub);
  std::vector<Tensor> adj(v.begin() + 1, v.begin() + 1 + static_cast<std::ptrdiff_t>(w.float_state.size()));
  std::vector<Tensor> g = region_vjp(*w.node->region(1), bound, bound_t, out_index, adj, w.loc);
  // A loop variable the body's results do not depend on (a variable the
  // body assigns from outside the loop, say) has no gradient: zeros.
  std::vector<Tensor> next{k - int64_t(1)};
  for (size_t j = 0; j < w.float_state.size(); ++j) {
    const Tensor& grad = g[w.float_state[j]];
    next.push_back(grad.defined() ? grad : broadcast_zeros(adj[j]));
  }
  for (size_t c = 0; c < w.float_captured.size(); ++c) {
    const Tensor& sum_so_far = v[1 + w.float_state.size() + c];
    const Tensor& grad = g[w.state.size() + w.float_captured[c]];
    next.push_back(grad.defined() ? sum_so_far + grad : sum_so_far);
  }
  return next;
}

// The backward of the loop: output adjoints in, the gradients of the float
// loop variables' initial values and of the float captures out.
std::vector<Tensor> while_backward(const WhileAdjoint& w, const std::vector<Tensor>& dys) {
  std::vector<Value*> bound = body_bound(w);
  const Tensor counter_stub = scalar(int64_t(0));
  std::vector<int> out_index;
  for (int j : w.float_state) out_index.push_back(w.state[j]);
  std::vector<Tensor> start{w.n_trips - 1};
  for (size_t j = 0; j < w.float_state.size(); ++j)  // an output nothing differentiates has no adjoint: zeros
    start.push_back(dys[j].defined() ? dys[j] : broadcast_zeros(w.init[w.float_state[j]]));
  for (int c : w.float_captured) start.push_back(broadcast_zeros(w.captured_t[c]));
  std::vector<Tensor> done = while_loop([](const std::vector<Tensor>& v) { return v[0] >= int64_t(0); },
                                        [&](const std::vector<Tensor>& v) {
                                          return adjoint_step(w, bound, counter_stub, out_index, v);
                                        },
                                        start);
  return {done.begin() + 1, done.end()};
}

// The trip count: one more loop variable of `node`, 0 before the loop, +1
// per body run. Returns the body's counter parameter and the node's result.
std::pair<Value*, Value*> add_trip_count(RegionTrace& trace, Node* node, Value* one, SrcLoc loc) {
  Value* zero = trace.value_of(scalar(int64_t(0)), loc);
  node->add_operand(zero);
  node->region(0)->add_param(zero->type());
  Value* in_body = node->region(1)->add_param(zero->type());
  Node* inc = node->region(1)->append(op_def("add"), {in_body, one}, {}, loc);
  std::vector<Value*> yields = node->region(1)->results();
  yields.push_back(inc->result());
  node->region(1)->set_results(yields);
  return {in_body, node->add_result(zero->type())};
}

}  // namespace

void record_while_gradient(RegionTrace& trace, Node* node, SrcLoc loc) {
  const Graph& body = *node->region(1);
  WhileAdjoint w;
  w.node = node;
  w.loc = loc;
  // The body's captures (as it is now, and the constant the trip counter adds).
  {
    std::unordered_set<Value*> seen;
    collect_captured(body, body, w.captured, seen);
  }
  Value* one = trace.value_of(scalar(int64_t(1)), loc);
  if (std::find(w.captured.begin(), w.captured.end(), one) == w.captured.end()) w.captured.push_back(one);
  for (int i = 0; i < node->num_operands(); ++i)
    if (!node->operand(i)->type().is_token) w.state.push_back(i);
  std::vector<Tensor> inputs;
  for (size_t j = 0; j < w.state.size(); ++j)
    if (is_floating(node->operand(w.state[j])->type().tensor.dtype)) {
      w.float_state.push_back(static_cast<int>(j));
      inputs.push_back(trace.symbolic(node->operand(w.state[j])));
    }
  for (size_t c = 0; c < w.captured.size(); ++c)
    if (is_floating(w.captured[c]->type().tensor.dtype)) {
      w.float_captured.push_back(static_cast<int>(c));
      inputs.push_back(trace.symbolic(w.captured[c]));
    }
  if (!tapes_watch_any(inputs)) return;

  auto [trip_param, trips] = add_trip_count(trace, node, one, loc);
  w.trip_param = trip_param;
  for (int i : w.state) {
    w.init.push_back(trace.symbolic(node->operand(i)));
    w.body_params.push_back(body.param(i));
  }
  for (Value* c : w.captured) w.captured_t.push_back(trace.symbolic(c));
  std::vector<Tensor> outputs;
  for (int j : w.float_state) outputs.push_back(trace.symbolic(node->result(w.state[j])));
  w.n_trips = trace.symbolic(trips);
  auto backward = std::make_shared<const OpBackward>(
      [w = std::move(w)](const std::vector<Tensor>& dys) { return while_backward(w, dys); });
  tape_record_op(inputs, outputs, backward, loc);
}

}  // namespace duet::detail
