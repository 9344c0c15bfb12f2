// Creating and inspecting tensors: literal typing, filled and random tensors, Shape, item/to_vector, printing.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

using namespace duet;

namespace {
std::string printed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}
}  // namespace

TEST_CASE("creation: tensor() literals follow their C++ type", "[creation]") {
  Tensor a = tensor({1.f, 2.f});
  CHECK(a.dtype() == DType::f32);
  CHECK(a.shape() == Shape{2});
  CHECK(a.to_vector<float>() == std::vector<float>{1.f, 2.f});

  Tensor d = tensor({1.5, 2.5});  // double literals are f32 too
  CHECK(d.dtype() == DType::f32);
  CHECK(d.to_vector<float>() == std::vector<float>{1.5f, 2.5f});

  Tensor i = tensor({1, 2, 3});
  CHECK(i.dtype() == DType::i32);
  CHECK(i.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3});

  Tensor l = tensor({int64_t(5000000000), int64_t(-1)});
  CHECK(l.dtype() == DType::i64);
  CHECK(l.to_vector<int64_t>() == std::vector<int64_t>{5000000000, -1});

  Tensor b = tensor({true, false, true});
  CHECK(b.dtype() == DType::b8);
  CHECK(b.to_vector<bool>() == std::vector<bool>{true, false, true});
}

TEST_CASE("creation: nested lists make 2-D tensors, row-major", "[creation]") {
  Tensor m = tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  CHECK(m.dtype() == DType::f32);
  CHECK(m.shape() == Shape{2, 3});
  CHECK(m.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor md = tensor({{1.5, 2.5}, {3.5, 4.5}});
  CHECK(md.dtype() == DType::f32);
  CHECK(md.to_vector<float>() == std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f});
  Tensor mi = tensor({{1, 2}, {3, 4}, {5, 6}});
  CHECK(mi.dtype() == DType::i32);
  CHECK(mi.shape() == Shape{3, 2});
  CHECK(mi.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  CHECK_THROWS_AS(tensor({{1.f, 2.f}, {3.f}}), ShapeError);  // ragged rows
}

TEST_CASE("creation: a DType argument overrides literal typing", "[creation]") {
  Tensor d = tensor({0.1, 2.5}, DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector<double>() == std::vector<double>{0.1, 2.5});  // not rounded through f32
  Tensor i = tensor({1.0, -2.0, 3.0}, DType::i64);
  CHECK(i.dtype() == DType::i64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  Tensor m = tensor({{1.0, 0.0}, {0.0, 2.0}}, DType::b8);
  CHECK(m.dtype() == DType::b8);
  CHECK(m.shape() == Shape{2, 2});
  CHECK(m.to_vector<bool>() == std::vector<bool>{true, false, false, true});
  Tensor md = tensor({{0.1, 0.2}}, DType::f64);
  CHECK(md.to_vector<double>() == std::vector<double>{0.1, 0.2});
}

TEST_CASE("creation: zeros ones full default to f32 and take a dtype", "[creation]") {
  Tensor z = zeros({2, 3});
  CHECK(z.dtype() == DType::f32);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.f));
  Tensor o = ones({4});
  CHECK(o.dtype() == DType::f32);
  CHECK(o.to_vector<float>() == std::vector<float>(4, 1.f));
  Tensor f = full({2}, 7);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.to_vector<float>() == std::vector<float>{7.f, 7.f});
  Tensor fi = full({3}, 7, DType::i32);
  CHECK(fi.dtype() == DType::i32);
  CHECK(fi.to_vector<int32_t>() == std::vector<int32_t>{7, 7, 7});
  CHECK(zeros({2}, DType::i64).dtype() == DType::i64);
  CHECK(zeros({2}, DType::i64).to_vector<int64_t>() == std::vector<int64_t>{0, 0});
  CHECK(ones({2}, DType::b8).to_vector<bool>() == std::vector<bool>{true, true});
  CHECK(full({1}, 0.1, DType::f64).item<double>() == 0.1);
  CHECK(zeros({}).rank() == 0);
  CHECK(zeros({}).numel() == 1);
  CHECK(zeros({0, 4}).numel() == 0);
  CHECK_THROWS_AS(zeros({-2, 3}), ShapeError);
}

TEST_CASE("creation: scalar() makes rank-0 tensors", "[creation]") {
  Tensor s = scalar(3.5f);
  CHECK(s.rank() == 0);
  CHECK(s.shape() == Shape{});
  CHECK(s.numel() == 1);
  CHECK(s.dtype() == DType::f32);
  CHECK(s.item<float>() == 3.5f);
  CHECK(scalar(12).dtype() == DType::i32);
  CHECK(scalar(12).item<int32_t>() == 12);
  CHECK(scalar(2.5).dtype() == DType::f32);
  CHECK(scalar(int64_t(1) << 40).dtype() == DType::i64);
  CHECK(scalar(int64_t(1) << 40).item<int64_t>() == int64_t(1) << 40);
  CHECK(scalar(true).dtype() == DType::b8);
  CHECK(scalar(true).item<bool>());
  Tensor d = scalar(0.1, DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.item<double>() == 0.1);
}

TEST_CASE("creation: from_vector copies values in row-major order", "[creation]") {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  Tensor t = from_vector(v, {2, 3});
  v[0] = 100;  // the tensor holds a copy
  CHECK(t.dtype() == DType::f32);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(from_vector(std::vector<double>{0.1}, {1}).dtype() == DType::f64);
  CHECK(from_vector(std::vector<int32_t>{1, 2}, {2}).dtype() == DType::i32);
  CHECK(from_vector(std::vector<int64_t>{1, 2}, {2, 1}).dtype() == DType::i64);
  CHECK(from_vector(std::vector<bool>{true, false}, {2}).dtype() == DType::b8);
  CHECK(from_vector(std::vector<float>{}, {0, 5}).shape() == Shape{0, 5});
  CHECK(from_vector(std::vector<float>{4.f}, {}).item<float>() == 4.f);
  CHECK_THROWS_AS(from_vector(v, {4, 2}), ShapeError);
  CHECK_THROWS_AS(from_vector(v, {7}), ShapeError);
}

TEST_CASE("creation: arange and eye", "[creation]") {
  Tensor a = arange(5);
  CHECK(a.dtype() == DType::i32);
  CHECK(a.shape() == Shape{5});
  CHECK(a.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 3, 4});
  CHECK(arange(0).numel() == 0);
  CHECK(arange(3, DType::f64).to_vector<double>() == std::vector<double>{0, 1, 2});
  Tensor e = eye(3);
  CHECK(e.dtype() == DType::f32);
  CHECK(e.shape() == Shape{3, 3});
  CHECK(e.to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK(eye(2, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{1, 0, 0, 1});
}

TEST_CASE("creation: randn and rand are reproducible by seed", "[creation][random]") {
  CHECK(randn({1000}, 7).to_vector<float>() == randn({1000}, 7).to_vector<float>());
  CHECK(rand({1000}, 7).to_vector<float>() == rand({1000}, 7).to_vector<float>());
  CHECK(randn({1000}, 7).to_vector<float>() != randn({1000}, 8).to_vector<float>());
  CHECK(rand({1000}, 7).to_vector<float>() != rand({1000}, 8).to_vector<float>());
  // The shape does not change the stream: element i depends on (seed, i).
  CHECK(randn({10, 100}, 3).to_vector<float>() == randn({1000}, 3).to_vector<float>());
  CHECK(randn({4}, 1).dtype() == DType::f32);
  CHECK(randn({4}, 1, DType::f64).dtype() == DType::f64);
  CHECK(rand({4}, 1, DType::f64).dtype() == DType::f64);
  CHECK(randn({2, 3}, 1).shape() == Shape{2, 3});
  CHECK_THROWS_AS(randn({2}, 1, DType::i32), DTypeError);
}

TEST_CASE("creation: rand is uniform on 0 <= u < 1 and randn is standard normal", "[creation][random]") {
  const int n = 100000;
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    std::vector<double> u = rand({n}, 11, dt).to_vector<double>();
    double lo = 1, hi = 0, sum = 0;
    for (double x : u) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      sum += x;
    }
    CHECK(lo >= 0.0);
    CHECK(hi < 1.0);
    CHECK(lo < 0.001);
    CHECK(hi > 0.999);
    CHECK(sum / n == Approx(0.5).margin(0.01));

    std::vector<double> g = randn({n}, 12, dt).to_vector<double>();
    double mean = 0, var = 0;
    for (double x : g) mean += x;
    mean /= n;
    for (double x : g) var += (x - mean) * (x - mean);
    double sd = std::sqrt(var / (n - 1));
    CHECK(mean == Approx(0.0).margin(0.02));
    CHECK(sd == Approx(1.0).margin(0.02));
    int beyond2 = 0;  // about 4.55% of a standard normal lies beyond 2 sigma
    for (double x : g) beyond2 += std::fabs(x) > 2;
    CHECK(beyond2 / double(n) == Approx(0.0455).margin(0.005));
  }
}

TEST_CASE("creation: the Shape API", "[creation][shape]") {
  Shape s{2, 3};
  CHECK(s.rank() == 2);
  CHECK(s[0] == 2);
  CHECK(s[1] == 3);
  CHECK(s[-1] == 3);
  CHECK(s[-2] == 2);
  CHECK_THROWS_AS(s[2], Error);
  CHECK_THROWS_AS(s[-3], Error);
  CHECK(s.numel() == 6);
  CHECK(s == Shape{2, 3});
  CHECK_FALSE(s == Shape{3, 2});
  CHECK_FALSE(s == Shape{2, 3, 1});
  CHECK(s == std::vector<int64_t>{2, 3});
  CHECK_FALSE(s == std::vector<int64_t>{2});
  CHECK(Shape{}.rank() == 0);
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{4, 0}.numel() == 0);
  std::ostringstream os;
  os << s;
  CHECK(os.str() == "[2,3]");
  CHECK(Shape{}.str() == "[]");
  CHECK(Shape{7}.str() == "[7]");

  Tensor t = zeros({2, 3, 4});
  CHECK(t.shape() == std::vector<int64_t>{2, 3, 4});
  CHECK(t.shape()[-1] == 4);
  CHECK(t.rank() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.defined());
  CHECK(t.device() == Device::cpu());
  CHECK_FALSE(Tensor().defined());
}

TEST_CASE("creation: item reads one element of any rank", "[creation]") {
  CHECK(scalar(2.5f).item<float>() == 2.5f);
  CHECK(tensor({7}).item<int32_t>() == 7);
  CHECK(full({1, 1, 1}, 4.5).item<float>() == 4.5f);
  CHECK(tensor({9}).reshape({1, 1}).item<int32_t>() == 9);
  CHECK(tensor({3}).item<double>() == 3.0);  // converted to T
  CHECK(tensor({2.75f}).item<int32_t>() == 2);
  CHECK(tensor({true}).item<bool>());
  CHECK_THROWS_AS(tensor({1.f, 2.f}).item<float>(), ShapeError);
  CHECK_THROWS_AS(zeros({0}).item<float>(), ShapeError);
  CHECK_THROWS_AS(zeros({2, 2}).item<float>(), ShapeError);
  CHECK_THROWS_AS(Tensor().item<float>(), Error);
  try {
    (void)zeros({2, 3}).item<float>();
    FAIL("item on six elements did not throw");
  } catch (const ShapeError& e) {
    CHECK_THAT(e.what(),
               Catch::Contains("item") && Catch::Contains("f32[2,3]") && Catch::Contains("test_creation.cpp"));
  }
}

TEST_CASE("creation: to_vector copies in row-major order with conversion", "[creation]") {
  Tensor m = tensor({{1, 2, 3}, {4, 5, 6}});
  CHECK(m.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  CHECK(m.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(m.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  CHECK(tensor({0.f, 2.f}).to_vector<bool>() == std::vector<bool>{false, true});
  CHECK(tensor({-1.5f, 2.5f}).to_vector<int32_t>() == std::vector<int32_t>{-1, 2});
  CHECK(zeros({0, 3}).to_vector<float>().empty());
  CHECK_THROWS_AS(Tensor().to_vector<float>(), Error);
}

TEST_CASE("creation: printing", "[creation][print]") {
  CHECK(printed(tensor({1.f, 2.f})) == "tensor([1, 2], shape=[2], dtype=f32)");
  CHECK(to_string(tensor({1.f, 2.f})) == "tensor([1, 2], shape=[2], dtype=f32)");
  CHECK(printed(tensor({{1.f, 2.f}, {3.f, 4.f}})) == "tensor([[1, 2], [3, 4]], shape=[2,2], dtype=f32)");
  CHECK(printed(tensor({true, false})) == "tensor([true, false], shape=[2], dtype=b8)");
  CHECK(printed(tensor({1, -2, 3})) == "tensor([1, -2, 3], shape=[3], dtype=i32)");
  CHECK(printed(tensor({1.5f, -0.25f})) == "tensor([1.5, -0.25], shape=[2], dtype=f32)");
  CHECK(printed(tensor({{1, 2, 3}, {4, 5, 6}})) == "tensor([[1, 2, 3], [4, 5, 6]], shape=[2,3], dtype=i32)");
  CHECK(printed(tensor({0.5}, DType::f64)) == "tensor([0.5], shape=[1], dtype=f64)");
  std::string s = printed(scalar(3.5f));
  CHECK_THAT(s, Catch::Contains("3.5") && Catch::Contains("shape=[]") && Catch::Contains("dtype=f32"));
}
