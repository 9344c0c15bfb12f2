// The fuzz_ops harness's shared parts (tools/fuzz/fuzz_ops.cpp has the
// input format, NOTE [fuzz_ops input], and the checks): limits, the op list,
// the verdicts a call is judged by, the decoder, and the Program that runs
// one input's calls. The calls themselves: fuzz_ops.cpp (creation) and
// fuzz_ops_calls.cpp (shape, math and nn ops).
#pragma once

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

namespace fuzz_ops {

using namespace duet;

constexpr int kMaxSteps = 24;
constexpr int kPoolSize = 8;
constexpr int64_t kMaxElements = int64_t(1) << 16;
constexpr int64_t kMaxWork = int64_t(1) << 24;
constexpr int64_t kMaxBytes = int64_t(1) << 48;  // kMaxTensorBytes
constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();

inline constexpr int64_t kSpecialDims[31] = {
    -1, -2, -3, -1000, kMin, kMin + 1, kMax, kMax - 1, int64_t(1) << 31, (int64_t(1) << 31) - 1,
    int64_t(1) << 32, (int64_t(1) << 32) + 1, int64_t(1) << 40, int64_t(1) << 46, int64_t(1) << 47,
    int64_t(1) << 48, int64_t(1) << 61, int64_t(1) << 62, 3037000499, 3037000500, int64_t(1) << 20,
    int64_t(1) << 21, int64_t(1) << 24, int64_t(1) << 30, 65535, 65536, 65537, 100, 128, 255, 256};
inline constexpr double kSpecialValues[31] = {
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

inline unsigned enabled_checks() {
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
inline bool print_mode() {
  static const bool on = [] { const char* p = std::getenv("DUET_FUZZ_OPS_PRINT"); return p && *p && *p != '0'; }();
  return on;
}

// The exact element count of dims: negative when a dim is, saturated far
// above int64 otherwise.
struct Count {
  bool negative = false;
  __int128 n = 1;
};
inline Count count_of(const std::vector<int64_t>& dims) {
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
inline Verdict judge(const std::vector<int64_t>& dims, DType dtype, bool dims_are_argument) {
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
inline Verdict judge_result(const std::vector<int64_t>& dims) {
  Count c = count_of(dims);
  if (!c.negative && c.n > kMaxElements && c.n <= kMaxBytes) return {Expect::refuse, kResults, ""};
  return {};
}

// ---- the program text ---------------------------------------------------------------

inline std::string int_text(int64_t v) {
  if (v == kMin) return "INT64_MIN";
  if (v == kMax) return "INT64_MAX";
  return std::to_string(v);
}
inline std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + int_text(dims[i]);
  return s + "}";
}
inline std::string double_text(double v) {
  if (std::isnan(v)) return "NAN";
  if (std::isinf(v)) return v > 0 ? "INFINITY" : "-INFINITY";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
inline std::string dtype_text(DType d) { return std::string("DType::") + dtype_name(d); }

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

inline int64_t saturate_to_int64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return kMax;
  if (v <= -9.2233720368547758e18) return kMin;
  return static_cast<int64_t>(v);
}
inline int saturate_to_int(double v) {
  int64_t i = saturate_to_int64(v);
  return static_cast<int>(i < INT32_MIN ? INT32_MIN : i > INT32_MAX ? INT32_MAX : i);
}

inline std::vector<int64_t> dims_of(const Tensor& t) { return std::vector<int64_t>(t.shape().begin(), t.shape().end()); }

// numpy's broadcast of several shapes; false when they do not broadcast.
inline bool broadcast_dims(const std::vector<std::vector<int64_t>>& shapes, std::vector<int64_t>* out) {
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

}  // namespace fuzz_ops
