// Tensor handles, TensorImpl's lifetime, host reads (item, to_vector).
#include <duet/runtime/tensor.h>

#include <duet/backends/copy.h>
#include <duet/runtime/device.h>

#include <cstring>
#include <new>

#include <fmt/format.h>

#include <duet/backends/cpu/allocator.h>
#include <duet/graph/ir.h>
#include <duet/graph/scalar.h>
#include <duet/runtime/dispatch.h>
#include <duet/runtime/tensor_impl.h>
#include <duet/runtime/variable.h>

namespace duet {

// ---- TensorImpl -------------------------------------------------------------------

// A TensorImpl of `type` from the caching allocator, with nothing else set.
TensorImpl* TensorImpl::allocate(const TensorType& type) {
  size_t block = 0;
  void* p = cpu::alloc(sizeof(TensorImpl), &block);
  auto* t = new (p) TensorImpl;
  t->block_bytes_ = block;
  t->type = type;
  return t;
}

TensorImpl* TensorImpl::create(const TensorType& type, Device device) {
  TensorImpl* t = allocate(type);
  t->device_ = device;
  try {
    t->storage = Storage::allocate(static_cast<size_t>(type.shape.numel()) * dtype_size(type.dtype), device);
  } catch (...) {
    t->destroy();
    throw;
  }
  return t;
}

TensorImpl* TensorImpl::create_result(const char* op, const TensorType& type, Device device, SrcLoc loc) {
  try {
    return create(type, device);
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError(format_error(
        op, fmt::format("cannot allocate the result {} ({} bytes): {}", type.str(), checked_bytes(type), e.what()), loc));
  } catch (const DeviceError& e) {
    throw DeviceError(format_error(op, e.what(), loc));
  }
}

TensorImpl* TensorImpl::create_view(const TensorType& type, Storage* storage) {
  TensorImpl* t = allocate(type);
  t->storage = storage;
  if (storage) {
    storage->retain();
    t->device_ = storage->device();
  }
  return t;
}

TensorImpl* TensorImpl::create_symbolic(const TensorType& type, void* symbol, uint64_t trace_id) {
  TensorImpl* t = allocate(type);
  t->symbol = symbol;
  t->trace_id = trace_id;
  return t;
}

void TensorImpl::destroy() {
  if (storage) storage->release();
  size_t block = block_bytes_;
  this->~TensorImpl();
  cpu::free(this, block);
}

// ---- Tensor handle ----------------------------------------------------------------

Tensor::Tensor(const Tensor& o) : impl_(o.impl_) {
  if (impl_) impl_->retain();
}
Tensor& Tensor::operator=(const Tensor& o) {
  if (o.impl_) o.impl_->retain();
  if (impl_) impl_->release();
  impl_ = o.impl_;
  return *this;
}
Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    if (impl_) impl_->release();
    impl_ = o.impl_;
    o.impl_ = nullptr;
  }
  return *this;
}
Tensor::~Tensor() {
  if (impl_) impl_->release();
}
Tensor::Tensor(const Variable& v) : Tensor(v.value()) {}

static TensorImpl* checked(const Tensor* t, const char* what) {
  if (!t->impl()) throw Error(fmt::format("{}: the tensor is undefined", what));
  return t->impl();
}

const TensorType& Tensor::type() const { return checked(this, "type")->type; }
const Shape& Tensor::shape() const { return checked(this, "shape")->type.shape; }
DType Tensor::dtype() const { return checked(this, "dtype")->type.dtype; }
Device Tensor::device() const { return checked(this, "device")->device(); }
int64_t Tensor::numel() const { return shape().numel(); }
int Tensor::rank() const { return shape().rank(); }

const void* Tensor::data_ptr() const {
  TensorImpl* impl = checked(this, "data_ptr");
  if (!impl->storage) throw TraceError("data_ptr: a symbolic tensor has no data");
  return impl->data();
}

// ---- host reads ------------------------------------------------------------------------

namespace {

// A host read of a traced value has nothing to read: say what to use instead.
void check_host_readable(const Tensor& t, const char* what, SrcLoc loc) {
  if (!t.defined()) throw Error(format_error(what, "the tensor is undefined", loc));
  if (!t.impl()->storage || current_recorder())
    throw TraceError(format_error(
        what,
        fmt::format("cannot read the value of a {} on the host while tracing; branch with cond() or loop "
                    "with while_loop() instead",
                    t.type().str()),
        loc));
}

// A CUDA tensor is read through a host copy (waiting for the device).
Tensor on_host(const Tensor& t, Loc loc) { return t.device().is_cpu() ? t : t.to(Device::cpu(), loc); }

template <class T>
T element_as(const TensorImpl* impl, int64_t i) {
  switch (impl->type.dtype) {
    case DType::b8: return scalar_math::cast<T>(impl->ptr<bool>()[i]);
    case DType::i32: return scalar_math::cast<T>(impl->ptr<int32_t>()[i]);
    case DType::i64: return scalar_math::cast<T>(impl->ptr<int64_t>()[i]);
    case DType::f32: return scalar_math::cast<T>(impl->ptr<float>()[i]);
    case DType::f64: return scalar_math::cast<T>(impl->ptr<double>()[i]);
  }
  return T();
}

}  // namespace

template <class T>
T Tensor::item(Loc loc) const {
  check_host_readable(*this, "item", loc);
  if (numel() != 1)
    throw ShapeError(format_error("item", fmt::format("expects one element, got {}", type().str()), loc));
  return element_as<T>(on_host(*this, loc).impl(), 0);
}

template <class T>
std::vector<T> Tensor::to_vector(Loc loc) const {
  check_host_readable(*this, "to_vector", loc);
  Tensor host = on_host(*this, loc);
  int64_t n = numel();
  std::vector<T> out(static_cast<size_t>(n));
  if (dtype() == dtype_of<T>::value) {
    if (n) std::memcpy(out.data(), host.impl()->data(), static_cast<size_t>(n) * sizeof(T));
    return out;
  }
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = element_as<T>(host.impl(), i);
  return out;
}

template <>
std::vector<bool> Tensor::to_vector<bool>(Loc loc) const {
  check_host_readable(*this, "to_vector", loc);
  Tensor host = on_host(*this, loc);
  std::vector<bool> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[static_cast<size_t>(i)] = element_as<bool>(host.impl(), i);
  return out;
}

#define DUET_INSTANTIATE_READS(T)                          \
  template T Tensor::item<T>(Loc) const;                   \
  template std::vector<T> Tensor::to_vector<T>(Loc) const;
DUET_INSTANTIATE_READS(float)
DUET_INSTANTIATE_READS(double)
DUET_INSTANTIATE_READS(int32_t)
DUET_INSTANTIATE_READS(int64_t)
template bool Tensor::item<bool>(Loc) const;
#undef DUET_INSTANTIATE_READS

Tensor::operator bool() const {
  // A conversion operator cannot take the caller's location; a traced value
  // names the line of the op that made it instead.
  if (defined() && !impl_->storage) {
    Recorder* rec = current_recorder();
    const duet::Value* value = rec && rec->trace_id() == impl_->trace_id
                                   ? static_cast<const duet::Value*>(impl_->symbol) : nullptr;
    SrcLoc made = value && value->producer() ? value->producer()->loc() : SrcLoc();
    std::string from = !value ? std::string("a finished trace")
                              : value->producer() ? value->producer()->name() : std::string("an argument");
    throw TraceError(format_error(
        "bool",
        fmt::format("a traced {} (from {}{}) was used as a C++ bool; its value is unknown while tracing: "
                    "branch with cond() or loop with while_loop() instead",
                    type().str(), from, made.known() ? " at " + made.str() : std::string()),
        SrcLoc()));
  }
  // Eagerly, the message names the op and line that made the tensor.
  if (!defined()) throw Error(format_error("bool", "an undefined tensor was used as a C++ bool", SrcLoc()));
  std::string made = impl_->made_by ? fmt::format(" (made by {}{})", impl_->made_by,
                                                  impl_->made_at.known() ? " at " + impl_->made_at.str() : "")
                                    : std::string();
  if (dtype() != DType::b8)
    throw DTypeError(format_error(
        "bool", fmt::format("a {} tensor{} was used as a C++ bool: only a b8 tensor converts", type().str(), made),
        SrcLoc()));
  if (numel() != 1)
    throw ShapeError(format_error(
        "bool", fmt::format("a {} tensor{} was used as a C++ bool: only one element converts: reduce it "
                            "first (any: max(cast(x, DType::i32)) > 0)", type().str(), made),
        SrcLoc()));
  return item<bool>();
}

Tensor Tensor::to(Device device, Loc loc) const {
  if (!defined()) throw Error(format_error("to", "the tensor is undefined", loc));
  if (device == this->device()) return *this;
  detail::check_device(device, "to", loc);
  if (!impl_->storage)
    throw TraceError(format_error("to", "cannot move a traced value between devices: move the arguments before the "
                                        "call", loc));
  const Device from = this->device();
  const size_t bytes = static_cast<size_t>(numel()) * dtype_size(dtype());
  Tensor out;
  try {
    out = Tensor(TensorImpl::create(type(), device));
    copy_bytes(out.impl()->data(), device, impl_->data(), from, bytes);
  } catch (const DeviceError& e) {
    throw DeviceError(format_error("to", fmt::format("{} -> {}: {}", from.str(), device.str(), e.what()), loc));
  }
  return out;
}
Tensor Tensor::cpu(Loc loc) const { return to(Device::cpu(), loc); }

}  // namespace duet
