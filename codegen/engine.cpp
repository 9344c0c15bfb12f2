// The engine: one call of a Program. Binds the inputs, constants, arena and
// fresh results to the plan's slots (NOTE [Program buffers] in steps.h), runs
// the steps in order, and hands the results out.
#include <duet/codegen/program.h>

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include <duet/backends/copy.h>
#include <duet/backends/format.h>
#include <duet/codegen/gpu/kernels.h>
#include <duet/codegen/steps.h>

namespace duet::codegen {

namespace {

// DUET_PROFILE=1 times every step (ir(Stage::lowered) then shows the times).
bool profiling() {
  static const bool on = [] {
    const char* v = std::getenv("DUET_PROFILE");
    return v && std::string(v) == "1";
  }();
  return on;
}

// Releases every reference a call took if a kernel throws.
struct CallGuard {
  std::vector<Storage*> held;
  ~CallGuard() {
    for (Storage* s : held) s->release();
  }
};

// One call's buffers, and the kernel-argument scratch its steps reuse.
struct Frame {
  const Plan& plan;
  Device device;
  std::vector<void*> data;
  std::vector<Storage*> storage;
  KernelTensor kin[8], kout[2];
  std::vector<KernelTensor> kin_many;

  KernelTensor tensor(int s) const { return KernelTensor{data[s], plan.types[s].dtype, &plan.types[s].shape, storage[s]}; }
};

void copy_slot(Frame& f, int from, int to) {
  if (f.plan.where[to] == Where::token || f.data[from] == f.data[to]) return;
  copy_bytes(f.data[to], f.device, f.data[from], f.device, bytes_of(f.plan.types[to]));
}

void copy_slots(Frame& f, const std::vector<int>& from, const std::vector<int>& to) {
  for (size_t k = 0; k < to.size(); ++k) copy_slot(f, from[k], to[k]);
}

// A cond or while predicate, read on the host (on a GPU: waits for the device).
bool predicate(const Frame& f, int s) {
  uint8_t b = 0;  // a b8 is one byte, 0 or 1
  copy_bytes(&b, Device::cpu(), f.data[s], f.device, 1);
  return b != 0;
}

void run_steps(const std::vector<Step>& steps, Frame& f);

void run(const Step& step, const KernelStep& k, Frame& f) {
  const int n_in = static_cast<int>(step.in.size());
  KernelTensor* in = n_in <= 8 ? f.kin : (f.kin_many.resize(static_cast<size_t>(n_in)), f.kin_many.data());
  for (int i = 0; i < n_in; ++i) in[i] = f.tensor(step.in[static_cast<size_t>(i)]);
  bool any = k.view;
  for (size_t i = 0; i < step.out.size(); ++i) {
    f.kout[i] = f.tensor(step.out[i]);
    any |= f.plan.types[step.out[i]].shape.numel() > 0;
  }
  if (!any) return;  // every result is empty: nothing to compute
  KernelContext ctx{*step.op, step.attrs, step.loc, in, n_in, f.kout, static_cast<int>(step.out.size()), f.device};
  k.fn(ctx);
  if (k.view) {
    f.data[step.out[0]] = f.kout[0].data;
    f.storage[step.out[0]] = f.kout[0].storage;
  }
}

void run(const Step& step, const CondStep& c, Frame& f) {
  const Region& taken = predicate(f, step.in[0]) ? c.then_branch : c.else_branch;
  run_steps(taken.steps, f);
  copy_slots(f, taken.yields, step.out);
}

void run(const Step& step, const WhileStep& w, Frame& f) {
  copy_slots(f, step.in, step.out);
  for (int64_t it = 0; w.max_iterations < 0 || it < w.max_iterations; ++it) {
    copy_slots(f, step.out, w.condition.params);
    run_steps(w.condition.steps, f);
    if (!predicate(f, w.condition.yields[0])) break;
    copy_slots(f, step.out, w.body.params);
    run_steps(w.body.steps, f);
    copy_slots(f, w.body.yields, step.out);
  }
}

void run(const Step& step, const SteppedFusionStep& s, Frame& f) {
  for (size_t k = 0; k < s.body.params.size(); ++k) {
    f.data[s.body.params[k]] = f.data[step.in[k]];
    f.storage[s.body.params[k]] = f.storage[step.in[k]];
  }
  run_steps(s.body.steps, f);
  copy_slots(f, s.body.yields, step.out);
}

void run(const Step& step, const CompiledStep& c, Frame& f) {
  const CompiledRun& walk = f.plan.runs[static_cast<size_t>(c.run_index)];
  const size_t n_in = step.in.size(), n_all = n_in + step.out.size();
  std::vector<char*> base(n_all);
  std::vector<int64_t> width(n_all);
  for (size_t k = 0; k < n_all; ++k) {
    int s = k < n_in ? step.in[k] : step.out[k - n_in];
    base[k] = static_cast<char*>(f.data[s]);
    width[k] = static_cast<int64_t>(dtype_size(f.plan.types[s].dtype));
  }
  run_compiled(*c.body, walk, base, width);
}

// A generated GPU kernel over the broadcast of the step's inputs (NOTE [Programs on a GPU]).
void run(const Step& step, const GpuStep& g, Frame& f) {
  Shape space;
  broadcast_space(f.plan, step.in, &space);  // planned: they broadcast
  gpu::Launch l;
  l.dims.assign(space.begin(), space.end());
  if (l.dims.empty()) l.dims.push_back(1);
  for (int s : step.in) {
    l.ptrs.push_back(f.data[s]);
    l.strides.push_back(gpu::launch_strides(f.plan.types[s].shape, space));
  }
  for (int s : step.out) l.ptrs.push_back(f.data[s]);
  gpu::run(*g.body, l, f.device.index);
}

void run(const Step& step, const PrintStep&, Frame& f) {
  std::vector<std::string> values;
  std::vector<char> host;
  for (int s : step.in) {
    if (f.plan.where[s] == Where::token) continue;
    const void* data = f.data[s];
    if (!f.device.is_cpu()) {
      host.resize(bytes_of(f.plan.types[s]));
      copy_bytes(host.data(), Device::cpu(), data, f.device, host.size());
      data = host.data();
    }
    values.push_back(format_values(data, f.plan.types[s].dtype, f.plan.types[s].shape));
  }
  const AttrValue* format = step.attrs.find("format");
  std::string text = format ? std::get<std::string>(*format) : std::string();
  if (!format) for (size_t i = 0; i < values.size(); ++i) text += i ? " {}" : "{}";
  write_line(render_print(text, values));
}

void run(const Step&, const NopStep&, Frame&) {}

void run_step(const Step& step, Frame& f) {
  std::visit([&](const auto& kind) { run(step, kind, f); }, step.kind);
}

void run_steps(const std::vector<Step>& steps, Frame& f) {
  if (!profiling()) {
    for (const Step& step : steps) run_step(step, f);
    return;
  }
  for (const Step& step : steps) {
    auto t0 = std::chrono::steady_clock::now();
    run_step(step, f);
    *step.profile_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    ++*step.profile_runs;
  }
}

// The call's arena: one allocation for every intermediate of the plan.
Storage* allocate_arena(const Plan& plan, Device device) {
  if (plan.arena_bytes == 0) return nullptr;
  try {
    return Storage::allocate(plan.arena_bytes, device);
  } catch (const OutOfMemoryError& e) {  // NOTE [Result sizes]: the caller adds the function and line
    throw OutOfMemoryError(fmt::format("cannot allocate the call's arena ({} bytes for the intermediates of the "
                                       "memory plan): {}", plan.arena_bytes, e.what()));
  }
}

Storage* allocate_result(const TensorType& t, Device device) {
  try {
    return Storage::allocate(bytes_of(t), device);
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError(fmt::format("cannot allocate the result {} ({} bytes): {}", t.str(), bytes_of(t), e.what()));
  }
}

// Every slot's buffer for this call: inputs, constants, the arena, fresh results.
void bind_slots(const Program::Impl& p, const std::vector<Buffer>& inputs, Frame& f, CallGuard& guard) {
  const Plan& plan = f.plan;
  for (int i = 0; i < p.num_params; ++i) {
    f.storage[i] = inputs[i].storage;
    f.data[i] = inputs[i].storage ? inputs[i].storage->data() : nullptr;
  }
  for (size_t k = 0; k < p.constant_slot.size(); ++k) {
    f.storage[p.constant_slot[k]] = p.constant_storage[k];
    f.data[p.constant_slot[k]] = p.constant_storage[k]->data();
  }
  Storage* arena = allocate_arena(plan, p.device);
  if (arena) guard.held.push_back(arena);
  // The donated input whose buffer slot s (returned) receives, else -1: a
  // variable's next value goes into the variable's own buffer.
  auto donor = [&](int s) {
    for (const auto& [slot, in] : p.donations)
      if (slot == s && inputs[in].donated && plan.types[s] == inputs[in].type) return in;
    return -1;
  };
  for (int s = 0; s < p.num_slots; ++s) {
    const int in = plan.where[s] == Where::own && !p.donations.empty() ? donor(s) : -1;
    if (in >= 0) {
      f.storage[s] = inputs[in].storage;
      f.data[s] = f.storage[s]->data();
    } else if (plan.where[s] == Where::arena) {
      f.storage[s] = arena;
      f.data[s] = arena ? static_cast<char*>(arena->data()) + plan.offset[s] : nullptr;
    } else if (plan.where[s] == Where::own) {
      f.storage[s] = allocate_result(plan.types[s], p.device);
      guard.held.push_back(f.storage[s]);
      f.data[s] = f.storage[s]->data();
    }
  }
}

// The results, each with one reference for the caller. A result that lives
// in the arena or in a variable's buffer, or a variable's new value whose
// buffer another result already took, is copied to a fresh buffer.
void hand_out(const Program::Impl& p, Frame& f, std::vector<Buffer>* outputs) {
  const Plan& plan = f.plan;
  outputs->clear();
  std::vector<bool> handed_out(static_cast<size_t>(p.num_slots), false);
  for (size_t r = 0; r < p.result_slots.size(); ++r) {
    int s = p.result_slots[r];
    const TensorType& t = plan.types[s];
    int root = s;  // follow views to the buffer they read
    while (plan.where[root] == Where::view) root = p.view_source[root];
    Where w = plan.where[root];
    bool copy = w == Where::arena || (w == Where::input && root < p.num_params && p.variable_param[root]) ||
                (p.writeback[r] && handed_out[root]);
    handed_out[root] = true;
    if (copy) {
      Storage* fresh = Storage::allocate(bytes_of(t), p.device);
      copy_bytes(fresh->data(), p.device, f.data[s], p.device, bytes_of(t));
      outputs->push_back(Buffer{t, fresh});
    } else {
      f.storage[s]->retain();
      outputs->push_back(Buffer{t, f.storage[s]});
    }
  }
}

}  // namespace

void Program::run(const std::vector<Buffer>& inputs, std::vector<Buffer>* outputs) const {
  const Impl& p = *impl_;
  DUET_CHECK(static_cast<int>(inputs.size()) == p.num_params, "Program::run: wrong number of inputs");
  std::shared_ptr<const Plan> plan = p.plan_for(inputs);
  CallGuard guard;
  Frame f{*plan, p.device, std::vector<void*>(static_cast<size_t>(p.num_slots), nullptr),
          std::vector<Storage*>(static_cast<size_t>(p.num_slots), nullptr), {}, {}, {}};
  bind_slots(p, inputs, f, guard);
  run_steps(p.steps, f);
  hand_out(p, f, outputs);
}

Device Program::device() const { return impl_->device; }
int Program::num_steps() const { return count_steps(impl_->steps); }

size_t Program::footprint_bytes() const {
  size_t bytes = sizeof(Impl) + static_cast<size_t>(num_steps()) * (sizeof(Step) + 256);
  for (const Storage* s : impl_->constant_storage) bytes += s->bytes();
  std::shared_lock<std::shared_mutex> lock(impl_->plans_mu);
  for (const auto& [shape, plan] : impl_->plans) bytes += sizeof(Plan) + plan->types.size() * 64 + shape.size() * 8;
  return bytes;
}

bool Program::accepts_donation(int i) const {
  for (const auto& d : impl_->donations)
    if (d.second == i) return true;
  return false;
}

}  // namespace duet::codegen
