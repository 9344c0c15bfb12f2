// libFuzzer harness: the public eager API (DESIGN.md §1) called with
// arbitrary shapes, dtypes, values and attributes. The input is decoded into
// a short program of op calls (NOTE [fuzz_ops input]); each call must give a
// valid result or throw a duet::Error. A finding is a crash, a sanitizer
// report, any other exception, or one of the checks below failing: it prints
// the program so far as C++ and aborts.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <typeinfo>
#include <vector>

#include <duet/duet.h>

// NOTE [fuzz_ops input]
// A byte string, read front to back; reading past its end gives zeros. It is
// at most kMaxSteps instructions, each an opcode byte (modulo kNumOps, the
// order of enum Op) and its operands:
//   slot    a byte: the pool tensor (byte % pool size). The pool holds the
//           last 8 results kept (the k-th kept result is slot k % 8);
//           results over kMaxElements elements are not kept. An op that
//           needs a tensor while the pool is empty is skipped.
//   dtype   a byte % 5: b8, i32, i64, f32, f64.
//   dim     a byte: < 0xC0: 0..7 (byte & 7); 0xC0..0xDF: 8..39;
//           0xE0..0xFE: kSpecialDims (negative, int32/int64 edges, huge);
//           0xFF: the next 8 bytes, a little-endian int64.
//   shape   a byte h: h >= 0xF8: the shape of slot h & 7; else rank h % 10
//           (9 exceeds the maximum rank) and that many dims.
//   int     a byte as int8 (axes, begin/end, stride, padding, kernel);
//           -128: a dim follows instead (the huge values).
//   value   a byte: < 0xC0: an integer -8..23; 0xC0..0xDF: (byte - 0xD0) / 4;
//           0xE0..0xFE: kSpecialValues (NaN, infinities, int edges, ...);
//           0xFF: the next 8 bytes, the bits of a double.
//   operand a byte k: k % 8 < 4: a slot follows; 4: a float scalar (value);
//           5: an int; 6: an int64_t; 7: a bool (a byte & 1).
// tools/fuzz/make_seeds writes seeds in this format (its OPS list mirrors
// enum Op); DUET_FUZZ_OPS_PRINT=1 prints each decoded call as C++.
//
// Checks, each named so that a run can skip one whose finding is known and
// being fixed (DUET_FUZZ_OPS_SKIP=labels,dims):
//   results  every result: defined, rank <= 8, dims >= 0, numel equal to
//            the product of the dims (no overflow), at most 2^48 bytes
//            (NOTE [Result sizes]); creation and broadcasts: the shape asked.
//   sizes    creation and broadcast_to/one_hot/conv2d_backward_* of a shape
//            whose element count overflows int64 or takes more than 2^48
//            bytes must throw (and must not allocate: a sanitizer or
//            libFuzzer's malloc limit reports an attempt).
//   dims     a negative dim (or -1) or a rank over 8 in a shape argument of
//            those ops must throw; reshape may take one -1, no other
//            negative dim; conv2d_backward_* must throw unless x, w and dy
//            are the shapes of a convolution (conv2d(x, w) has dy's shape).
//   labels   one_hot, gather, scatter_add and sparse_softmax_cross_entropy
//            must throw on a label or index outside [0, n).
//   empty-labels  the same where the result has no elements (one_hot of
//            depth 0); skipping `labels` skips these too.
// Memory stays bounded: a call whose result would have more than
// kMaxElements elements but within 2^48 bytes (a legitimate allocation), or
// a matmul/conv over kMaxWork multiply-adds, is not made.

namespace {

using namespace duet;

constexpr int kMaxSteps = 24;
constexpr int kPoolSize = 8;
constexpr int64_t kMaxElements = int64_t(1) << 16;
constexpr int64_t kMaxWork = int64_t(1) << 24;
constexpr int64_t kMaxBytes = int64_t(1) << 48;  // kMaxTensorBytes
constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();

constexpr int64_t kSpecialDims[31] = {
    -1, -2, -3, -1000, kMin, kMin + 1, kMax, kMax - 1, int64_t(1) << 31, (int64_t(1) << 31) - 1,
    int64_t(1) << 32, (int64_t(1) << 32) + 1, int64_t(1) << 40, int64_t(1) << 46, int64_t(1) << 47,
    int64_t(1) << 48, int64_t(1) << 61, int64_t(1) << 62, 3037000499, 3037000500, int64_t(1) << 20,
    int64_t(1) << 21, int64_t(1) << 24, int64_t(1) << 30, 65535, 65536, 65537, 100, 128, 255, 256};
const double kSpecialValues[31] = {
    NAN, INFINITY, -INFINITY, -0.0, 1e30, -1e30, 1e-310, 1e-45, 3.4e38, 1.7e308, 2147483647.0, 2147483648.0,
    -2147483648.0, -2147483649.0, 4294967296.0, 9.2233720368547758e18, -9.2233720368547758e18, 1e19, 0.5, -0.5,
    1e-8, 88.8, -88.8, 710, -745, 1e6, 255, 256, 65536, 16777217, 9007199254740993.0};

enum class Op : uint8_t {
  zeros, ones, full, randn, rand, from_vector, arange, eye, scalar, reshape, broadcast_to, concat, slice, gather,
  one_hot, transpose, expand_dims, squeeze, unary, binary, reduce, argmax, softmax, matmul, conv2d, max_pool2d,
  cross_entropy, mean_squared_error, cast, where, read, dropout, scatter_add, conv2d_backward_input,
  conv2d_backward_filter, max_pool2d_backward, filled_like, broadcast_like,
  count_  // kNumOps
};
constexpr int kNumOps = static_cast<int>(Op::count_);

// ---- checks -------------------------------------------------------------------------

enum Check : unsigned { kResults = 1, kSizes = 2, kDims = 4, kLabels = 8, kEmptyLabels = 16 };

unsigned enabled_checks() {
  static const unsigned checks = [] {
    unsigned c = kResults | kSizes | kDims | kLabels | kEmptyLabels;
    const char* skip = std::getenv("DUET_FUZZ_OPS_SKIP");
    const std::string list = std::string(",") + (skip ? skip : "") + ",";
    const std::pair<const char*, unsigned> names[] = {{"results", kResults}, {"sizes", kSizes},
                                                      {"dims", kDims},       {"labels", kLabels | kEmptyLabels},
                                                      {"empty-labels", kEmptyLabels}};
    for (const auto& [name, bits] : names)
      if (list.find(std::string(",") + name + ",") != std::string::npos) c &= ~bits;
    return c;
  }();
  return checks;
}
bool print_mode() {
  static const bool on = [] { const char* p = std::getenv("DUET_FUZZ_OPS_PRINT"); return p && *p && *p != '0'; }();
  return on;
}

// The exact element count of dims: negative when a dim is, saturated far
// above int64 otherwise.
struct Count {
  bool negative = false;
  __int128 n = 1;
};
Count count_of(const std::vector<int64_t>& dims) {
  Count c;
  for (int64_t d : dims)
    if (d < 0) c.negative = true;
  if (c.negative) return c;
  for (int64_t d : dims) {
    if (d == 0) { c.n = 0; return c; }
  }
  const __int128 cap = __int128(1) << 100;
  for (int64_t d : dims) c.n = c.n > cap / d ? cap : c.n * d;
  return c;
}

// What a call whose result has these dims should do.
enum class Expect { call, refuse, error };
struct Verdict {
  Expect expect = Expect::call;
  Check check = kResults;  // the check an error belongs to
  std::string why;
};
Verdict judge(const std::vector<int64_t>& dims, DType dtype, bool dims_are_argument) {
  if (dims.size() > size_t(Shape::kMaxRank))
    return {Expect::error, kDims, "rank " + std::to_string(dims.size()) + " exceeds the maximum rank 8"};
  Count c = count_of(dims);
  if (c.negative) {
    if (dims_are_argument) return {Expect::error, kDims, "a dim is negative"};
    return {Expect::call, kResults, ""};
  }
  if (c.n == 0) return {};
  if (c.n * __int128(dtype_size(dtype)) > kMaxBytes)
    return {Expect::error, kSizes,
            c.n > kMax ? "the element count overflows int64" : "the result takes more than 2^48 bytes"};
  if (c.n > kMaxElements) return {Expect::refuse, kResults, ""};
  return {};
}

// The same for a result whose dims are predicted, not asked for, and whose
// dtype may be any: only over-large results are not asked for (the results
// check covers the rest, and an error is due beyond 2^48 elements).
Verdict judge_result(const std::vector<int64_t>& dims) {
  Count c = count_of(dims);
  if (!c.negative && c.n > kMaxElements && c.n <= kMaxBytes) return {Expect::refuse, kResults, ""};
  return {};
}

// ---- the program text ---------------------------------------------------------------

std::string int_text(int64_t v) {
  if (v == kMin) return "INT64_MIN";
  if (v == kMax) return "INT64_MAX";
  return std::to_string(v);
}
std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + int_text(dims[i]);
  return s + "}";
}
std::string double_text(double v) {
  if (std::isnan(v)) return "NAN";
  if (std::isinf(v)) return v > 0 ? "INFINITY" : "-INFINITY";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
std::string dtype_text(DType d) { return std::string("DType::") + dtype_name(d); }

// ---- decoding -----------------------------------------------------------------------

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(byte()) << (8 * i);
    return v;
  }
  DType dtype() { return static_cast<DType>(byte() % kNumDTypes); }
  int64_t dim() {
    uint8_t b = byte();
    if (b < 0xC0) return b & 7;
    if (b < 0xE0) return b - 0xC0 + 8;
    if (b < 0xFF) return kSpecialDims[b - 0xE0];
    return static_cast<int64_t>(u64());
  }
  int64_t integer() {
    int8_t b = static_cast<int8_t>(byte());
    return b == -128 ? dim() : b;
  }
  double value() {
    uint8_t b = byte();
    if (b < 0xC0) return double(int(b % 32) - 8);
    if (b < 0xE0) return (int(b) - 0xD0) / 4.0;
    if (b < 0xFF) return kSpecialValues[b - 0xE0];
    uint64_t bits = u64();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

int64_t saturate_to_int64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return kMax;
  if (v <= -9.2233720368547758e18) return kMin;
  return static_cast<int64_t>(v);
}
int saturate_to_int(double v) {
  int64_t i = saturate_to_int64(v);
  return static_cast<int>(i < INT32_MIN ? INT32_MIN : i > INT32_MAX ? INT32_MAX : i);
}

std::vector<int64_t> dims_of(const Tensor& t) { return std::vector<int64_t>(t.shape().begin(), t.shape().end()); }

// numpy's broadcast of several shapes; false when they do not broadcast.
bool broadcast_dims(const std::vector<std::vector<int64_t>>& shapes, std::vector<int64_t>* out) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  out->assign(rank, 1);
  for (const auto& s : shapes)
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = (*out)[rank - s.size() + i];
      int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o != 1) return false;
      o = d;
    }
  return true;
}

// A pool tensor and its name in the program text; undefined when the pool
// was empty. Held by value: a call may replace the pool's entry.
struct Slot {
  Tensor t;
  std::string name;
  explicit operator bool() const { return t.defined(); }
};

// One input's program: decodes and runs each call, keeps results, checks.
class Program {
 public:
  explicit Program(Reader in) : in_(in) {}

  void run() {
    for (int step = 0; step < kMaxSteps && !in_.done(); ++step) one_call(static_cast<Op>(in_.byte() % kNumOps));
  }

 private:
  [[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz_ops: FINDING: %s\n--- the program (C++)\n%s--- end\n", what.c_str(), text_.c_str());
    std::abort();
  }

  // A pool tensor, or an empty Slot when the pool is empty (the op is skipped).
  Slot slot() {
    uint8_t b = in_.byte();
    return pool_.empty() ? Slot{} : pool_[b % pool_.size()];
  }
  std::vector<int64_t> shape() {
    uint8_t h = in_.byte();
    if (h >= 0xF8) return pool_.empty() ? std::vector<int64_t>{} : dims_of(pool_[(h & 7) % pool_.size()].t);
    std::vector<int64_t> dims(h % 10);
    for (int64_t& d : dims) d = in_.dim();
    return dims;
  }

  // An operand of a binary op or where: a tensor or a C++ scalar.
  struct Arg {
    bool is_tensor = false;
    Tensor t;
    std::string text;
    double v = 0;
    int kind = 0;  // 4 float, 5 int, 6 int64_t, 7 bool
    Operand operand(Loc loc = Loc::current()) const {
      switch (kind) {
        case 4: return Operand(static_cast<float>(v), loc);
        case 5: return Operand(saturate_to_int(v), loc);
        case 6: return Operand(saturate_to_int64(v), loc);
        case 7: return Operand(v != 0, loc);
        default: return Operand(t, loc);
      }
    }
    std::vector<int64_t> dims() const { return is_tensor ? dims_of(t) : std::vector<int64_t>{}; }
  };
  bool arg(Arg* a) {
    int k = in_.byte() % 8;
    if (k < 4) {
      Slot s = slot();
      if (!s) return false;
      a->is_tensor = true, a->t = s.t, a->text = s.name;
      return true;
    }
    a->kind = k;
    if (k == 7) {
      a->v = in_.byte() & 1;
      a->text = a->v ? "true" : "false";
    } else {
      a->v = in_.value();
      if (k == 4) a->text = "float(" + double_text(a->v) + ")";
      else if (k == 5) a->text = std::to_string(saturate_to_int(a->v));
      else a->text = "int64_t(" + int_text(saturate_to_int64(a->v)) + ")";
    }
    return true;
  }

  // Runs one call. On a result: the checks, then the pool. `expected`, when
  // given, is the shape the result must have.
  template <class F>
  Tensor call(const std::string& text, const Verdict& v, F&& f, const std::vector<int64_t>* expected = nullptr) {
    if (v.expect == Expect::refuse) return {};
    const std::string name = "t" + std::to_string(names_++);
    const std::string line = "Tensor " + name + " = " + text + ";";
    text_ += line + "\n";
    if (print_mode()) std::fprintf(stderr, "%s\n", line.c_str());
    Tensor t;
    try {
      t = f();
    } catch (const Error& e) {
      if (print_mode()) std::fprintf(stderr, "  // -> %s\n", e.what());
      text_ += "  // -> duet::Error: " + std::string(e.what()) + "\n";
      return {};
    } catch (const std::exception& e) {
      finding(std::string("an exception that is not a duet::Error (") + typeid(e).name() + "): " + e.what());
    } catch (...) {
      finding("an exception that is not a std::exception");
    }
    if (print_mode()) std::fprintf(stderr, "  // -> %s\n", t.defined() ? t.type().str().c_str() : "undefined");
    if (v.expect == Expect::error && (enabled_checks() & v.check))
      finding(text + " returned " + (t.defined() ? t.type().str() : "an undefined tensor") +
              " where an error is due: " + v.why);
    if (!valid(t, text, expected)) return {};
    if (t.numel() <= kMaxElements) {
      Slot s{t, name};
      if (pool_.size() < size_t(kPoolSize)) pool_.push_back(std::move(s));
      else pool_[kept_ % kPoolSize] = std::move(s);
      ++kept_;
    }
    return t;
  }

  // The results check; false (when it is skipped) for a result not to keep.
  bool valid(const Tensor& t, const std::string& text, const std::vector<int64_t>* expected) {
    std::string problem;
    if (!t.defined()) {
      problem = "an undefined tensor";
    } else {
      std::vector<int64_t> dims = dims_of(t);
      Count c = count_of(dims);
      if (t.rank() > Shape::kMaxRank || t.shape().excess_rank()) problem = "a rank over 8";
      else if (c.negative) problem = "a negative dim";
      else if (c.n > kMax || t.numel() != static_cast<int64_t>(c.n))
        problem = "numel() " + std::to_string(t.numel()) + " that is not the product of its dims";
      else if (c.n * __int128(dtype_size(t.dtype())) > kMaxBytes) problem = "more than 2^48 bytes";
      else if (!t.device().is_cpu()) problem = "a result on " + t.device().str();
      else if (expected && dims != *expected) problem = "a shape other than " + dims_text(*expected);
      if (!problem.empty()) problem = t.type().str() + ", " + problem;
    }
    if (problem.empty()) return true;
    if (enabled_checks() & kResults) finding(text + " returned " + problem);
    return false;
  }

  // The labels check: after `result = op(...)` returned, every index in
  // `indices` must have been in [0, n).
  void labels_in_range(const Tensor& result, const Tensor& indices, int64_t n, const char* op) {
    const unsigned check = result.numel() == 0 ? kEmptyLabels : kLabels;
    if (!(enabled_checks() & check) || !indices.defined() || !is_integral(indices.dtype())) return;
    for (int64_t i : indices.to_vector<int64_t>())
      if (i < 0 || i >= n)
        finding(std::string(op) + " returned " + result.type().str() + " for the index " + std::to_string(i) +
                " outside [0, " + std::to_string(n) + ")");
  }

  void one_call(Op op);
  void creation(Op op);
  void shape_op(Op op);
  void math_op(Op op);
  void nn_op(Op op);

  Reader in_;
  std::vector<Slot> pool_;
  std::string text_;
  int names_ = 0, kept_ = 0;
};

void Program::one_call(Op op) {
  switch (op) {
    case Op::zeros: case Op::ones: case Op::full: case Op::randn: case Op::rand: case Op::from_vector:
    case Op::arange: case Op::eye: case Op::scalar:
      return creation(op);
    case Op::reshape: case Op::broadcast_to: case Op::concat: case Op::slice: case Op::gather: case Op::one_hot:
    case Op::transpose: case Op::expand_dims: case Op::squeeze: case Op::broadcast_like: case Op::filled_like:
      return shape_op(op);
    case Op::unary: case Op::binary: case Op::reduce: case Op::argmax: case Op::softmax: case Op::cast:
    case Op::where: case Op::read: case Op::mean_squared_error: case Op::cross_entropy:
      return math_op(op);
    default:
      return nn_op(op);
  }
}

void Program::creation(Op op) {
  switch (op) {
    case Op::zeros: case Op::ones: {
      std::vector<int64_t> dims = shape();
      DType d = in_.dtype();
      const char* name = op == Op::zeros ? "zeros" : "ones";
      call(std::string(name) + "(" + dims_text(dims) + ", " + dtype_text(d) + ")", judge(dims, d, true),
           [&] { return op == Op::zeros ? zeros(dims, d) : ones(dims, d); }, &dims);
      return;
    }
    case Op::full: {
      std::vector<int64_t> dims = shape();
      double v = in_.value();
      DType d = in_.dtype();
      call("full(" + dims_text(dims) + ", " + double_text(v) + ", " + dtype_text(d) + ")", judge(dims, d, true),
           [&] { return full(dims, v, d); }, &dims);
      return;
    }
    case Op::randn: case Op::rand: {
      std::vector<int64_t> dims = shape();
      uint64_t seed = in_.byte();
      DType d = in_.dtype();
      const char* name = op == Op::randn ? "randn" : "rand";
      call(std::string(name) + "(" + dims_text(dims) + ", " + std::to_string(seed) + ", " + dtype_text(d) + ")",
           judge(dims, d, true), [&] { return op == Op::randn ? randn(dims, seed, d) : rand(dims, seed, d); },
           &dims);
      return;
    }
    case Op::from_vector: {
      std::vector<int64_t> dims = shape();
      DType d = in_.dtype();
      // A count byte < 0x80: as many values as the shape holds (when it is
      // small); else byte & 0x7f values, which may not fill it.
      uint8_t m = in_.byte();
      Verdict v = judge(dims, d, true);
      Count c = count_of(dims);
      size_t n = m < 0x80 && !c.negative && c.n <= kMaxElements ? size_t(c.n) : size_t(m & 0x7f);
      if (v.expect == Expect::call && (c.negative || __int128(n) != c.n))
        v = {Expect::error, kSizes, std::to_string(n) + " values for the shape " + dims_text(dims)};
      std::vector<double> values(n);
      std::string list = "{";
      for (size_t i = 0; i < n; ++i) {
        values[i] = in_.value();
        if (i >= 16) continue;
        list += i ? ", " : "";
        if (d == DType::b8) list += values[i] != 0 ? "true" : "false";
        else if (d == DType::i32) list += std::to_string(saturate_to_int(values[i]));
        else if (d == DType::i64) list += int_text(saturate_to_int64(values[i]));
        else list += double_text(values[i]);
      }
      list += n > 16 ? ", ...}" : "}";
      auto make = [&]<class T>(T) {
        std::vector<T> typed(n);
        for (size_t i = 0; i < n; ++i) {
          if constexpr (std::is_same_v<T, bool>) typed[i] = values[i] != 0;
          else if constexpr (std::is_same_v<T, int32_t>) typed[i] = saturate_to_int(values[i]);
          else if constexpr (std::is_same_v<T, int64_t>) typed[i] = saturate_to_int64(values[i]);
          else typed[i] = static_cast<T>(values[i]);
        }
        return from_vector(typed, dims);
      };
      const char* type = d == DType::b8 ? "bool" : d == DType::i32 ? "int32_t" : d == DType::i64 ? "int64_t"
                         : d == DType::f32 ? "float" : "double";
      call(std::string("from_vector(std::vector<") + type + ">" + list + ", " + dims_text(dims) + ")", v, [&] {
        switch (d) {
          case DType::b8: return make(bool{});
          case DType::i32: return make(int32_t{});
          case DType::i64: return make(int64_t{});
          case DType::f32: return make(float{});
          default: return make(double{});
        }
      }, &dims);
      return;
    }
    case Op::arange: case Op::eye: {
      int64_t n = in_.dim();
      DType d = in_.dtype();
      std::vector<int64_t> dims = op == Op::arange ? std::vector<int64_t>{n} : std::vector<int64_t>{n, n};
      const char* name = op == Op::arange ? "arange" : "eye";
      call(std::string(name) + "(" + int_text(n) + ", " + dtype_text(d) + ")", judge(dims, d, true),
           [&] { return op == Op::arange ? arange(n, d) : eye(n, d); }, &dims);
      return;
    }
    default: {  // scalar
      double v = in_.value();
      DType d = in_.dtype();
      std::vector<int64_t> dims;
      call("scalar(" + double_text(v) + ", " + dtype_text(d) + ")", Verdict{}, [&] { return scalar(v, d); }, &dims);
      return;
    }
  }
}

void Program::shape_op(Op op) {
  switch (op) {
    case Op::reshape: {
      Slot a = slot();
      std::vector<int64_t> dims = shape();
      if (!a) return;
      // A view of the same elements: nothing is allocated, so any dims go.
      Verdict v;
      int unknown = 0;
      for (int64_t d : dims) unknown += d == -1;
      for (int64_t d : dims)
        if (d < -1) v = {Expect::error, kDims, "a dim below -1"};
      if (unknown > 1) v = {Expect::error, kDims, "more than one -1"};
      if (dims.size() > size_t(Shape::kMaxRank)) v = {Expect::error, kDims, "a rank over 8"};
      const Tensor& in = a.t;
      Tensor t = call("reshape(" + a.name + ", " + dims_text(dims) + ")", v, [&] { return reshape(in, dims); });
      if (t.defined() && t.numel() != in.numel() && (enabled_checks() & kResults))
        finding("reshape of " + in.type().str() + " to " + dims_text(dims) + " gave " + t.type().str());
      return;
    }
    case Op::broadcast_to: {
      Slot a = slot();
      std::vector<int64_t> dims = shape();
      if (!a) return;
      call("broadcast_to(" + a.name + ", " + dims_text(dims) + ")", judge(dims, a.t.dtype(), true),
           [&] { return broadcast_to(a.t, dims); }, &dims);
      return;
    }
    case Op::concat: {
      int n = in_.byte() % 5;
      std::vector<Tensor> parts;
      std::string list = "{";
      for (int i = 0; i < n; ++i) {
        Slot s = slot();
        if (!s) return;
        parts.push_back(s.t);
        list += (i ? ", " : "") + s.name;
      }
      int64_t axis = in_.integer();
      call("concat(" + list + "}, " + int_text(axis) + ")", Verdict{}, [&] { return concat(parts, axis); });
      return;
    }
    case Op::slice: {
      Slot a = slot();
      int64_t axis = in_.integer(), begin = in_.integer(), end = in_.integer();
      if (!a) return;
      call("slice(" + a.name + ", " + int_text(axis) + ", " + int_text(begin) + ", " + int_text(end) + ")",
           Verdict{}, [&] { return slice(a.t, axis, begin, end); });
      return;
    }
    case Op::gather: {
      Slot a = slot();
      Slot idx = slot();
      int64_t axis = in_.integer();
      if (!a || !idx) return;
      // The result: a's dims with the axis replaced by the indices' dims.
      std::vector<int64_t> adims = dims_of(a.t), dims;
      int64_t r = static_cast<int64_t>(adims.size());
      bool axis_ok = axis >= -r && axis < r;
      int64_t ax = axis < 0 ? axis + r : axis;
      if (axis_ok) {
        dims.assign(adims.begin(), adims.begin() + ax);
        for (int64_t d : dims_of(idx.t)) dims.push_back(d);
        dims.insert(dims.end(), adims.begin() + ax + 1, adims.end());
      }
      Verdict v = axis_ok ? judge_result(dims) : Verdict{};
      Tensor t = call("gather(" + a.name + ", " + idx.name + ", " + int_text(axis) + ")", v,
           [&] { return gather(a.t, idx.t, axis); });
      if (t.defined() && axis_ok) labels_in_range(t, idx.t, adims[ax], "gather");
      return;
    }
    case Op::one_hot: {
      Slot labels = slot();
      int64_t depth = in_.dim();
      if (!labels) return;
      std::vector<int64_t> dims = dims_of(labels.t);
      dims.push_back(depth);
      Verdict v = judge(dims, DType::f32, true);
      Tensor t = call("one_hot(" + labels.name + ", " + int_text(depth) + ")", v, [&] { return one_hot(labels.t, depth); },
           &dims);
      if (t.defined()) labels_in_range(t, labels.t, depth, "one_hot");
      return;
    }
    case Op::transpose: {
      Slot a = slot();
      std::vector<int64_t> perm(in_.byte() % 10);
      for (int64_t& p : perm) p = in_.integer();
      if (!a) return;
      call("transpose(" + a.name + ", " + dims_text(perm) + ")", Verdict{}, [&] { return transpose(a.t, perm); });
      return;
    }
    case Op::expand_dims: {
      Slot a = slot();
      int64_t axis = in_.integer();
      if (!a) return;
      call("expand_dims(" + a.name + ", " + int_text(axis) + ")", Verdict{}, [&] { return expand_dims(a.t, axis); });
      return;
    }
    case Op::squeeze: {
      Slot a = slot();
      std::vector<int64_t> axes(in_.byte() % 4);
      for (int64_t& x : axes) x = in_.integer();
      if (!a) return;
      call("squeeze(" + a.name + ", " + dims_text(axes) + ")", Verdict{}, [&] { return squeeze(a.t, axes); });
      return;
    }
    case Op::broadcast_like: {
      Slot a = slot();
      Slot b = slot();
      if (!a || !b) return;
      call("broadcast_like(" + a.name + ", " + b.name + ")", Verdict{}, [&] { return broadcast_like(a.t, b.t); });
      return;
    }
    default: {  // zeros_like, ones_like
      bool ones = in_.byte() & 1;
      Slot a = slot();
      if (!a) return;
      std::vector<int64_t> dims = dims_of(a.t);
      call(std::string(ones ? "ones_like(" : "zeros_like(") + a.name + ")", Verdict{},
           [&] { return ones ? ones_like(a.t) : zeros_like(a.t); }, &dims);
      return;
    }
  }
}

// Reductions and argmax: the dims left after the axes go (all when empty);
// false when an axis is out of range (an error is due; the call is made).
bool reduced_dims(const std::vector<int64_t>& in, const std::vector<int64_t>& axes, bool keepdims,
                  std::vector<int64_t>* out) {
  int64_t r = static_cast<int64_t>(in.size());
  std::vector<bool> gone(in.size(), axes.empty());
  for (int64_t a : axes) {
    if (a < -r || a >= r) return false;
    gone[a < 0 ? a + r : a] = true;
  }
  out->clear();
  for (size_t i = 0; i < in.size(); ++i)
    if (!gone[i]) out->push_back(in[i]);
    else if (keepdims) out->push_back(1);
  return true;
}

void Program::math_op(Op op) {
  switch (op) {
    case Op::unary: {
      static const char* const names[] = {"neg", "abs", "square", "exp", "log", "sqrt", "rsqrt",
                                          "tanh", "sigmoid", "relu", "gelu", "erf", "logical_not"};
      using F = Tensor (*)(const Tensor&, Loc);
      static const F fns[] = {neg, abs, square, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, erf, logical_not};
      int k = in_.byte() % 13;
      Slot a = slot();
      if (!a) return;
      call(std::string(names[k]) + "(" + a.name + ")", Verdict{}, [&] { return fns[k](a.t, Loc::current()); });
      return;
    }
    case Op::binary: {
      static const char* const names[] = {"add", "sub", "mul", "div", "mod", "pow", "maximum", "minimum",
                                          "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
                                          "logical_and", "logical_or"};
      using F = Tensor (*)(const Operand&, const Operand&);
      static const F fns[] = {add, sub, mul, div, mod, pow, maximum, minimum, less, less_equal, greater,
                              greater_equal, equal, not_equal, logical_and, logical_or};
      int k = in_.byte() % 16;
      Arg a, b;
      if (!arg(&a) || !arg(&b)) return;
      std::vector<int64_t> dims;
      Verdict v = broadcast_dims({a.dims(), b.dims()}, &dims) ? judge_result(dims) : Verdict{};
      call(std::string(names[k]) + "(" + a.text + ", " + b.text + ")", v,
           [&] { return fns[k](a.operand(), b.operand()); });
      return;
    }
    case Op::reduce: {
      static const char* const names[] = {"sum", "mean", "max", "min"};
      using F = Tensor (*)(const Tensor&, const Axes&, bool, Loc);
      static const F fns[] = {sum, mean, max, min};
      int k = in_.byte() % 4;
      Slot a = slot();
      std::vector<int64_t> axes(in_.byte() % 5);
      for (int64_t& x : axes) x = in_.integer();
      bool keepdims = in_.byte() & 1;
      if (!a) return;
      std::vector<int64_t> dims;
      Verdict v = reduced_dims(dims_of(a.t), axes, keepdims, &dims) ? judge_result(dims) : Verdict{};
      call(std::string(names[k]) + "(" + a.name + ", " + dims_text(axes) + ", " + (keepdims ? "true" : "false") + ")",
           v, [&] { return fns[k](a.t, axes, keepdims, Loc::current()); });
      return;
    }
    case Op::argmax: {
      Slot a = slot();
      int64_t axis = in_.integer();
      if (!a) return;
      std::vector<int64_t> dims;
      Verdict v = reduced_dims(dims_of(a.t), {axis}, false, &dims) ? judge_result(dims) : Verdict{};
      call("argmax(" + a.name + ", " + int_text(axis) + ")", v, [&] { return argmax(a.t, axis); });
      return;
    }
    case Op::softmax: {
      bool is_log = in_.byte() & 1;
      Slot a = slot();
      int64_t axis = in_.integer();
      if (!a) return;
      call(std::string(is_log ? "log_softmax(" : "softmax(") + a.name + ", " + int_text(axis) + ")", Verdict{},
           [&] { return is_log ? log_softmax(a.t, axis) : softmax(a.t, axis); });
      return;
    }
    case Op::cast: {
      Slot a = slot();
      DType d = in_.dtype();
      if (!a) return;
      call("cast(" + a.name + ", " + dtype_text(d) + ")", Verdict{}, [&] { return cast(a.t, d); });
      return;
    }
    case Op::where: {
      Slot c = slot();
      Arg a, b;
      if (!arg(&a) || !arg(&b) || !c) return;
      std::vector<int64_t> dims;
      Verdict v = broadcast_dims({dims_of(c.t), a.dims(), b.dims()}, &dims) ? judge_result(dims)
                                                                             : Verdict{};
      call("where(" + c.name + ", " + a.text + ", " + b.text + ")", v,
           [&] { return where(c.t, a.operand(), b.operand()); });
      return;
    }
    case Op::read: {
      int k = in_.byte() % 6;
      Slot a = slot();
      if (!a) return;
      static const char* const forms[] = {"item<double>", "item<int64_t>", "to_vector<double>",
                                          "to_vector<int32_t>", "to_string", "bool"};
      std::string text = std::string(forms[k]) + "(" + a.name + ")";
      text_ += text + ";\n";
      if (print_mode()) std::fprintf(stderr, "%s;\n", text.c_str());
      try {
        size_t n = a.t.numel();
        switch (k) {
          case 0: (void)a.t.item<double>(); break;
          case 1: (void)a.t.item<int64_t>(); break;
          case 2: n = a.t.to_vector<double>().size(); break;
          case 3: n = a.t.to_vector<int32_t>().size(); break;
          case 4: (void)to_string(a.t); break;
          default: (void)static_cast<bool>(a.t); break;
        }
        if (k < 2 || k == 5) n = 1;
        if (a.t.numel() != int64_t(n) && (enabled_checks() & kResults))
          finding(text + " gave " + std::to_string(n) + " values for " + a.t.type().str());
        if ((k < 2 || k == 5) && a.t.numel() != 1 && (enabled_checks() & kResults))
          finding(text + " read one value of " + a.t.type().str());
      } catch (const Error& e) {
        if (print_mode()) std::fprintf(stderr, "  // -> %s\n", e.what());
        text_ += "  // -> duet::Error: " + std::string(e.what()) + "\n";
      } catch (const std::exception& e) {
        finding(std::string("an exception that is not a duet::Error (") + typeid(e).name() + "): " + e.what());
      } catch (...) {
        finding("an exception that is not a std::exception");
      }
      return;
    }
    case Op::mean_squared_error: {
      Slot a = slot();
      Slot b = slot();
      if (!a || !b) return;
      call("losses::mean_squared_error(" + a.name + ", " + b.name + ")", Verdict{},
           [&] { return losses::mean_squared_error(a.t, b.t); });
      return;
    }
    default: {  // sparse_softmax_cross_entropy
      Slot labels = slot();
      Slot logits = slot();
      if (!labels || !logits) return;
      Tensor t = call("losses::sparse_softmax_cross_entropy(" + labels.name + ", " + logits.name + ")", Verdict{},
           [&] { return losses::sparse_softmax_cross_entropy(labels.t, logits.t); });
      if (t.defined() && logits.t.rank() == 2)
        labels_in_range(t, labels.t, logits.t.shape()[1], "sparse_softmax_cross_entropy");
      return;
    }
  }
}

// conv2d's output dims, from NCHW x and OIHW w; false when they do not make
// a convolution (an error is due; the call is made).
bool conv_dims(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int64_t stride, int64_t padding,
               std::vector<int64_t>* out) {
  if (x.size() != 4 || w.size() != 4 || stride <= 0 || padding < 0 || x[1] != w[1]) return false;
  __int128 h = (__int128(x[2]) + 2 * __int128(padding) - w[2]), wd = (__int128(x[3]) + 2 * __int128(padding) - w[3]);
  if (h < 0 || wd < 0) return false;
  h = h / stride + 1, wd = wd / stride + 1;
  if (h > kMax || wd > kMax) return false;
  *out = {x[0], w[0], static_cast<int64_t>(h), static_cast<int64_t>(wd)};
  return true;
}
__int128 elements(const std::vector<int64_t>& dims) { Count c = count_of(dims); return c.negative ? 0 : c.n; }

void Program::nn_op(Op op) {
  switch (op) {
    case Op::matmul: {
      Slot a = slot();
      Slot b = slot();
      if (!a || !b) return;
      std::vector<int64_t> ad = dims_of(a.t), bd = dims_of(b.t), dims;
      Verdict v;
      if (ad.size() >= 2 && bd.size() >= 2 &&
          broadcast_dims({{ad.begin(), ad.end() - 2}, {bd.begin(), bd.end() - 2}}, &dims)) {
        dims.push_back(ad[ad.size() - 2]);
        dims.push_back(bd.back());
        v = judge_result(dims);
        if (v.expect == Expect::call && elements(dims) * std::max<int64_t>(ad.back(), 1) > kMaxWork)
          v.expect = Expect::refuse;
      }
      call("matmul(" + a.name + ", " + b.name + ")", v, [&] { return matmul(a.t, b.t); });
      return;
    }
    case Op::conv2d: {
      Slot x = slot();
      Slot w = slot();
      int64_t stride = in_.integer(), padding = in_.integer();
      if (!x || !w) return;
      std::vector<int64_t> xd = dims_of(x.t), wd = dims_of(w.t), dims;
      Verdict v;
      if (conv_dims(xd, wd, stride, padding, &dims)) {
        v = judge_result(dims);
        if (v.expect == Expect::call && elements(dims) * elements({wd[1], wd[2], wd[3]}) > kMaxWork)
          v.expect = Expect::refuse;
      }
      call("conv2d(" + x.name + ", " + w.name + ", " + int_text(stride) + ", " + int_text(padding) + ")", v,
           [&] { return conv2d(x.t, w.t, stride, padding); });
      return;
    }
    case Op::max_pool2d: case Op::max_pool2d_backward: {
      Slot x = slot();
      Slot dy = op == Op::max_pool2d ? Slot{} : slot();
      int64_t kernel = in_.integer(), stride = in_.integer();
      if (!x || (op == Op::max_pool2d_backward && !dy)) return;
      // At most as many windows as x has elements, each kernel^2 reads.
      Verdict v;
      const __int128 k = std::min<__int128>(kernel < 0 ? -__int128(kernel) : kernel, 1 << 20);
      if (elements(dims_of(x.t)) * k * k > kMaxWork) v.expect = Expect::refuse;
      if (op == Op::max_pool2d)
        call("max_pool2d(" + x.name + ", " + int_text(kernel) + ", " + int_text(stride) + ")", v,
             [&] { return max_pool2d(x.t, kernel, stride); });
      else
        call("max_pool2d_backward(" + x.name + ", " + dy.name + ", " + int_text(kernel) + ", " + int_text(stride) +
                 ")", v, [&] { return max_pool2d_backward(x.t, dy.t, kernel, stride); });
      return;
    }
    case Op::conv2d_backward_input: case Op::conv2d_backward_filter: {
      Slot a = slot();  // dy, or x
      Slot b = slot();  // w, or dy
      std::vector<int64_t> dims = shape();
      int64_t stride = in_.integer(), padding = in_.integer();
      if (!a || !b) return;
      Verdict v = judge(dims, a.t.dtype(), true);
      if (v.expect == Expect::call && elements(dims_of(a.t)) * elements(dims_of(b.t)) > kMaxWork)
        v.expect = Expect::refuse;
      const bool input = op == Op::conv2d_backward_input;
      // The shapes must be those of a convolution: conv2d(x, w) gives dy.
      std::vector<int64_t> conv;
      const std::vector<int64_t> x = input ? dims : dims_of(a.t), w = input ? dims_of(b.t) : dims,
                                 dy = dims_of(input ? a.t : b.t);
      if (v.expect == Expect::call && !(conv_dims(x, w, stride, padding, &conv) && conv == dy))
        v = {Expect::error, kDims, "x " + dims_text(x) + ", w " + dims_text(w) + " and dy " + dims_text(dy) +
                                       " are not the shapes of a convolution with this stride and padding"};
      call(std::string(input ? "conv2d_backward_input(" : "conv2d_backward_filter(") + a.name + ", " + b.name +
               ", " + dims_text(dims) + ", " + int_text(stride) + ", " + int_text(padding) + ")",
           v, [&] {
             return input ? conv2d_backward_input(a.t, b.t, dims, stride, padding)
                          : conv2d_backward_filter(a.t, b.t, dims, stride, padding);
           }, &dims);
      return;
    }
    case Op::dropout: {
      Slot x = slot();
      double rate = in_.value() / 16;
      uint64_t seed = in_.byte();
      if (!x) return;
      call("dropout(" + x.name + ", " + double_text(rate) + ", " + std::to_string(seed) + ")", Verdict{},
           [&] { return dropout(x.t, rate, seed); });
      return;
    }
    default: {  // scatter_add
      Slot base = slot();
      Slot idx = slot();
      Slot updates = slot();
      int64_t axis = in_.integer();
      if (!base || !idx || !updates) return;
      std::vector<int64_t> dims = dims_of(base.t);
      int64_t r = base.t.rank();
      Tensor t = call("scatter_add(" + base.name + ", " + idx.name + ", " + updates.name + ", " + int_text(axis) + ")",
           Verdict{}, [&] { return scatter_add(base.t, idx.t, updates.t, axis); }, &dims);
      if (t.defined() && axis >= -r && axis < r) labels_in_range(t, idx.t, dims[axis < 0 ? axis + r : axis], "scatter_add");
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  duet::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Program(Reader(data, size)).run();
  return 0;
}
