// libFuzzer harness: the public eager API (DESIGN.md §1) called with
// arbitrary shapes, dtypes, values and attributes. The input is decoded into
// a short program of op calls (NOTE [fuzz_ops input]); each call must give a
// valid result or throw a duet::Error. A finding is a crash, a sanitizer
// report, any other exception, or one of the checks below failing: it prints
// the program so far as C++ and aborts.
#include "fuzz_ops.h"

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
//            depth 0 is refused outright since issue 19); skipping `labels`
//            skips these too.
// Memory stays bounded: a call whose result would have more than
// kMaxElements elements but within 2^48 bytes (a legitimate allocation), or
// a matmul/conv over kMaxWork multiply-adds, is not made.

namespace fuzz_ops {

using namespace duet;

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

}  // namespace fuzz_ops

using fuzz_ops::Program;
using fuzz_ops::Reader;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  duet::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Program(Reader(data, size)).run();
  return 0;
}
