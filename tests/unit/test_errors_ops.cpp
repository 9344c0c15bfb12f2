// Bad inputs to reductions, shape ops and nn ops: the error type, and a message naming op, types and line.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include "test_support.h"

#include <exception>
#include <string>
#include <vector>

using namespace duet;
using duet_test::message_of;

namespace {

// Checks "op: ... (test_errors_ops.cpp:line)" naming every operand type.
void check_message(const std::string& what, const std::string& op, const std::vector<std::string>& types, int line) {
  INFO("message: " << what);
  CHECK_THAT(what, Catch::StartsWith(op + ": "));
  for (const std::string& t : types) CHECK_THAT(what, Catch::Contains(t));
  CHECK_THAT(what, Catch::EndsWith("(test_errors_ops.cpp:" + std::to_string(line) + ")"));
}

}  // namespace

// ---- reductions ------------------------------------------------------------------

TEST_CASE("errors: reductions", "[errors][reduce]") {
  Tensor a = randn({2, 3}, 1);
  SECTION("sum: axis out of range") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)sum(a, {2}); });
    check_message(what, "sum", {"f32[2,3]"}, line);
    CHECK_THAT(what, Catch::Contains("axis 2"));
    line = __LINE__; what = message_of<Error>([&] { (void)sum(a, {-3}, true); });
    check_message(what, "sum", {"f32[2,3]"}, line);
  }
  SECTION("sum (method form): axis out of range") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)a.sum({4}); });
    check_message(what, "sum", {"f32[2,3]"}, line);
  }
  SECTION("sum: b8 input") {
    Tensor b = a > 0.f;
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)sum(b); });
    check_message(what, "sum", {"b8[2,3]"}, line);
  }
  SECTION("mean: integer input") {
    Tensor i = cast(a * 10.f, DType::i32);
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)mean(i, {0}); });
    check_message(what, "mean", {"i32[2,3]"}, line);
  }
  SECTION("max, min: the empty axis") {
    Tensor e = randn({3, 0}, 1);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)max(e, {1}); });
    check_message(what, "max", {"f32[3,0]"}, line);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)min(e); });
    check_message(what, "min", {"f32[3,0]"}, line);
  }
  SECTION("argmax: axis out of range") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)argmax(a, 2); });
    check_message(what, "argmax", {"f32[2,3]"}, line);
  }
  SECTION("softmax, log_softmax: integer input and bad axis") {
    Tensor i = tensor({int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}});
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)softmax(i); });
    check_message(what, "softmax", {"i64[4]"}, line);
    line = __LINE__; what = message_of<Error>([&] { (void)log_softmax(a, -3); });
    check_message(what, "log_softmax", {"f32[2,3]"}, line);
  }
  SECTION("one_hot: float labels") {
    Tensor f = tensor({0.f, 1.f, 2.f});
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)one_hot(f, 3); });
    check_message(what, "one_hot", {"f32[3]"}, line);
  }
  SECTION("a failed op leaves its input intact") {
    std::vector<float> before = a.to_vector<float>();
    CHECK_THROWS_AS(sum(a, {7}), Error);
    CHECK(a.to_vector<float>() == before);
    CHECK(sum(a).item<float>() == Approx(before[0] + before[1] + before[2] + before[3] + before[4] + before[5]));
  }
}

// ---- shape ops -------------------------------------------------------------------------

TEST_CASE("errors: shape ops", "[errors][shape]") {
  Tensor a = randn({2, 3}, 1);
  SECTION("reshape: a wrong element count") {
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)reshape(a, {4}); });
    check_message(what, "reshape", {"f32[2,3]"}, line);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)a.reshape({4, -1}); });
    check_message(what, "reshape", {"f32[2,3]"}, line);
  }
  SECTION("concat: different ranks") {
    Tensor v = randn({3}, 2);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)concat({a, v}, 0); });
    check_message(what, "concat", {"f32[2,3]", "f32[3]"}, line);
  }
  SECTION("concat: mismatched dims and dtypes") {
    Tensor b = randn({3, 4}, 2);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)concat({a, b}, 0); });
    check_message(what, "concat", {"f32[2,3]", "f32[3,4]"}, line);
    Tensor i = cast(a, DType::i32);
    line = __LINE__; what = message_of<DTypeError>([&] { (void)concat({a, i}, 1); });
    check_message(what, "concat", {"f32[2,3]", "i32[2,3]"}, line);
  }
  SECTION("transpose: bad perms and rank 1") {
    Tensor c = randn({2, 3, 4}, 3);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)transpose(c, {0, 1}); });
    check_message(what, "transpose", {"f32[2,3,4]"}, line);
    Tensor v = randn({5}, 4);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)transpose(v); });
    check_message(what, "transpose", {"f32[5]"}, line);
  }
  SECTION("squeeze: an axis that is not of size 1") {
    Tensor s = randn({1, 3}, 5);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)squeeze(s, {1}); });
    check_message(what, "squeeze", {"f32[1,3]"}, line);
  }
  SECTION("broadcast_to: shapes that do not broadcast") {
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)broadcast_to(a, {4, 3, 3}); });
    check_message(what, "broadcast_to", {"f32[2,3]", "[4,3,3]"}, line);
  }
  SECTION("expand_dims: axis out of range") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)expand_dims(a, 3); });
    check_message(what, "expand_dims", {"f32[2,3]"}, line);
  }
  SECTION("slice: rank 0 and a bad axis") {
    Tensor s = scalar(1.5f);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)slice(s, 0, 0, 1); });
    check_message(what, "slice", {"f32[]"}, line);
    line = __LINE__; what = message_of<Error>([&] { (void)slice(a, -3, 0, 1); });
    check_message(what, "slice", {"f32[2,3]"}, line);
  }
  SECTION("gather: an index out of range, float indices") {
    Tensor table = randn({4, 3}, 6);
    Tensor idx = tensor({0, 4});
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)gather(table, idx, 0); });
    check_message(what, "gather", {"f32[4,3]"}, line);
    CHECK_THAT(what, Catch::Contains("4"));
    Tensor fidx = tensor({1.f});
    line = __LINE__; what = message_of<DTypeError>([&] { (void)gather(table, fidx, 0); });
    check_message(what, "gather", {"f32[4,3]", "f32[1]"}, line);
  }
}

// ---- nn ops ------------------------------------------------------------------------------

TEST_CASE("errors: matmul", "[errors][nn]") {
  Tensor a = randn({2, 3}, 1), b = randn({4, 5}, 2);
  SECTION("inner dims differ: the message of DESIGN.md, word for word") {
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)matmul(a, b); });
    CHECK(what == "matmul: inner dims differ: f32[2,3] x f32[4,5] (test_errors_ops.cpp:" + std::to_string(line) + ")");
  }
  SECTION("inner dims differ, method form") {
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)a.matmul(b); });
    check_message(what, "matmul", {"f32[2,3]", "f32[4,5]"}, line);
  }
  SECTION("i32 x f32") {
    Tensor i = cast(a * 10.f, DType::i32), f = randn({3, 2}, 3);
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)matmul(i, f); });
    check_message(what, "matmul", {"i32[2,3]", "f32[3,2]"}, line);
  }
  SECTION("rank 1 and batch dims that do not broadcast") {
    Tensor v = randn({3}, 4);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)matmul(v, a.transpose()); });
    check_message(what, "matmul", {"f32[3]", "f32[3,2]"}, line);
    Tensor x = randn({2, 3, 4}, 5), y = randn({3, 4, 5}, 6);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)matmul(x, y); });
    check_message(what, "matmul", {"f32[2,3,4]", "f32[3,4,5]"}, line);
  }
}

TEST_CASE("errors: conv2d, max_pool2d, dropout", "[errors][nn]") {
  Tensor x = randn({1, 3, 8, 8}, 1);
  SECTION("conv2d: input channels differ") {
    Tensor w = randn({4, 2, 3, 3}, 2);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)conv2d(x, w, 1, 1); });
    check_message(what, "conv2d", {"f32[1,3,8,8]", "f32[4,2,3,3]"}, line);
  }
  SECTION("conv2d: integer operands, mixed dtypes") {
    Tensor xi = cast(x * 10.f, DType::i32), wi = cast(randn({4, 3, 3, 3}, 2) * 10.f, DType::i32);
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)conv2d(xi, wi); });
    check_message(what, "conv2d", {"i32[1,3,8,8]", "i32[4,3,3,3]"}, line);
    Tensor wd = randn({4, 3, 3, 3}, 2, DType::f64);
    line = __LINE__; what = message_of<DTypeError>([&] { (void)conv2d(x, wd); });
    check_message(what, "conv2d", {"f32[1,3,8,8]", "f64[4,3,3,3]"}, line);
  }
  SECTION("conv2d: the kernel does not fit, bad rank") {
    Tensor w = randn({2, 3, 9, 9}, 2);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)conv2d(x, w); });
    check_message(what, "conv2d", {"f32[1,3,8,8]", "f32[2,3,9,9]"}, line);
    Tensor x3 = randn({3, 8, 8}, 3), w3 = randn({2, 3, 3, 3}, 4);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)conv2d(x3, w3); });
    check_message(what, "conv2d", {"f32[3,8,8]", "f32[2,3,3,3]"}, line);
  }
  SECTION("max_pool2d: bad rank, a window that does not fit, b8") {
    Tensor x3 = randn({3, 8, 8}, 3);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)max_pool2d(x3, 2, 2); });
    check_message(what, "max_pool2d", {"f32[3,8,8]"}, line);
    Tensor small = randn({1, 1, 2, 2}, 4);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)max_pool2d(small, 3, 1); });
    check_message(what, "max_pool2d", {"f32[1,1,2,2]"}, line);
    Tensor b = x > 0.f;
    line = __LINE__; what = message_of<DTypeError>([&] { (void)max_pool2d(b, 2); });
    check_message(what, "max_pool2d", {"b8[1,3,8,8]"}, line);
  }
  SECTION("dropout: integer input") {
    Tensor i = tensor({1, 2, 3});
    int line = __LINE__; std::string what = message_of<DTypeError>([&] { (void)dropout(i, 0.5, 1); });
    check_message(what, "dropout", {"i32[3]"}, line);
  }
}

// ---- attribute mistakes --------------------------------------------------------------------
// DESIGN.md §1: every error message names the op, the operands' types and the
// user's line, including mistakes in an op's attributes (axes, perm, shape,
// stride, padding, kernel, rate, depth), not only in its operands' shapes.

TEST_CASE("errors: bad attributes name the operand types too", "[errors][attrs]") {
  Tensor a = randn({2, 3}, 1);
  Tensor x = randn({1, 3, 8, 8}, 2), w = randn({2, 3, 3, 3}, 3);
  SECTION("sum: a repeated axis") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)sum(a, {1, -1}); });
    check_message(what, "sum", {"f32[2,3]"}, line);
  }
  SECTION("reshape: two -1s, a negative dim") {
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)reshape(a, {-1, -1}); });
    check_message(what, "reshape", {"f32[2,3]"}, line);
    line = __LINE__; what = message_of<ShapeError>([&] { (void)reshape(a, {-2, -3}); });
    check_message(what, "reshape", {"f32[2,3]"}, line);
  }
  SECTION("transpose: a perm with a repeated axis") {
    Tensor c = randn({2, 3, 4}, 3);
    int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)transpose(c, {0, 1, 1}); });
    check_message(what, "transpose", {"f32[2,3,4]"}, line);
  }
  SECTION("conv2d: stride 0, negative padding") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)conv2d(x, w, 0, 0); });
    check_message(what, "conv2d", {"f32[1,3,8,8]", "f32[2,3,3,3]"}, line);
    line = __LINE__; what = message_of<Error>([&] { (void)conv2d(x, w, 1, -1); });
    check_message(what, "conv2d", {"f32[1,3,8,8]", "f32[2,3,3,3]"}, line);
  }
  SECTION("max_pool2d: kernel 0") {
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)max_pool2d(x, 0); });
    check_message(what, "max_pool2d", {"f32[1,3,8,8]"}, line);
  }
  SECTION("dropout: rate 1") {
    Tensor f = randn({3}, 5);
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)dropout(f, 1.0, 1); });
    check_message(what, "dropout", {"f32[3]"}, line);
  }
  SECTION("one_hot: a negative depth") {
    Tensor labels = tensor({0, 1});
    int line = __LINE__; std::string what = message_of<Error>([&] { (void)one_hot(labels, -1); });
    check_message(what, "one_hot", {"i32[2]"}, line);
  }
}
