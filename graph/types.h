// Element types, shapes and tensor types: the vocabulary every layer shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <source_location>
#include <string>
#include <vector>

namespace duet {

// b8 < i32 < i64 < f32 < f64 is the promotion order (NOTE [Type promotion]).
enum class DType : uint8_t { b8, i32, i64, f32, f64 };
inline constexpr int kNumDTypes = 5;

const char* dtype_name(DType t);   // "f32"
size_t dtype_size(DType t);        // bytes per element
inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }
inline bool is_integral(DType t) { return t == DType::i32 || t == DType::i64; }
bool parse_dtype(const std::string& name, DType* out);
DType promote_types(DType a, DType b);  // the larger in the promotion order
std::ostream& operator<<(std::ostream& os, DType t);

template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::b8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };

// A shape: up to kMaxRank dims, stored inline (no heap). A dim of -1 is
// dynamic (IR only; tensors always have concrete shapes). Built from braced
// lists: Shape{} is rank 0. A list longer than kMaxRank makes a shape that
// remembers its length, so the op it is passed to reports the error with its
// name and the caller's line (check_shape_argument); reading its dims
// through vec() throws.
class Shape {
 public:
  static constexpr int kMaxRank = 8;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  Shape(const std::vector<int64_t>& dims);  // NOLINT: implicit by design
  template <class It>
  Shape(It first, It last) { for (; first != last; ++first) push_back(*first); }

  int rank() const { return rank_; }
  // Dims a braced list or vector gave beyond kMaxRank (0: none; the shape
  // then holds the first kMaxRank).
  int excess_rank() const { return excess_; }
  // An index as written at the call site: shape[i] out of range is a
  // ShapeError naming that line (a default argument of the converting
  // constructor is evaluated where the conversion happens, in the caller).
  struct Index {
    int i;
    std::source_location where;
    Index(int index, std::source_location w = std::source_location::current())  // NOLINT: implicit by design
        : i(index), where(w) {}
  };
  // Negative i counts from the end. Out of range is a ShapeError.
  int64_t operator[](Index i) const;
  int64_t& at(int i) { return dims_[i]; }
  int64_t dim(int i) const { return dims_[i]; }  // unchecked, i in [0, rank)
  int64_t numel() const;                          // 1 for rank 0; -1 if a dim is dynamic
  bool is_static() const;
  void push_back(int64_t d);
  const int64_t* begin() const { return dims_; }
  const int64_t* end() const { return dims_ + rank_; }
  std::vector<int64_t> vec() const;  // a ShapeError for a list longer than kMaxRank
  std::string str() const;  // "[2,3]", dynamic dims (-1) as "?", other dims as given

  bool operator==(const Shape& o) const;
  bool operator==(const std::vector<int64_t>& o) const;

 private:
  void push_list_dim(int64_t d);
  int64_t dims_[kMaxRank] = {};
  int8_t rank_ = 0;
  int32_t excess_ = 0;
};
std::ostream& operator<<(std::ostream& os, const Shape& s);

// A list of axes ({} means every axis where an op says so). Negative axes
// count from the end.
class Axes {
 public:
  Axes() = default;
  Axes(std::initializer_list<int64_t> axes) : v_(axes) {}
  Axes(const std::vector<int64_t>& axes) : v_(axes) {}  // NOLINT
  Axes(int axis) : v_{axis} {}                           // NOLINT: sum(x, 1)
  const std::vector<int64_t>& vec() const { return v_; }
  bool empty() const { return v_.empty(); }
  size_t size() const { return v_.size(); }

 private:
  std::vector<int64_t> v_;
};

// Where a tensor lives. Device::cpu(), Device::cuda(0).
struct Device {
  enum class Type : uint8_t { cpu, cuda };
  Type type = Type::cpu;
  int index = 0;
  static Device cpu() { return {Type::cpu, 0}; }
  static Device cuda(int index = 0) { return {Type::cuda, index}; }
  bool is_cpu() const { return type == Type::cpu; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  std::string str() const;  // "cpu", "cuda:0"
};
std::ostream& operator<<(std::ostream& os, const Device& d);

// The static type of a value: element type and shape. Prints as f32[2,3].
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;
  std::string str() const;
  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
};

// NOTE [Result sizes]: a tensor type may take at most kMaxTensorBytes
// (2^48 bytes, 256 TiB: more than any machine has, and far from int64's
// limits, so byte sums of a memory plan cannot overflow either). Element
// counts and byte sizes are computed with overflow checks everywhere a type
// is made: the IR parser, every op's inferred results (OpDef::run_infer),
// every creation function.
inline constexpr int64_t kMaxTensorBytes = int64_t(1) << 48;
// The element count of a static shape, or -1 when it overflows int64 (or a
// dim is negative).
int64_t checked_numel(const Shape& shape);
// The bytes a static type takes, or -1 when more than kMaxTensorBytes.
int64_t checked_bytes(const TensorType& type);
// Why `type` cannot be a value's type ("" when it can): a dim below -1, a
// dynamic dim where `allow_dynamic` is false, or more than kMaxTensorBytes.
std::string type_size_problem(const TensorType& type, bool allow_dynamic);

// The checks every op taking a shape argument makes first: the list fits
// kMaxRank, and every dim is >= 0 (or -1 where `allow_dynamic`). A
// ShapeError "op: dims must be >= 0, got [-3,2] (file:line)".
struct SrcLoc;
void check_shape_argument(const char* op, const Shape& shape, bool allow_dynamic, const SrcLoc& loc);

}  // namespace duet
