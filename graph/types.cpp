// DType names and promotion, Shape and TensorType printing.
#include <duet/graph/types.h>

#include <ostream>

#include <duet/graph/error.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace duet {

namespace {
constexpr const char* kDTypeNames[kNumDTypes] = {"b8", "i32", "i64", "f32", "f64"};
constexpr size_t kDTypeSizes[kNumDTypes] = {1, 4, 8, 4, 8};
}  // namespace

const char* dtype_name(DType t) { return kDTypeNames[static_cast<int>(t)]; }
size_t dtype_size(DType t) { return kDTypeSizes[static_cast<int>(t)]; }

bool parse_dtype(const std::string& name, DType* out) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (name == kDTypeNames[i]) { *out = static_cast<DType>(i); return true; }
  return false;
}

// NOTE [Type promotion]: the enum order is the promotion order, so the
// promoted type of two tensors is the larger one (docs/semantics.md).
DType promote_types(DType a, DType b) { return a > b ? a : b; }

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_list_dim(d);
}
Shape::Shape(const std::vector<int64_t>& dims) {
  for (int64_t d : dims) push_list_dim(d);
}

void Shape::push_list_dim(int64_t d) {
  if (rank_ < kMaxRank) dims_[rank_++] = d;
  else ++excess_;
}

std::vector<int64_t> Shape::vec() const {
  if (excess_)
    throw ShapeError(fmt::format("shape: rank {} exceeds the maximum rank {}", rank_ + excess_, kMaxRank));
  return {begin(), end()};
}

void Shape::push_back(int64_t d) {
  if (rank_ >= kMaxRank)
    throw ShapeError(fmt::format("shape: rank {} exceeds the maximum rank {}", rank_ + 1, kMaxRank));
  dims_[rank_++] = d;
}

int64_t Shape::operator[](Index index) const {
  int i = index.i;
  int j = i < 0 ? i + rank_ : i;
  if (j < 0 || j >= rank_)
    throw ShapeError(format_error("shape", fmt::format("index {} out of range for {} (rank {})", i, str(), int(rank_)),
                                  index.where));
  return dims_[j];
}

int64_t Shape::numel() const {
  bool empty = false;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[i] < 0) return -1;
    empty |= dims_[i] == 0;
  }
  if (empty) return 0;  // [2^63-1, 2, 0] is empty: never multiply the dims before the 0
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];  // cannot overflow for a value's type (NOTE [Result sizes])
  return n;
}

int64_t checked_numel(const Shape& shape) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d == 0) return 0;  // [0, 2^40, 2^40] is empty, not an overflow
    overflow |= __builtin_mul_overflow(n, d, &n);
  }
  return overflow ? -1 : n;
}

int64_t checked_bytes(const TensorType& type) {
  int64_t n = checked_numel(type.shape), bytes = 0;
  if (n < 0 || __builtin_mul_overflow(n, static_cast<int64_t>(dtype_size(type.dtype)), &bytes) ||
      bytes > kMaxTensorBytes)
    return -1;
  return bytes;
}

std::string type_size_problem(const TensorType& type, bool allow_dynamic) {
  bool dynamic = false;
  for (int i = 0; i < type.shape.rank(); ++i) {
    int64_t d = type.shape.dim(i);
    if (d < -1) return fmt::format("{} has a negative dim ({} at axis {})", type.str(), d, i);
    if (d == -1 && !allow_dynamic)
      return fmt::format("{} has a dynamic dim (axis {}): a concrete tensor needs every dim", type.str(), i);
    dynamic |= d == -1;
  }
  TensorType known = type;  // with dynamic dims, the static dims alone must fit
  for (int i = 0; dynamic && i < known.shape.rank(); ++i)
    if (known.shape.dim(i) < 0) known.shape.at(i) = 1;
  if (checked_bytes(known) >= 0) return "";
  int64_t n = checked_numel(known.shape);
  if (n < 0) return fmt::format("{} has more elements than int64 counts (a tensor takes at most 2^48 bytes)", type.str());
  return fmt::format("{} has {} elements of {} bytes, more than the 2^48 bytes a tensor may take", type.str(), n,
                     dtype_size(type.dtype));
}

void check_shape_argument(const char* op, const Shape& shape, bool allow_dynamic, const SrcLoc& loc) {
  if (shape.excess_rank())
    throw ShapeError(format_error(op, fmt::format("rank {} exceeds the maximum rank {}",
                                                  shape.rank() + shape.excess_rank(), Shape::kMaxRank), loc));
  for (int64_t d : shape)
    if (d < 0 && !(allow_dynamic && d == -1))
      throw ShapeError(format_error(
          op, fmt::format("dims must be >= 0{}, got [{}]", allow_dynamic ? " (or -1: dynamic)" : "",
                          fmt::join(shape.begin(), shape.end(), ",")), loc));
}

bool Shape::is_static() const {
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] < 0) return false;
  return true;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

bool Shape::operator==(const std::vector<int64_t>& o) const {
  if (static_cast<size_t>(rank_) != o.size()) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ',';
    s += dims_[i] == -1 ? std::string("?") : std::to_string(dims_[i]);
  }
  return s + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

std::string Device::str() const { return type == Type::cpu ? "cpu" : fmt::format("cuda:{}", index); }
std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

std::string TensorType::str() const { return dtype_name(dtype) + shape.str(); }

std::string SrcLoc::str() const {
  if (!known()) return "";
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  return fmt::format("{}:{}", base, line);
}

namespace detail {
void check_failed(const char* cond, const char* file, int line, const std::string& msg) {
  std::string text = fmt::format("internal error: {} ({}:{}): {}", cond, file, line, msg);
#ifndef NDEBUG
  fmt::print(stderr, "{}\n", text);
  std::abort();
#else
  throw Error(text);
#endif
}
}  // namespace detail

}  // namespace duet
