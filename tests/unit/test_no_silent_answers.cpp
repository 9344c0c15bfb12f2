// Issue 19's findings, one case each: sizes that overflow, impossible shapes,
// labels and indices out of range, allocations that fail, and errors that
// must name the user's op and line, eagerly and traced.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include "test_support.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace duet;
using duet_test::message_of;

namespace {

constexpr const char* kFile = "test_no_silent_answers.cpp";

// "op: ... (test_no_silent_answers.cpp:line)", holding every part.
void check_message(const std::string& what, const std::string& op, const std::vector<std::string>& parts, int line) {
  INFO("message: " << what);
  CHECK_THAT(what, Catch::StartsWith(op + ": "));
  for (const std::string& p : parts) CHECK_THAT(what, Catch::Contains(p));
  CHECK_THAT(what, Catch::EndsWith("(" + std::string(kFile) + ":" + std::to_string(line) + ")"));
  CHECK_THAT(what, !Catch::Contains(".cpp:") || Catch::Contains(kFile));  // never a duet source file
}

constexpr int64_t k31 = int64_t(1) << 31, k33 = int64_t(1) << 33, k40 = int64_t(1) << 40;

}  // namespace

TEST_CASE("sizes: creation whose element count overflows int64 is a ShapeError", "[errors][sizes]") {
  int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)zeros({k40, k40}); });
  check_message(what, "zeros", {"f32[1099511627776,1099511627776]", "more elements than int64 counts"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)zeros({k31, k31, 3}); });
  check_message(what, "zeros", {"f32[2147483648,2147483648,3]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)full({k33, k31}, 1.0); });
  check_message(what, "full", {"f32[8589934592,2147483648]"}, line);
  const int64_t big = int64_t(1) << 22;
  line = __LINE__; what = message_of<ShapeError>([&] { (void)randn({big, big, big}); });
  check_message(what, "randn", {"f32[4194304,4194304,4194304]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)ones({int64_t(1) << 46}, DType::f64); });
  check_message(what, "ones", {"f64[70368744177664]", "more than the 2^48 bytes"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)eye(int64_t(1) << 30); });
  check_message(what, "eye", {"f32[1073741824,1073741824]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)arange(int64_t(1) << 47, DType::i64); });
  check_message(what, "arange", {"i64[140737488355328]"}, line);
  SECTION("an empty dim makes a huge product empty, not an overflow") {
    Tensor e = zeros({0, k40, k40});
    CHECK(e.numel() == 0);
    CHECK(e.to_vector<float>().empty());
    // The 0 last: numel never multiplies the dims before it (UBSan found it, test_size_property.cpp).
    Tensor f = full({INT64_MAX, 2, 0}, 1.0);
    CHECK(f.numel() == 0);
    CHECK(f.shape() == Shape{INT64_MAX, 2, 0});
  }
}

TEST_CASE("sizes: negative dims are refused and printed as given", "[errors][sizes]") {
  int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)zeros({-3, 2}); });
  check_message(what, "zeros", {"got [-3,2]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)ones({2, -1}); });
  check_message(what, "ones", {"got [2,-1]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)from_vector(std::vector<float>{1, 2}, {-2, -1}); });
  check_message(what, "from_vector", {"[-2,-1]"}, line);
  Tensor x = tensor({1.f, 2.f});
  line = __LINE__; what = message_of<ShapeError>([&] { (void)broadcast_to(x, {2, -1}); });
  check_message(what, "broadcast_to", {"f32[2]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)broadcast_to(x, {-4, 2}); });
  check_message(what, "broadcast_to", {"-4"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)reshape(x, {-2, -1}); });
  check_message(what, "reshape", {"-2"}, line);
  Tensor dy = randn({1, 1, 2, 2}, 1), w = randn({1, 1, 1, 1}, 2);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)conv2d_backward_input(dy, w, {1, 1, -1, 2}); });
  check_message(what, "conv2d_backward_input", {"got [1,1,-1,2]"}, line);
}

TEST_CASE("sizes: a traced broadcast_to with a -1 dim is refused too", "[errors][sizes][function]") {
  int line = 0;
  auto f = function([&](Tensor a) {
    line = __LINE__; return broadcast_to(a, {2, -1});
  });
  std::string what = message_of<ShapeError>([&] { (void)f(tensor({1.f, 2.f})); });
  check_message(what, "broadcast_to", {"f32[2]"}, line);
}

TEST_CASE("sizes: ranks past 8 name the op and the line", "[errors][sizes]") {
  int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)ones({1, 1, 1, 1, 1, 1, 1, 1, 1}); });
  check_message(what, "ones", {"rank 9 exceeds the maximum rank 8"}, line);
  Tensor x = randn({2, 3}, 1);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)reshape(x, {1, 1, 1, 1, 1, 1, 1, 2, 3}); });
  check_message(what, "reshape", {"rank 9 exceeds the maximum rank 8"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)broadcast_to(x, {1, 1, 1, 1, 1, 1, 1, 1, 2, 3}); });
  check_message(what, "broadcast_to", {"rank 10 exceeds the maximum rank 8"}, line);
}

TEST_CASE("sizes: a shape index out of range names the user's line", "[errors][sizes]") {
  Tensor x = randn({2, 3}, 1);
  CHECK(x.shape()[-1] == 3);
  int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)x.shape()[2]; });
  check_message(what, "shape", {"index 2 out of range for [2,3] (rank 2)"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)x.shape()[-3]; });
  check_message(what, "shape", {"index -3 out of range"}, line);
}

TEST_CASE("sizes: op results past 2^48 bytes are a ShapeError before any allocation", "[errors][sizes]") {
  // A broadcast of two small operands to a huge result: [2^25,1] x [1,2^24]
  // is 2^49 elements.
  Tensor a = zeros({int64_t(1) << 25, 1}), b = zeros({1, int64_t(1) << 24});
  int line = __LINE__; std::string what = message_of<ShapeError>([&] { (void)(a * b); });
  check_message(what, "mul", {"f32[33554432,16777216]", "f32[33554432,1]"}, line);
  line = __LINE__; what = message_of<ShapeError>([&] { (void)broadcast_to(scalar(1.f), {k40, k40}); });
  check_message(what, "broadcast_to", {"more elements than int64 counts"}, line);
  Tensor m = zeros({int64_t(1) << 24, 1}), n = zeros({1, int64_t(1) << 24});
  line = __LINE__; what = message_of<ShapeError>([&] { (void)matmul(m, n); });
  check_message(what, "matmul", {"f32[16777216,16777216]"}, line);
  SECTION("traced: the same check, at the traced op's line") {
    auto f = function([&](Tensor p, Tensor q) {
      line = __LINE__; return p * q;
    });
    what = message_of<ShapeError>([&] { (void)f(a, b); });
    check_message(what, "mul", {"f32[33554432,16777216]"}, line);
  }
}

TEST_CASE("out of memory: an allocation that fails names the op, the type, the bytes and the line",
          "[errors][sizes][oom]") {
  // 2^45 bytes (32 TiB) pass the size check but no machine here has them.
  const int64_t n = int64_t(1) << 43;
  int line = __LINE__; std::string what = message_of<OutOfMemoryError>([&] { (void)zeros({n}); });
  check_message(what, "zeros", {"f32[8796093022208]", "35184372088832 bytes", "out of memory on cpu"}, line);
  Tensor x = zeros({1, 1});
  line = __LINE__; what = message_of<OutOfMemoryError>([&] { (void)broadcast_to(x, {n, 1}); });
  check_message(what, "broadcast_to", {"f32[8796093022208,1]", "35184372088832 bytes"}, line);
  Tensor big_rows = zeros({int64_t(1) << 22, 1}), big_cols = zeros({1, int64_t(1) << 21});
  line = __LINE__; what = message_of<OutOfMemoryError>([&] { (void)matmul(big_rows, big_cols); });
  check_message(what, "matmul", {"f32[4194304,2097152]", "35184372088832 bytes"}, line);
  CHECK(message_of<DeviceError>([&] { (void)zeros({n}); }) != "<no exception>");  // an OutOfMemoryError is a DeviceError
  SECTION("traced: the first call's memory plan names the function and the call's line") {
    FunctionOptions o;
    o.name = "outer";
    auto f = function([](Tensor p, Tensor q) { return exp(p * q) + 1.f; }, o);
    line = __LINE__; what = message_of<OutOfMemoryError>([&] { (void)f(big_rows, big_cols); });
    check_message(what, "function 'outer'", {"out of memory on cpu", "bytes"}, line);
    // The same function still runs on sizes that fit.
    Tensor r = f(ones({2, 1}), ones({1, 3}));
    CHECK(r.shape() == Shape{2, 3});
  }
}

TEST_CASE("labels: a loss label outside the classes is an IndexError, eager and traced", "[errors][labels]") {
  Tensor logits = randn({2, 10}, 3);
  Tensor bad = tensor({0, 12});
  int line = __LINE__; std::string what = message_of<IndexError>([&] { (void)losses::sparse_softmax_cross_entropy(bad, logits); });
  check_message(what, "sparse_softmax_cross_entropy", {"label 12 at position 1", "[0, 10)", "f32[2,10]"}, line);
  line = __LINE__; what = message_of<IndexError>([&] { (void)losses::sparse_softmax_cross_entropy(tensor({-1, 3}), logits); });
  check_message(what, "sparse_softmax_cross_entropy", {"label -1 at position 0"}, line);
  SECTION("traced: the compiled step checks the labels, at the user's line") {
    auto f = function([&](Tensor y, Tensor z) {
      line = __LINE__; return losses::sparse_softmax_cross_entropy(y, z);
    });
    Tensor good = f(tensor({0, 9}), logits);
    CHECK(std::isfinite(good.item<float>()));
    what = message_of<IndexError>([&] { (void)f(tensor({0, 12}), logits); });
    check_message(what, "one_hot", {"label 12 at position 1", "[0, 10)"}, line);
    CHECK(f.trace_count() == 1);  // the bad call ran the same trace
  }
  SECTION("under a tape, inside a training step") {
    Variable w(randn({4, 10}, 4), "w");
    optim::SGD opt(0.1);
    auto step = function([&](Tensor x, Tensor y) {
      GradientTape tape;
      line = __LINE__; Tensor loss = losses::sparse_softmax_cross_entropy(y, matmul(x, w));
      opt.apply_gradients(tape.gradient(loss, {w}), {w});
      return loss;
    });
    Tensor x = randn({3, 4}, 5);
    std::vector<float> before = w.value().to_vector<float>();
    what = message_of<IndexError>([&] { (void)step(x, tensor({1, 10, 2})); });
    check_message(what, "one_hot", {"label 10 at position 1"}, line);
    CHECK(w.value().to_vector<float>() == before);  // a failed step leaves the variable as it was
  }
}

TEST_CASE("labels: one_hot, gather and scatter_add name the bad value and its position", "[errors][labels]") {
  int line = __LINE__; std::string what = message_of<IndexError>([&] { (void)one_hot(tensor({1, 2, 7}), 5); });
  check_message(what, "one_hot", {"label 7 at position 2 of i32[3]", "[0, 5)"}, line);
  line = __LINE__; what = message_of<Error>([&] { (void)one_hot(tensor({0, 1}), 0); });
  check_message(what, "one_hot", {"depth must be >= 1, got 0", "i32[2]"}, line);
  Tensor table = randn({4, 3}, 6);
  line = __LINE__; what = message_of<IndexError>([&] { (void)gather(table, tensor({0, 3, 4}), 0); });
  check_message(what, "gather", {"index 4 at position 2", "[0, 4)", "f32[4,3]"}, line);
  line = __LINE__; what = message_of<IndexError>([&] { (void)gather(table, tensor({{0, -1}}), 1); });
  check_message(what, "gather", {"index -1 at [0,1]", "[0, 3)"}, line);
  Tensor base = zeros({4, 3}), updates = ones({2, 3});
  line = __LINE__; what = message_of<IndexError>([&] { (void)scatter_add(base, tensor({0, 5}), updates, 0); });
  check_message(what, "scatter_add", {"index 5 at position 1", "[0, 4)"}, line);
  SECTION("traced gather") {
    auto f = function([&](Tensor t, Tensor i) {
      line = __LINE__; return gather(t, i, 0);
    });
    CHECK(f(table, tensor({3, 0})).shape() == Shape{2, 3});
    what = message_of<IndexError>([&] { (void)f(table, tensor({9, 0})); });
    check_message(what, "gather", {"index 9 at position 0"}, line);
  }
}

TEST_CASE("errors name the user's line: a tensor used as a C++ bool", "[errors][bool]") {
  Tensor two = tensor({true, false});
  int line = __LINE__; Tensor made = tensor({1.f, 2.f}) < tensor({2.f, 1.f});
  std::string what = message_of<ShapeError>([&] {
    if (made) FAIL("converted");
  });
  INFO(what);
  CHECK_THAT(what, Catch::StartsWith("bool: a b8[2] tensor (made by less at " + std::string(kFile) + ":" +
                                     std::to_string(line) + ") was used as a C++ bool"));
  CHECK_THAT(what, !Catch::Contains("tensor.cpp"));
  what = message_of<DTypeError>([&] {
    if (tensor({1.f})) FAIL("converted");
  });
  CHECK_THAT(what, Catch::Contains("f32[1] tensor (made by tensor at " + std::string(kFile)));
  CHECK(static_cast<bool>(scalar(true)));
  CHECK_FALSE(static_cast<bool>(tensor({1.f}) > 2.f));
}

TEST_CASE("zeros_like and ones_like of a dynamic traced value work, and zeros of its shape says what to write",
          "[errors][function]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 4})};
  auto f = function([](Tensor x) { return x + ones_like(x) + zeros_like(x); }, o);
  Tensor x = randn({3, 4}, 7);
  std::vector<float> got = f(x).to_vector<float>(), in = x.to_vector<float>();
  REQUIRE(got.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) CHECK(got[i] == in[i] + 1.f);
  CHECK(f(randn({5, 4}, 8)).shape() == Shape{5, 4});
  CHECK(f.trace_count() == 1);
  int line = 0;
  auto g = function([&](Tensor y) {
    line = __LINE__; return y + zeros(y.shape());
  }, o);
  std::string what = message_of<ShapeError>([&] { (void)g(x); });
  check_message(what, "zeros", {"dim 0 of [?,4] is dynamic", "zeros_like(x)"}, line);
}

TEST_CASE("sizes: an input_signature with a dim below -1 is refused when the function is made", "[errors][sizes]") {
  FunctionOptions o;
  o.name = "step";
  o.input_signature = {TensorSpec({-1, 4}), TensorSpec({-2, 3})};
  auto make = [&] { return function([](Tensor a, Tensor b) { return a + b; }, o); };
  CHECK_THROWS_AS(make(), ShapeError);
  CHECK_THROWS_WITH(make(), Catch::StartsWith("function 'step': input_signature[1]: dims must be >= 0 (or -1: dynamic), "
                                              "got [-2,3]"));
  o.input_signature = {TensorSpec({-1, 4}), TensorSpec({-1, 4})};
  CHECK(make()(ones({2, 4}), ones({2, 4})).shape() == Shape{2, 4});
}
