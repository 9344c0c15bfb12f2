// The dispatch road. Hot for small tensors (W1): no string lookups, no locks,
// no heap for ops with up to two operands and results.
//
// NOTE [The recorder interface]
// runtime/ never includes tracer/: a trace installs a Recorder in a
// thread-local slot and dispatch hands it each call after inference, so eager
// and traced calls share infer and can never disagree on types. Tapes observe
// through the OpObserver slot the same way.
#include <duet/runtime/dispatch.h>

#include <fmt/format.h>

#include <duet/backends/kernel.h>
#include <duet/runtime/tensor_impl.h>

namespace duet {

namespace {
thread_local Recorder* t_recorder = nullptr;
thread_local OpObserver* t_observer = nullptr;
thread_local SrcLoc t_loc_override;
}  // namespace

LocationOverride::LocationOverride(SrcLoc loc) : saved_(t_loc_override) { t_loc_override = loc; }
SrcLoc location_override() { return t_loc_override; }
LocationOverride::~LocationOverride() { t_loc_override = saved_; }

const Attrs& no_attrs() {
  static const Attrs empty;
  return empty;
}

Recorder* current_recorder() { return t_recorder; }
void set_current_recorder(Recorder* r) { t_recorder = r; }
OpObserver* current_op_observer() { return t_observer; }
void set_current_op_observer(OpObserver* o) { t_observer = o; }

[[noreturn]] static void undefined_operand(const OpDef& op, int i, SrcLoc loc) {
  throw Error(format_error(op.name(), fmt::format("operand {} is an undefined tensor", i), loc));
}

// An eager result needs every dim: a -1 that an attribute carried into the
// type (broadcast_to(x, {2, -1})) would make a tensor of no size.
[[noreturn]] static void result_not_concrete(const OpDef& op, const TensorType& t, const InferContext& ctx, SrcLoc loc) {
  throw ShapeError(format_error(
      op.name(), fmt::format("the result {}{}", type_size_problem(t, /*allow_dynamic=*/false),
                             ctx.num_inputs() ? " (operands " + ctx.operand_types() + ")" : std::string()),
      loc));
}

TensorList dispatch(const OpDef& op, const Tensor* const* inputs, int n, const Attrs& attrs, SrcLoc loc) {
  if (t_loc_override.file) loc = t_loc_override;
  SmallVec<const TensorType*, 4> types;
  for (int i = 0; i < n; ++i) {
    if (!inputs[i]->defined()) undefined_operand(op, i, loc);
    types.push_back(&inputs[i]->impl()->type);
  }
  const TensorType* const* type_ptrs = n <= 4 ? &types[0] : nullptr;
  std::vector<const TensorType*> many;
  if (n > 4) {
    for (int i = 0; i < n; ++i) many.push_back(types[i]);
    type_ptrs = many.data();
  }
  InferContext ctx(op, type_ptrs, n, attrs, loc);
  op.run_infer(ctx);  // checks every result's size (NOTE [Result sizes])

  if (Recorder* rec = t_recorder) {
    TensorList out = rec->record(op, inputs, n, attrs, ctx.results, loc);
    if (OpObserver* obs = t_observer)
      if (rec->observe_ops()) obs->on_op(op, inputs, n, attrs, out, loc);  // tapes inside traces
    return out;
  }

  for (int i = 0; i < static_cast<int>(ctx.results.size()); ++i)
    if (!ctx.results[i].shape.is_static()) result_not_concrete(op, ctx.results[i], ctx, loc);
  Device device = n > 0 ? inputs[0]->impl()->device() : Device::cpu();
  for (int i = 0; i < n; ++i) {
    TensorImpl* impl = inputs[i]->impl();
    if (!impl->storage)
      throw TraceError(format_error(op.name(), "a symbolic tensor of a finished trace was used eagerly", loc));
    if (!(impl->device() == device))
      throw DeviceError(format_error(
          op.name(), fmt::format("operands are on different devices: {} and {}", device.str(), impl->device().str()),
          loc));
  }
  KernelFn fn = find_kernel(op.id(), device.type);
  if (!fn) throw DeviceError(format_error(op.name(), "no kernel for device " + device.str(), loc));

  const int num_out = static_cast<int>(ctx.results.size());
  SmallVec<KernelTensor, 4> kin;
  for (int i = 0; i < n; ++i) {
    TensorImpl* impl = inputs[i]->impl();
    kin.push_back(KernelTensor{impl->data(), impl->type.dtype, &impl->type.shape, impl->storage});
  }
  std::vector<KernelTensor> kin_many;
  const KernelTensor* kin_ptr = n <= 4 ? &kin[0] : nullptr;
  if (n > 4) {
    for (int i = 0; i < n; ++i) kin_many.push_back(kin[i]);
    kin_ptr = kin_many.data();
  }

  TensorList outputs;
  KernelTensor kout[2];
  DUET_CHECK(num_out <= 2, "ops with more than two results need a wider dispatch");
  const bool view = op.has(kView);
  bool any_elements = false;
  for (int i = 0; i < num_out; ++i) {
    const TensorType& t = ctx.results[i];
    if (view) {
      kout[i] = KernelTensor{nullptr, t.dtype, &ctx.results[i].shape, nullptr};
      continue;
    }
    TensorImpl* impl = TensorImpl::create_result(op.name().c_str(), t, device, loc);
    outputs.push_back(Tensor(impl));
    kout[i] = KernelTensor{impl->data(), t.dtype, &impl->type.shape, impl->storage};
    any_elements |= t.shape.numel() > 0;
  }
  if (view || any_elements) {
    KernelContext kc{op, attrs, loc, kin_ptr, n, kout, num_out, device};
    try {
      fn(kc);
    } catch (const OutOfMemoryError& e) {  // a kernel's own temporaries
      if (std::string_view(e.what()).starts_with("out of memory on"))
        throw OutOfMemoryError(format_error(op.name(), fmt::format("{} (operands {})", e.what(), ctx.operand_types()), loc));
      throw;
    }
  }
  if (view) {
    for (int i = 0; i < num_out; ++i) {
      DUET_CHECK(kout[i].storage != nullptr, "view kernel of " + op.name() + " set no storage");
      outputs.push_back(Tensor(TensorImpl::create_view(ctx.results[i], kout[i].storage)));
    }
  }
  for (int i = 0; i < num_out; ++i) {  // for errors that cannot know their caller's line
    outputs[i].impl()->made_by = op.name().c_str();
    outputs[i].impl()->made_at = loc;
  }
  if (OpObserver* obs = t_observer) obs->on_op(op, inputs, n, attrs, outputs, loc);
  return outputs;
}

Tensor dispatch1(const OpDef& op, std::initializer_list<const Tensor*> inputs, const Attrs& attrs, SrcLoc loc) {
  TensorList out = dispatch(op, inputs.begin(), static_cast<int>(inputs.size()), attrs, loc);
  DUET_CHECK(out.size() == 1, op.name() + " does not have exactly one result");
  return std::move(out[0]);
}

}  // namespace duet
