// The Program engine's first form: one step per node, each calling the op's
// eager CPU kernel on buffers the engine owns.
//
// NOTE [Program buffers]
// Every SSA value has a slot. Per call, a slot's buffer is one of:
//  - an input (borrowed from the caller) or a constant (owned by the Program);
//  - a fresh Storage, for values the graph returns (handed to the caller);
//  - a region of the call's arena, for every other intermediate;
//  - the buffer of its operand, for view ops (reshape, expand_dims, squeeze).
// A returned value that lives in the arena or in a variable's buffer is
// copied out, so results never alias the arena (reused by later calls) or a
// variable (which a later memory plan may update in place); so is a
// variable's new value that is also returned to the user. Slot shapes are
// resolved once per distinct tuple of input shapes and memoized, so a call
// with seen shapes runs no type inference.
#include <duet/codegen/program.h>

#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <fmt/format.h>

#include <duet/graph/printer.h>

namespace duet::codegen {

namespace {

enum class Where : uint8_t { input, constant, own, arena, view };

struct Step {
  const OpDef* op;
  KernelFn fn;
  Attrs attrs;
  SrcLoc loc;
  std::vector<int> in;
  std::vector<int> out;
  bool view;
  std::string text;  // the node's line, for listings and errors
};

struct Plan {
  std::vector<TensorType> types;  // concrete, per slot
  std::vector<Where> where;
  std::vector<size_t> offset;     // arena offset of arena slots
  size_t arena_bytes = 0;
};

constexpr size_t kAlign = 64;

}  // namespace

struct Program::Impl {
  int num_slots = 0;
  int num_params = 0;
  std::vector<ValueType> declared;      // slot types as in the graph (dims may be -1)
  std::vector<bool> variable_param;     // per param
  std::vector<int> constant_slot;
  std::vector<Storage*> constant_storage;
  std::vector<Step> steps;
  std::vector<int> result_slots;
  std::vector<bool> writeback;          // per result: a variable's final value
  std::vector<bool> returned;           // per slot
  std::vector<int> view_source;         // per slot: the slot a view reads, else -1
  bool dynamic = false;

  mutable std::shared_mutex plans_mu;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans;

  ~Impl() {
    for (Storage* s : constant_storage) s->release();
  }

  std::shared_ptr<const Plan> plan_for(const std::vector<Buffer>& inputs) const;
  std::shared_ptr<const Plan> make_plan(const std::vector<Buffer>& inputs) const;
};

Program::Program(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Program::~Program() = default;

std::unique_ptr<Program> Program::lower(const Graph& g) {
  auto impl = std::make_unique<Impl>();
  std::unordered_map<const Value*, int> slot;
  auto new_slot = [&](const Value* v) {
    slot[v] = impl->num_slots++;
    impl->declared.push_back(v->type());
    impl->view_source.push_back(-1);
    if (!v->type().is_token && !v->type().tensor.shape.is_static()) impl->dynamic = true;
    return slot[v];
  };
  impl->num_params = g.num_params();
  for (int i = 0; i < g.num_params(); ++i) {
    new_slot(g.param(i));
    impl->variable_param.push_back(!g.param(i)->variable().empty());
  }
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    if (n.name() == "constant") {
      const DenseData& d = *n.attrs().get_dense("value").data;
      Storage* s = Storage::allocate(d.bytes.size(), Device::cpu());
      if (!d.bytes.empty()) std::memcpy(s->data(), d.bytes.data(), d.bytes.size());
      impl->constant_storage.push_back(s);
      impl->constant_slot.push_back(new_slot(n.result()));
      continue;
    }
    if (n.num_regions() > 0 || n.op().has(kStructural))
      throw Error(format_error(n.name(), "the Program engine cannot run this op yet: " + print_node(n), n.loc()));
    KernelFn fn = find_kernel(n.op().id(), Device::Type::cpu);
    if (!fn) throw DeviceError(format_error(n.name(), "no CPU kernel", n.loc()));
    Step step{&n.op(), fn, n.attrs(), n.loc(), {}, {}, n.op().has(kView), print_node(n)};
    for (int i = 0; i < n.num_operands(); ++i) step.in.push_back(slot.at(n.operand(i)));
    for (int i = 0; i < n.num_results(); ++i) step.out.push_back(new_slot(n.result(i)));
    if (step.view) impl->view_source[step.out[0]] = step.in[0];
    impl->steps.push_back(std::move(step));
  }
  impl->returned.assign(impl->num_slots, false);
  for (size_t i = 0; i < g.results().size(); ++i) {
    int s = slot.at(g.results()[i]);
    impl->result_slots.push_back(s);
    impl->writeback.push_back(g.parent_node() == nullptr && !g.result_variable(static_cast<int>(i)).empty());
    impl->returned[s] = true;
  }
  return std::unique_ptr<Program>(new Program(std::move(impl)));
}

std::shared_ptr<const Plan> Program::Impl::make_plan(const std::vector<Buffer>& inputs) const {
  auto plan = std::make_shared<Plan>();
  plan->types.resize(num_slots);
  plan->where.assign(num_slots, Where::arena);
  plan->offset.assign(num_slots, 0);
  for (int i = 0; i < num_params; ++i) {
    plan->types[i] = inputs[i].type;
    plan->where[i] = Where::input;
  }
  for (int s : constant_slot) {
    plan->types[s] = declared[s].tensor;
    plan->where[s] = Where::constant;
  }
  for (const Step& step : steps) {
    if (!dynamic) {
      for (int s : step.out) plan->types[s] = declared[s].tensor;
    } else {
      std::vector<const TensorType*> in;
      for (int s : step.in) in.push_back(&plan->types[s]);
      SmallVec<TensorType, 2> out = infer_types(*step.op, in, step.attrs, step.loc);
      for (size_t k = 0; k < step.out.size(); ++k) plan->types[step.out[k]] = out[k];
    }
    for (int s : step.out) {
      if (step.view) {
        plan->where[s] = Where::view;
      } else if (returned[s]) {
        plan->where[s] = Where::own;
      } else {
        plan->offset[s] = plan->arena_bytes;
        size_t bytes = static_cast<size_t>(plan->types[s].shape.numel()) * dtype_size(plan->types[s].dtype);
        plan->arena_bytes += (bytes + kAlign - 1) / kAlign * kAlign;
      }
    }
  }
  return plan;
}

std::shared_ptr<const Plan> Program::Impl::plan_for(const std::vector<Buffer>& inputs) const {
  std::vector<int64_t> key;
  if (dynamic)
    for (const Buffer& b : inputs) {
      key.push_back(b.type.shape.rank());
      key.insert(key.end(), b.type.shape.begin(), b.type.shape.end());
    }
  {
    std::shared_lock<std::shared_mutex> lock(plans_mu);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
  }
  auto plan = make_plan(inputs);
  std::unique_lock<std::shared_mutex> lock(plans_mu);
  if (plans.size() > 256) plans.clear();  // many batch sizes: start over rather than grow without bound
  return plans.emplace(key, plan).first->second;
}

namespace {
// Releases every reference a call took if a kernel throws.
struct CallGuard {
  std::vector<Storage*> held;
  ~CallGuard() {
    for (Storage* s : held) s->release();
  }
};
}  // namespace

void Program::run(const std::vector<Buffer>& inputs, std::vector<Buffer>* outputs) const {
  const Impl& p = *impl_;
  DUET_CHECK(static_cast<int>(inputs.size()) == p.num_params, "Program::run: wrong number of inputs");
  std::shared_ptr<const Plan> plan = p.plan_for(inputs);
  CallGuard guard;
  std::vector<void*> data(p.num_slots, nullptr);
  std::vector<Storage*> storage(p.num_slots, nullptr);
  for (int i = 0; i < p.num_params; ++i) {
    storage[i] = inputs[i].storage;
    data[i] = inputs[i].storage->data();
  }
  for (size_t k = 0; k < p.constant_slot.size(); ++k) {
    storage[p.constant_slot[k]] = p.constant_storage[k];
    data[p.constant_slot[k]] = p.constant_storage[k]->data();
  }
  Storage* arena = nullptr;
  if (plan->arena_bytes > 0) {
    arena = Storage::allocate(plan->arena_bytes, Device::cpu());
    guard.held.push_back(arena);
  }
  for (int s = 0; s < p.num_slots; ++s) {
    if (plan->where[s] == Where::arena) {
      storage[s] = arena;
      data[s] = arena ? static_cast<char*>(arena->data()) + plan->offset[s] : nullptr;
    } else if (plan->where[s] == Where::own) {
      const TensorType& t = plan->types[s];
      storage[s] = Storage::allocate(static_cast<size_t>(t.shape.numel()) * dtype_size(t.dtype), Device::cpu());
      guard.held.push_back(storage[s]);
      data[s] = storage[s]->data();
    }
  }
  KernelTensor kin[8], kout[2];
  std::vector<KernelTensor> kin_many;
  for (const Step& step : p.steps) {
    const int n_in = static_cast<int>(step.in.size());
    KernelTensor* in = n_in <= 8 ? kin : (kin_many.resize(n_in), kin_many.data());
    for (int k = 0; k < n_in; ++k) {
      int s = step.in[k];
      in[k] = KernelTensor{data[s], plan->types[s].dtype, &plan->types[s].shape, storage[s]};
    }
    bool any = step.view;
    for (size_t k = 0; k < step.out.size(); ++k) {
      int s = step.out[k];
      kout[k] = KernelTensor{data[s], plan->types[s].dtype, &plan->types[s].shape, storage[s]};
      any |= plan->types[s].shape.numel() > 0;
    }
    if (!any) continue;
    KernelContext ctx{*step.op, step.attrs, step.loc, in, n_in, kout, static_cast<int>(step.out.size())};
    step.fn(ctx);
    if (step.view) {
      data[step.out[0]] = kout[0].data;
      storage[step.out[0]] = kout[0].storage;
    }
  }
  outputs->clear();
  std::vector<bool> handed_out(p.num_slots, false);
  for (size_t r = 0; r < p.result_slots.size(); ++r) {
    int s = p.result_slots[r];
    const TensorType& t = plan->types[s];
    // Follow views to the buffer they read.
    int root = s;
    while (plan->where[root] == Where::view) root = p.view_source[root];
    Where w = plan->where[root];
    // A variable's new value never shares a buffer with another result.
    bool copy = w == Where::arena || (w == Where::input && root < p.num_params && p.variable_param[root]) ||
                (p.writeback[r] && handed_out[root]);
    handed_out[root] = true;
    if (copy) {
      size_t bytes = static_cast<size_t>(t.shape.numel()) * dtype_size(t.dtype);
      Storage* fresh = Storage::allocate(bytes, Device::cpu());
      if (bytes) std::memcpy(fresh->data(), data[s], bytes);
      outputs->push_back(Buffer{t, fresh});
    } else {
      storage[s]->retain();
      outputs->push_back(Buffer{t, storage[s]});
    }
  }
}

std::string Program::listing() const {
  const Impl& p = *impl_;
  std::string s = fmt::format("program: {} params, {} constants, {} steps{}\n", p.num_params,
                              p.constant_slot.size(), p.steps.size(), p.dynamic ? " (dynamic shapes)" : "");
  for (size_t i = 0; i < p.steps.size(); ++i)
    s += fmt::format("  step {}: kernel {}{}  // {}\n", i, p.steps[i].op->name(), p.steps[i].view ? " (view)" : "",
                     p.steps[i].text);
  return s;
}

int Program::num_steps() const { return static_cast<int>(impl_->steps.size()); }

}  // namespace duet::codegen
