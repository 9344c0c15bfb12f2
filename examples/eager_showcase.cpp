// A short tour of duet's eager mode: tensors, broadcasting, promotion,
// reductions, matmul on oneDNN, variables, and an error that names its line.
#include <duet/duet.h>

#include <iostream>

using namespace duet;

int main() {
  Tensor a = tensor({{1.f, 2.f}, {3.f, 4.f}});
  Tensor b = tensor({10.f, 20.f});
  std::cout << "a         = " << a << "\n";
  std::cout << "a + b     = " << a + b << "   (broadcast over rows)\n";
  std::cout << "a * 2     = " << a * 2 << "   (a weak scalar keeps f32)\n";
  Tensor i = tensor({1, 2, 3});
  std::cout << "i / 2     = " << i / 2 << "   (i32 truncates toward zero)\n";
  std::cout << "i * 0.5   = " << i * 0.5 << "   (int tensor, float scalar -> f32)\n";
  std::cout << "sum(a, 1) = " << sum(a, {1}) << "\n";
  std::cout << "softmax   = " << softmax(a) << "\n";

  Tensor x = randn({256, 784}, /*seed=*/1), w = randn({784, 128}, /*seed=*/2);
  Tensor h = relu(matmul(x, w));
  std::cout << "relu(x @ w): " << h.shape() << ", mean " << mean(h).item<float>() << "\n";

  Variable v(zeros({2}), "counter");
  Tensor before = v.value();
  v.assign_add(ones({2}));
  std::cout << "variable  = " << v.value() << ", snapshot before = " << before << "\n";

  try {
    Tensor bad = matmul(randn({2, 3}), randn({4, 5}));
  } catch (const ShapeError& e) {
    std::cout << "error     : " << e.what() << "\n";
  }
  return 0;
}
