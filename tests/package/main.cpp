// Built outside the repo against an installed duet (tests/package/run.cmake):
// builds tensors, runs ops (oneDNN matmul included), prints, checks values,
// and checks that duet's exceptions cross the library boundary as duet types.
// Exits non-zero on any wrong result.
#include <duet/duet.h>
#include <duet/runtime/tensor.h>  // a layer header by its installed path

#include <cmath>
#include <iostream>
#include <vector>

namespace {
int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << "\n";
    ++failures;
  }
}
}  // namespace

int main() {
  using namespace duet;
  try {
    Tensor a = tensor({{1.f, 2.f}, {3.f, 4.f}});
    Tensor b = tensor({{5.f, 6.f}, {7.f, 8.f}});
    Tensor c = matmul(a, b) + 1.f;  // [[20, 23], [44, 51]]
    std::cout << "c = " << c << "\n";

    expect(c.dtype() == DType::f32, "matmul result is f32");
    expect(c.shape() == Shape({2, 2}), "matmul result is [2,2]");
    const std::vector<float> want = {20.f, 23.f, 44.f, 51.f};
    expect(c.to_vector<float>() == want, "matmul(a, b) + 1 values");
    const float total = c.sum().item<float>();
    std::cout << "sum(c) = " << total << "\n";
    expect(std::fabs(total - 138.f) < 1e-4f, "sum(c) == 138");

    Tensor i = tensor({7, -7}) / 2;  // integer division truncates toward zero
    expect(i.dtype() == DType::i32 && i.to_vector<int>() == std::vector<int>({3, -3}),
           "i32 division");

    Variable w(ones({2}), "w");
    w.assign_add(tensor({1.f, 2.f}));
    expect(w.value().to_vector<float>() == std::vector<float>({2.f, 3.f}), "Variable::assign_add");

    bool threw = false;
    try {
      (void)matmul(tensor({{1.f, 2.f, 3.f}}), tensor({{1.f, 2.f}}));  // inner dims differ
    } catch (const ShapeError& e) {
      threw = true;
      std::cout << "ShapeError: " << e.what() << "\n";
    }
    expect(threw, "a shape mismatch throws duet::ShapeError");
  } catch (const std::exception& e) {
    std::cerr << "FAILED: unexpected exception: " << e.what() << "\n";
    return 1;
  }
  if (failures != 0) return 1;
  std::cout << "package consumer: all checks passed\n";
  return 0;
}
