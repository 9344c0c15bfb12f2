// The Collatz sequence with while_loop and cond on an i32 tensor: counts the
// steps from n to 1, eagerly and as one traced function that serves every n.
#include <duet/duet.h>

#include <iostream>

using namespace duet;

// n -> n/2 when even, 3n+1 when odd, until 1; returns the number of steps.
Tensor collatz_steps(Tensor n) {
  std::vector<Tensor> out = while_loop(
      [](const std::vector<Tensor>& v) { return v[0] != 1; },
      [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
        Tensor next = cond((v[0] % 2) == 0, [&] { return v[0] / 2; }, [&] { return v[0] * 3 + 1; });
        return {next, v[1] + 1};
      },
      {n, scalar(0)});
  return out[1];
}

int main() {
  try {
    auto traced = function(collatz_steps);
    for (int n : {12, 27, 1, 97}) {
      int eager = collatz_steps(scalar(n)).item<int>();
      int compiled = traced(scalar(n)).item<int>();
      std::cout << "collatz(" << n << "): " << eager << " steps eagerly, " << compiled << " traced\n";
    }
    std::cout << "traces: " << traced.trace_count() << "\n\n"
              << traced.get_concrete_function(scalar(12)).ir(Stage::optimized);
    return 0;
  } catch (const Error& e) {
    std::cerr << "collatz: " << e.what() << "\n";
    return 1;
  }
}
