// Variables: a handle to shared mutable state that reads as its value; assign, assign_add/sub, snapshots, errors.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <string>
#include <vector>

using namespace duet;

TEST_CASE("variable: reads as its current value", "[variable]") {
  Variable w(tensor({1.f, 2.f, 3.f}), "w");
  Tensor t = w;
  CHECK(t.dtype() == DType::f32);
  CHECK(t.shape() == Shape{3});
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(w.dtype() == DType::f32);
  CHECK(w.shape() == Shape{3});
  CHECK(w.device() == Device::cpu());
  CHECK(w.defined());
  CHECK_FALSE(Variable().defined());
  // In ops, as an Operand and as a const Tensor&.
  CHECK((w * 2.f).to_vector<float>() == std::vector<float>{2, 4, 6});
  CHECK((1.f + w).to_vector<float>() == std::vector<float>{2, 3, 4});
  CHECK(exp(w).to_vector<float>() == exp(tensor({1.f, 2.f, 3.f})).to_vector<float>());
  Variable m(tensor({{1.f, 2.f}, {3.f, 4.f}}), "m");
  Tensor x = tensor({{1.f, 0.f}, {0.f, 1.f}});
  Tensor y = matmul(x, m);
  CHECK(y.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
}

TEST_CASE("variable: every copy of the handle is the same variable", "[variable]") {
  Variable a(zeros({2}), "shared");
  Variable b = a;
  Variable c;
  c = b;
  CHECK(a.same_as(b));
  CHECK(a.same_as(c));
  b.assign(tensor({5.f, 6.f}));
  CHECK(a.value().to_vector<float>() == std::vector<float>{5, 6});
  CHECK(c.value().to_vector<float>() == std::vector<float>{5, 6});
  c.assign_add(tensor({1.f, 1.f}));
  CHECK(a.value().to_vector<float>() == std::vector<float>{6, 7});
  // Another variable with an equal value is a different variable.
  Variable d(tensor({6.f, 7.f}), "shared");
  CHECK_FALSE(a.same_as(d));
  d.assign(tensor({0.f, 0.f}));
  CHECK(a.value().to_vector<float>() == std::vector<float>{6, 7});
}

TEST_CASE("variable: assign copies values and snapshots never change", "[variable]") {
  Tensor init = tensor({1.f, 2.f});
  Variable v(init, "v");
  Tensor snap = v.value();
  Tensor read = v;
  Tensor next = tensor({10.f, 20.f});
  v.assign(next);
  CHECK(v.value().to_vector<float>() == std::vector<float>{10, 20});
  CHECK(snap.to_vector<float>() == std::vector<float>{1, 2});
  CHECK(read.to_vector<float>() == std::vector<float>{1, 2});
  CHECK(init.to_vector<float>() == std::vector<float>{1, 2});
  // A later assign does not reach back into the tensor assigned before.
  v.assign(tensor({-1.f, -2.f}));
  CHECK(next.to_vector<float>() == std::vector<float>{10, 20});
  CHECK(v.value().to_vector<float>() == std::vector<float>{-1, -2});
  // The initial tensor stays as it was after in-place style updates.
  v.assign_add(tensor({1.f, 1.f}));
  CHECK(init.to_vector<float>() == std::vector<float>{1, 2});
}

TEST_CASE("variable: assign_add and assign_sub", "[variable]") {
  Variable v(tensor({1.f, 2.f, 3.f}), "acc");
  Tensor before = v.value();
  v.assign_add(tensor({0.5f, 0.5f, 0.5f}));
  CHECK(v.value().to_vector<float>() == std::vector<float>{1.5f, 2.5f, 3.5f});
  v.assign_sub(tensor({1.f, 2.f, 4.f}));
  CHECK(v.value().to_vector<float>() == std::vector<float>{0.5f, 0.5f, -0.5f});
  CHECK(before.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(v.dtype() == DType::f32);

  Variable i(tensor({10, 20}), "count");
  i.assign_add(tensor({1, 2}));
  i.assign_sub(tensor({5, 5}));
  CHECK(i.dtype() == DType::i32);
  CHECK(i.value().to_vector<int32_t>() == std::vector<int32_t>{6, 17});

  // Repeated updates accumulate.
  Variable step(scalar(0), "step");
  for (int k = 0; k < 5; ++k) step.assign_add(scalar(1));
  CHECK(step.value().item<int32_t>() == 5);
}

TEST_CASE("variable: assign with the wrong dtype or shape throws and keeps the value", "[variable]") {
  Variable v(tensor({1.f, 2.f}), "dense/bias");
  CHECK_THROWS_AS(v.assign(tensor({1, 2})), DTypeError);
  CHECK_THROWS_AS(v.assign(tensor({1.0, 2.0}, DType::f64)), DTypeError);
  CHECK_THROWS_AS(v.assign(tensor({1.f, 2.f, 3.f})), ShapeError);
  CHECK_THROWS_AS(v.assign(tensor({{1.f, 2.f}, {3.f, 4.f}})), ShapeError);
  CHECK_THROWS_AS(v.assign(scalar(1.f)), ShapeError);
  CHECK_THROWS_AS(v.assign(Tensor()), Error);
  CHECK_THROWS_AS(v.assign_add(tensor({1.f, 2.f, 3.f})), ShapeError);
  CHECK_THROWS_AS(v.assign_sub(tensor({1.f, 2.f, 3.f})), ShapeError);
  CHECK(v.value().to_vector<float>() == std::vector<float>{1, 2});
  try {
    v.assign(tensor({1.f, 2.f, 3.f}));
    FAIL("assign of f32[3] to f32[2] did not throw");
  } catch (const ShapeError& e) {
    CHECK_THAT(e.what(), Catch::Contains("assign") && Catch::Contains("f32[2]") && Catch::Contains("f32[3]") &&
                             Catch::Contains("test_variable.cpp"));
  }
  // An integer variable cannot take a float update.
  Variable i(tensor({1, 2}), "count");
  CHECK_THROWS_AS(i.assign_add(tensor({0.5f, 0.5f})), DTypeError);
  CHECK(i.value().to_vector<int32_t>() == std::vector<int32_t>{1, 2});
}

TEST_CASE("variable: name, trainable and bad handles", "[variable]") {
  Variable w(randn({3, 2}, 1), "dense/kernel");
  CHECK(w.name() == "dense/kernel");
  CHECK(w.trainable());
  Variable b(zeros({2}));
  CHECK(b.name() == "");
  Variable frozen(zeros({2}), "frozen", /*trainable=*/false);
  CHECK_FALSE(frozen.trainable());
  CHECK(Variable(w).name() == "dense/kernel");
  CHECK_THROWS_AS(Variable(Tensor(), "undefined"), Error);
  Variable empty;
  CHECK_THROWS_AS(empty.value(), Error);
  CHECK_THROWS_AS(empty.assign(zeros({2})), Error);
}
