// DType names and promotion, Shape and TensorType printing.
#include <duet/graph/types.h>

#include <ostream>

#include <duet/graph/error.h>
#include <fmt/format.h>

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
  for (int64_t d : dims) push_back(d);
}
Shape::Shape(const std::vector<int64_t>& dims) {
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t d) {
  if (rank_ >= kMaxRank)
    throw ShapeError(fmt::format("shape: rank {} exceeds the maximum rank {}", rank_ + 1, kMaxRank));
  dims_[rank_++] = d;
}

int64_t Shape::operator[](int i) const {
  int j = i < 0 ? i + rank_ : i;
  if (j < 0 || j >= rank_)
    throw ShapeError(fmt::format("shape: index {} out of range for {}", i, str()));
  return dims_[j];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[i] < 0) return -1;
    n *= dims_[i];
  }
  return n;
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
    s += dims_[i] < 0 ? std::string("?") : std::to_string(dims_[i]);
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
