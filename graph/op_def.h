// OpDef: one op, defined once (DESIGN.md §2.1): name, traits, attribute
// schema, type inference with its error messages, and for elementwise ops the
// scalar semantics that the eager kernel and the code generators share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <duet/graph/error.h>
#include <duet/graph/scalar.h>
#include <duet/graph/small_vec.h>
#include <duet/graph/types.h>

namespace duet {

// ---- attributes --------------------------------------------------------------

// The elements of a constant: dtype, shape and row-major bytes. Shared, and
// compared by value (so cse merges equal constants).
struct DenseData {
  DType dtype = DType::f32;
  Shape shape;
  std::vector<uint8_t> bytes;
};
struct Dense {
  std::shared_ptr<const DenseData> data;
  bool operator==(const Dense& o) const;
};

using AttrValue = std::variant<bool, int64_t, double, std::string, DType, std::vector<int64_t>, Dense>;
enum class AttrKind : uint8_t { boolean, integer, real, string, dtype, ints, dense };

// Attributes of one node or call, in schema order. Prints as
// {axes=[1], keepdims=false}.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items) : items_(items) {}
  Attrs& set(std::string name, AttrValue v);
  bool has(std::string_view name) const { return find(name) != nullptr; }
  const AttrValue* find(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  double get_float(std::string_view name) const;
  DType get_dtype(std::string_view name) const;
  const std::string& get_string(std::string_view name) const;
  const std::vector<int64_t>& get_ints(std::string_view name) const;
  const Dense& get_dense(std::string_view name) const;
  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  std::string str() const;  // "" when empty
  bool operator==(const Attrs& o) const { return items_ == o.items_; }

 private:
  const AttrValue& get(std::string_view name) const;
  std::vector<std::pair<std::string, AttrValue>> items_;
};

// Text of one attribute value as the IR prints it; reals always carry a '.'
// or an exponent, strings are quoted with C escapes.
std::string format_attr_value(const AttrValue& v);
std::string format_real(double d);
std::string quote_string(const std::string& s);

// ---- type inference ------------------------------------------------------------

class OpDef;

// What infer sees: operand types, attributes, the caller's location; it
// appends result types. The fail helpers throw the right duet::Error with the
// message "op: what (file:line)".
class InferContext {
 public:
  InferContext(const OpDef& op, const TensorType* const* inputs, int num_inputs,
               const Attrs& attrs, SrcLoc loc)
      : op_(op), inputs_(inputs), num_inputs_(num_inputs), attrs_(attrs), loc_(loc) {}
  const OpDef& op() const { return op_; }
  int num_inputs() const { return num_inputs_; }
  const TensorType& in(int i) const { return *inputs_[i]; }
  const Attrs& attrs() const { return attrs_; }
  SrcLoc loc() const { return loc_; }
  void add_result(DType dtype, const Shape& shape) { results.push_back(TensorType{dtype, shape}); }

  // "f32[2,3], f32[4]": every operand's type, for messages.
  std::string operand_types() const;
  [[noreturn]] void shape_error(const std::string& what) const;
  [[noreturn]] void dtype_error(const std::string& what) const;
  [[noreturn]] void error(const std::string& what) const;
  // Normalizes a possibly negative axis against rank, or fails naming it.
  int normalize_axis(int64_t axis, int rank) const;

  SmallVec<TensorType, 2> results;

 private:
  std::string message(const std::string& what) const;
  const OpDef& op_;
  const TensorType* const* inputs_;
  int num_inputs_;
  const Attrs& attrs_;
  SrcLoc loc_;
};

using InferFn = void (*)(InferContext&);


// ---- the op definition -------------------------------------------------------

enum OpTrait : uint32_t {
  kPure = 1u << 0,
  kElementwise = 1u << 1,
  kReduction = 1u << 2,
  kSideEffecting = 1u << 3,
  kCommutative = 1u << 4,
  kView = 1u << 5,             // result 0 shares operand 0's storage (reshape)
  kNotDifferentiable = 1u << 6,
  kVariadic = 1u << 7,         // any number of operands (concat)
  kStructural = 1u << 8,       // run by the Program engine, not a kernel (constant, cond, while, fusion)
};

struct AttrSpec {
  std::string name;
  AttrKind kind;
  bool optional = false;  // may be left out (the op then has its default)
};

class OpDef {
 public:
  explicit OpDef(std::string name);

  // Builder facets, used once at registration.
  OpDef& traits(uint32_t t) { traits_ = t; return *this; }
  OpDef& operands(int n) { num_operands_ = n; return *this; }
  OpDef& attr(std::string name, AttrKind kind) { attrs_.push_back({std::move(name), kind}); return *this; }
  OpDef& optional_attr(std::string name, AttrKind kind) { attrs_.push_back({std::move(name), kind, true}); return *this; }
  OpDef& infer(InferFn fn) { infer_ = fn; return *this; }
  OpDef& scalar(ScalarOp s) { scalar_ = s; return *this; }
  OpDef& summary(std::string s) { summary_ = std::move(s); return *this; }

  const std::string& name() const { return name_; }
  int id() const { return id_; }
  uint32_t trait_bits() const { return traits_; }
  bool has(OpTrait t) const { return (traits_ & t) != 0; }
  int num_operands() const { return num_operands_; }  // -1 when variadic
  const std::vector<AttrSpec>& attr_specs() const { return attrs_; }
  ScalarOp scalar_op() const { return scalar_; }
  const std::string& summary_text() const { return summary_; }

  // Infers result types; throws the op's user error on bad operands.
  void run_infer(InferContext& ctx) const;

 private:
  friend class OpRegistry;
  std::string name_;
  int id_ = -1;
  uint32_t traits_ = kPure;
  int num_operands_ = 1;
  std::vector<AttrSpec> attrs_;
  InferFn infer_ = nullptr;
  ScalarOp scalar_ = ScalarOp::none;
  std::string summary_;
};

// The registry of every op, filled by static initialisers (DUET_OP).
class OpRegistry {
 public:
  static OpRegistry& get();
  OpDef& add(std::string name);
  const OpDef* find(std::string_view name) const;
  const std::vector<OpDef*>& all() const { return ops_; }
  // The registered name closest to `name` (for "unknown op" messages).
  std::string closest(std::string_view name) const;

 private:
  std::vector<OpDef*> ops_;
};

// The op named `name`; an Error naming the closest known op if none.
const OpDef& op_def(std::string_view name);

}  // namespace duet

#define DUET_OP_CONCAT2(a, b) a##b
#define DUET_OP_CONCAT(a, b) DUET_OP_CONCAT2(a, b)
// DUET_OP(exp).traits(...)...; registers at static-initialisation time.
#define DUET_OP(name) \
  static ::duet::OpDef& DUET_OP_CONCAT(duet_op_, __COUNTER__) = ::duet::OpRegistry::get().add(#name)
