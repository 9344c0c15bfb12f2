// The op registry, attributes and the shared parts of type inference.
#include <duet/graph/op_def.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace duet {

// ---- Attrs -----------------------------------------------------------------------

Attrs& Attrs::set(std::string name, AttrValue v) {
  for (auto& [k, val] : items_)
    if (k == name) { val = std::move(v); return *this; }
  items_.emplace_back(std::move(name), std::move(v));
  return *this;
}

const AttrValue* Attrs::find(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (k == name) return &v;
  return nullptr;
}

const AttrValue& Attrs::get(std::string_view name) const {
  const AttrValue* v = find(name);
  DUET_CHECK(v != nullptr, fmt::format("missing attribute '{}'", name));
  return *v;
}

template <class T>
static const T& get_as(const AttrValue& v, std::string_view name) {
  const T* p = std::get_if<T>(&v);
  DUET_CHECK(p != nullptr, fmt::format("attribute '{}' has another kind", name));
  return *p;
}

bool Attrs::get_bool(std::string_view n) const { return get_as<bool>(get(n), n); }
int64_t Attrs::get_int(std::string_view n) const { return get_as<int64_t>(get(n), n); }
double Attrs::get_float(std::string_view n) const { return get_as<double>(get(n), n); }
DType Attrs::get_dtype(std::string_view n) const { return get_as<DType>(get(n), n); }
const std::string& Attrs::get_string(std::string_view n) const { return get_as<std::string>(get(n), n); }
const std::vector<int64_t>& Attrs::get_ints(std::string_view n) const {
  return get_as<std::vector<int64_t>>(get(n), n);
}

bool Dense::operator==(const Dense& o) const {
  if (data == o.data) return true;
  if (!data || !o.data) return false;
  return data->dtype == o.data->dtype && data->shape == o.data->shape && data->bytes == o.data->bytes;
}

const Dense& Attrs::get_dense(std::string_view n) const { return get_as<Dense>(get(n), n); }

std::string format_real(double d) {
  if (d != d) return "nan";
  if (d == std::numeric_limits<double>::infinity()) return "inf";
  if (d == -std::numeric_limits<double>::infinity()) return "-inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // stays a real when parsed back
  return s;
}

std::string quote_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + "\"";
}

static std::string dense_str(const Dense& d) {
  if (!d.data) return "dense<>";
  const DenseData& v = *d.data;
  int64_t n = v.shape.numel();
  // A splat (every element the same bits) prints as its one element, as in MLIR.
  const size_t width = dtype_size(v.dtype);
  bool splat = n > 1;
  for (int64_t i = 1; splat && i < n; ++i) splat = std::memcmp(v.bytes.data(), v.bytes.data() + i * width, width) == 0;
  if (splat) n = 1;
  std::string s = "dense<";
  for (int64_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    const uint8_t* p = v.bytes.data();
    switch (v.dtype) {
      case DType::b8: s += p[i] ? "true" : "false"; break;
      case DType::i32: s += std::to_string(reinterpret_cast<const int32_t*>(p)[i]); break;
      case DType::i64: s += std::to_string(reinterpret_cast<const int64_t*>(p)[i]); break;
      case DType::f32: {
        float f = reinterpret_cast<const float*>(p)[i];
        std::string t = f != f ? "nan" : fmt::format("{}", f);
        if (t.find_first_of(".ein") == std::string::npos) t += ".0";
        s += t;
        break;
      }
      case DType::f64: s += format_real(reinterpret_cast<const double*>(p)[i]); break;
    }
  }
  return s + ">";
}

std::string format_attr_value(const AttrValue& v) {
  struct {
    std::string operator()(bool b) { return b ? "true" : "false"; }
    std::string operator()(int64_t i) { return std::to_string(i); }
    std::string operator()(double d) { return format_real(d); }
    std::string operator()(const std::string& s) { return quote_string(s); }
    std::string operator()(DType t) { return dtype_name(t); }
    std::string operator()(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); }
    std::string operator()(const Dense& d) { return dense_str(d); }
  } visitor;
  return std::visit(visitor, v);
}

std::string Attrs::str() const {
  if (items_.empty()) return "";
  std::string s = "{";
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i) s += ", ";
    s += items_[i].first + "=" + format_attr_value(items_[i].second);
  }
  return s + "}";
}

// ---- errors and inference helpers ----------------------------------------------

std::string format_error(std::string_view op, const std::string& what, SrcLoc loc) {
  if (loc.known()) return fmt::format("{}: {} ({})", op, what, loc.str());
  return fmt::format("{}: {}", op, what);
}

std::string InferContext::operand_types() const {
  std::string s;
  for (int i = 0; i < num_inputs_; ++i) {
    if (i) s += ", ";
    s += inputs_[i]->str();
  }
  return s;
}

std::string InferContext::message(const std::string& what) const {
  return format_error(op_.name(), what, loc_);
}
void InferContext::shape_error(const std::string& what) const { throw ShapeError(message(what)); }
void InferContext::dtype_error(const std::string& what) const { throw DTypeError(message(what)); }
void InferContext::error(const std::string& what) const { throw Error(message(what)); }

int InferContext::normalize_axis(int64_t axis, int rank) const {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max(rank, 1) || (rank == 0 && a != 0))
    error(fmt::format("axis {} is out of range for rank {} ({})", axis, rank, operand_types()));
  return static_cast<int>(a);
}

// ---- OpDef and the registry ----------------------------------------------------

OpDef::OpDef(std::string name) : name_(std::move(name)) {}

void OpDef::run_infer(InferContext& ctx) const {
  if (num_operands_ >= 0 && ctx.num_inputs() != num_operands_)
    ctx.error(fmt::format("expects {} operands, got {}", num_operands_, ctx.num_inputs()));
  DUET_CHECK(infer_ != nullptr, "op " + name_ + " has no infer function");
  infer_(ctx);
  // NOTE [Result sizes]: every result type of every op, checked once here
  // before anything is allocated (a user's custom op too).
  for (int i = 0; i < static_cast<int>(ctx.results.size()); ++i) {
    if (checked_bytes(ctx.results[i]) >= 0) continue;  // a static type that fits: the eager case, no string made
    if (std::string problem = type_size_problem(ctx.results[i], /*allow_dynamic=*/true); !problem.empty())
      ctx.shape_error(ctx.num_inputs() ? fmt::format("the result {} (operands {})", problem, ctx.operand_types())
                                       : "the result " + problem);
  }
}

OpRegistry& OpRegistry::get() {
  static OpRegistry* registry = new OpRegistry;  // never destroyed: used by static destructors
  return *registry;
}

OpDef& OpRegistry::add(std::string name) {
  DUET_CHECK(find(name) == nullptr, "op registered twice: " + name);
  auto* op = new OpDef(std::move(name));
  op->id_ = static_cast<int>(ops_.size());
  ops_.push_back(op);
  return *op;
}

const OpDef* OpRegistry::find(std::string_view name) const {
  for (const OpDef* op : ops_)
    if (op->name() == name) return op;
  return nullptr;
}

static size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string OpRegistry::closest(std::string_view name) const {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const OpDef* op : ops_) {
    size_t d = edit_distance(name, op->name());
    if (d < best_d) { best_d = d; best = op->name(); }
  }
  return best;
}

const OpDef& op_def(std::string_view name) {
  const OpDef* op = OpRegistry::get().find(name);
  if (!op)
    throw Error(fmt::format("unknown op '{}' (did you mean '{}'?)", name, OpRegistry::get().closest(name)));
  return *op;
}

}  // namespace duet
