// Gradient tapes.
//
// NOTE [Tapes]
// A tape is a list of the ops that ran while it recorded and that touched a
// watched tensor: (op, inputs, attributes, outputs). Watching is by tensor
// identity (TensorImpl); an op's outputs are watched once it is recorded.
// Trainable variables are watched when read: every read's tensor is
// remembered per variable, and a variable's gradient sums over its reads.
// gradient() walks the list backwards, calling each op's gradient rule
// (runtime/gradient.h) on the accumulated output gradients. The rules are
// ordinary duet ops dispatched while this tape is paused, so
//  - an outer recording tape records them: nested tapes give higher orders;
//  - inside a trace they are recorded into the graph: a traced training step
//    holds its backward pass.
// Dispatch tells tapes about ops through the thread's OpObserver slot, both
// eagerly and while tracing (NOTE [The recorder interface]).
#include <duet/runtime/autodiff.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include <duet/runtime/dispatch.h>
#include <duet/runtime/gradient.h>
#include <duet/runtime/ops.h>
#include <duet/runtime/tape_hooks.h>
#include <duet/runtime/tensor_impl.h>

namespace duet {

// ---- gradient rules ------------------------------------------------------------------

namespace {
std::vector<GradFn>& grad_table() {
  static auto* t = new std::vector<GradFn>;  // by op id; never destroyed
  return *t;
}
}  // namespace

void register_gradient(const char* op_name, GradFn fn) {
  const OpDef& op = op_def(op_name);
  auto& t = grad_table();
  if (t.size() <= static_cast<size_t>(op.id())) t.resize(op.id() + 1, nullptr);
  t[op.id()] = fn;
}

GradFn find_gradient(const OpDef& op) {
  const auto& t = grad_table();
  return static_cast<size_t>(op.id()) < t.size() ? t[op.id()] : nullptr;
}

Tensor unbroadcast(const Tensor& g, const Shape& shape, Loc loc) {
  if (!g.defined() || g.shape() == shape) return g;
  // Sum away the leading dims broadcasting added, then (keeping dims) the
  // ones it stretched from 1: no reshape, so dynamic dims are fine.
  const Shape& gs = g.shape();
  int lead = gs.rank() - shape.rank();
  Tensor s = g;
  if (lead > 0) {
    std::vector<int64_t> axes;
    for (int i = 0; i < lead; ++i) axes.push_back(i);
    s = sum(s, axes, /*keepdims=*/false, loc);
  }
  std::vector<int64_t> stretched;
  for (int i = 0; i < shape.rank(); ++i)
    if (shape.dim(i) == 1 && s.shape().dim(i) != 1) stretched.push_back(i);
  if (!stretched.empty()) s = sum(s, stretched, /*keepdims=*/true, loc);
  return s;
}

// ---- tapes -----------------------------------------------------------------------------

struct TapeEntry {
  const OpDef* op = nullptr;  // nullptr: a custom entry
  std::vector<Tensor> inputs, outputs;
  Attrs attrs;
  SrcLoc loc;
  std::shared_ptr<const detail::OpBackward> multi;  // custom_gradient, compiled calls: a backward of their own
};

class TapeImpl {
 public:
  explicit TapeImpl(bool persistent) : persistent(persistent) {}
  bool persistent;
  bool recording = true;
  bool paused = false;  // while computing its own gradient
  bool used = false;
  std::vector<TapeEntry> entries;
  std::unordered_set<const TensorImpl*> watched;
  std::vector<Tensor> keep;  // watched tensors stay alive, so their addresses stay theirs
  std::unordered_set<const VariableState*> watched_vars;
  std::unordered_map<const VariableState*, std::vector<Tensor>> var_reads;

  bool active() const { return recording && !paused; }
  bool watches(const Tensor& t) const { return t.defined() && watched.count(t.impl()) > 0; }
  void watch_tensor(const Tensor& t) {
    if (!t.defined() || watched.count(t.impl())) return;
    watched.insert(t.impl());
    keep.push_back(t);
  }
};

namespace {

thread_local std::vector<TapeImpl*> t_tapes;  // live tapes of this thread, oldest first

class TapeObserver : public OpObserver {
 public:
  void on_op(const OpDef& op, const Tensor* const* inputs, int n, const Attrs& attrs, const TensorList& outputs,
             SrcLoc loc) override {
    for (TapeImpl* tape : t_tapes) {
      if (!tape->active()) continue;
      bool any = false;
      for (int i = 0; i < n && !any; ++i) any = tape->watches(*inputs[i]);
      if (!any) continue;
      TapeEntry e;
      e.op = &op;
      for (int i = 0; i < n; ++i) e.inputs.push_back(*inputs[i]);
      for (size_t i = 0; i < outputs.size(); ++i) {
        e.outputs.push_back(outputs[i]);
        tape->watch_tensor(outputs[i]);
      }
      e.attrs = attrs;
      e.loc = loc;
      tape->entries.push_back(std::move(e));
    }
  }
};

TapeObserver g_observer;

void update_observer() {
  bool any = std::any_of(t_tapes.begin(), t_tapes.end(), [](TapeImpl* t) { return t->active(); });
  set_current_op_observer(any ? &g_observer : nullptr);
}

// Pauses a tape while its gradient runs, so it does not record its own backward ops.
struct Pause {
  TapeImpl* tape;
  explicit Pause(TapeImpl* t) : tape(t) {
    tape->paused = true;
    update_observer();
  }
  ~Pause() {
    tape->paused = false;
    update_observer();
  }
};

void accumulate(std::unordered_map<const TensorImpl*, Tensor>& grads, const Tensor& x, const Tensor& g, Loc loc) {
  if (!g.defined()) return;
  auto it = grads.find(x.impl());
  if (it == grads.end()) grads.emplace(x.impl(), g);
  else it->second = add(it->second, g);
  (void)loc;
}

}  // namespace

namespace detail {

bool tapes_recording() { return current_op_observer() == &g_observer; }

void tape_variable_read(const Variable& v, const Tensor& value) {
  for (TapeImpl* tape : t_tapes) {
    if (!tape->active()) continue;
    if (!v.trainable() && !tape->watched_vars.count(v.state())) continue;
    tape->watch_tensor(value);
    // Reads between assigns return the same tensor: count it once, or the
    // variable's gradient would be multiplied by the number of reads.
    std::vector<Tensor>& reads = tape->var_reads[v.state()];
    if (std::none_of(reads.begin(), reads.end(), [&](const Tensor& r) { return r.impl() == value.impl(); }))
      reads.push_back(value);
  }
}

void tape_record_op(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                    std::shared_ptr<const OpBackward> backward, SrcLoc loc) {
  for (TapeImpl* tape : t_tapes) {
    if (!tape->active()) continue;
    bool any = std::any_of(inputs.begin(), inputs.end(), [&](const Tensor& t) { return tape->watches(t); });
    if (!any) continue;
    TapeEntry e;
    e.inputs = inputs;
    e.outputs = outputs;
    e.loc = loc;
    e.multi = backward;
    for (const Tensor& o : outputs) tape->watch_tensor(o);
    tape->entries.push_back(std::move(e));
  }
}

bool tapes_watch_any(const std::vector<Tensor>& tensors) {
  for (TapeImpl* tape : t_tapes)
    if (tape->active())
      for (const Tensor& t : tensors)
        if (tape->watches(t)) return true;
  return false;
}

}  // namespace detail

GradientTape::GradientTape(bool persistent) : impl_(std::make_unique<TapeImpl>(persistent)) {
  t_tapes.push_back(impl_.get());
  update_observer();
}

GradientTape::~GradientTape() {
  auto it = std::find(t_tapes.begin(), t_tapes.end(), impl_.get());
  if (it != t_tapes.end()) t_tapes.erase(it);
  update_observer();
}

void GradientTape::watch(const Tensor& t) {
  if (!t.defined()) throw Error("watch: the tensor is undefined");
  impl_->watch_tensor(t);
}

void GradientTape::watch(const Variable& v) {
  if (!v.defined()) throw Error("watch: the variable is empty");
  impl_->watched_vars.insert(v.state());
}

void GradientTape::stop() {
  impl_->recording = false;
  update_observer();
}

Tensor GradientTape::gradient(const Tensor& target, const GradSource& source, Loc loc) {
  return gradient(target, std::vector<GradSource>{source}, Tensor(), loc)[0];
}

Tensor GradientTape::gradient(const Tensor& target, const GradSource& source, const Tensor& output_gradient, Loc loc) {
  return gradient(target, std::vector<GradSource>{source}, output_gradient, loc)[0];
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::initializer_list<GradSource> sources, Loc loc) {
  return gradient(target, std::vector<GradSource>(sources), Tensor(), loc);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Tensor>& sources, Loc loc) {
  return gradient(target, std::vector<GradSource>(sources.begin(), sources.end()), Tensor(), loc);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Variable>& sources, Loc loc) {
  return gradient(target, std::vector<GradSource>(sources.begin(), sources.end()), Tensor(), loc);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<GradSource>& sources,
                                           const Tensor& output_gradient, Loc loc) {
  TapeImpl& tape = *impl_;
  if (tape.used && !tape.persistent)
    throw Error(format_error("gradient",
                             "this tape is not persistent and its gradient() was already called; use "
                             "GradientTape(/*persistent=*/true) to call it more than once",
                             loc));
  if (!target.defined()) throw Error(format_error("gradient", "the target is an undefined tensor", loc));
  if (!is_floating(target.dtype()))
    throw DTypeError(format_error("gradient", fmt::format("the target is {}; only floating targets have gradients",
                                                          target.type().str()), loc));
  tape.used = true;
  if (!tape.persistent) tape.recording = false;
  Pause pause(&tape);

  std::unordered_map<const TensorImpl*, Tensor> grads;
  if (output_gradient.defined()) {
    if (!(output_gradient.shape() == target.shape()) || output_gradient.dtype() != target.dtype())
      throw ShapeError(format_error("gradient", fmt::format("output_gradient is {} but the target is {}",
                                                            output_gradient.type().str(), target.type().str()), loc));
    grads.emplace(target.impl(), output_gradient);
  } else {
    grads.emplace(target.impl(), ones_like(target, loc));  // d(sum of elements)/d(element) = 1
  }
  for (auto it = tape.entries.rbegin(); it != tape.entries.rend(); ++it) {
    const TapeEntry& e = *it;
    std::vector<Tensor> out_grads;
    bool any = false;
    for (const Tensor& o : e.outputs) {
      auto g = grads.find(o.impl());
      out_grads.push_back(g == grads.end() ? Tensor() : g->second);
      any |= g != grads.end();
    }
    if (!any) continue;
    std::vector<Tensor> in_grads;
    if (e.multi) {
      for (size_t k = 0; k < out_grads.size(); ++k)
        if (!out_grads[k].defined()) out_grads[k] = zeros_like(e.outputs[k]);
      LocationOverride at(e.loc);
      in_grads = (*e.multi)(out_grads);
    } else {
      if (e.op->has(kNotDifferentiable)) continue;
      GradFn fn = find_gradient(*e.op);
      if (!fn) throw Error(format_error(e.op->name(), "has no gradient rule", e.loc));
      GradContext ctx{*e.op, e.inputs, e.outputs, e.attrs, out_grads, Loc::current()};
      LocationOverride at(e.loc);  // the backward ops carry the forward op's line
      in_grads = fn(ctx);
    }
    for (size_t i = 0; i < e.inputs.size() && i < in_grads.size(); ++i) {
      if (!in_grads[i].defined() || !tape.watches(e.inputs[i])) continue;
      const Tensor& x = e.inputs[i];
      Tensor g = in_grads[i];
      if (g.dtype() != x.dtype() && is_floating(x.dtype())) g = cast(g, x.dtype());
      accumulate(grads, x, g, loc);
    }
  }
  std::vector<Tensor> result;
  for (const GradSource& s : sources) {
    if (!s.is_variable()) {
      if (!s.tensor().defined()) throw Error(format_error("gradient", "a source is an undefined tensor", loc));
      auto g = grads.find(s.tensor().impl());
      result.push_back(g == grads.end() ? Tensor() : g->second);
      continue;
    }
    Tensor total;
    auto reads = tape.var_reads.find(s.variable().state());
    if (reads != tape.var_reads.end())
      for (const Tensor& r : reads->second) {
        auto g = grads.find(r.impl());
        if (g == grads.end()) continue;
        total = total.defined() ? add(total, g->second) : g->second;
      }
    result.push_back(total);
  }
  return result;
}

// ---- stop_gradient and custom_gradient ---------------------------------------------------

namespace {
const OpDef& k_stop_gradient = op_def("stop_gradient");
}

Tensor stop_gradient(const Tensor& t, Loc loc) { return dispatch1(k_stop_gradient, {&t}, no_attrs(), loc); }

Tensor CustomGradientOp::operator()(const std::vector<Tensor>& inputs, Loc loc) const {
  Tensor y;
  {
    // The forward's own ops are not recorded: the hand-written backward replaces them.
    std::vector<TapeImpl*> saved;
    saved.swap(t_tapes);
    update_observer();
    try {
      y = forward_(inputs);
    } catch (...) {
      t_tapes.swap(saved);
      update_observer();
      throw;
    }
    t_tapes.swap(saved);
    update_observer();
  }
  if (!y.defined()) throw Error(format_error("custom_gradient", "forward returned an undefined tensor", loc));
  CustomBackward backward = backward_;
  SrcLoc at = loc;
  auto op = std::make_shared<const detail::OpBackward>([backward, inputs, y, at](const std::vector<Tensor>& dys) {
    std::vector<Tensor> grads = backward(inputs, y, dys[0]);
    if (grads.size() != inputs.size())
      throw Error(format_error("custom_gradient",
                               fmt::format("backward returned {} gradients for {} inputs", grads.size(), inputs.size()),
                               at));
    return grads;
  });
  detail::tape_record_op(inputs, {y}, op, loc);
  return y;
}

}  // namespace duet
