// Must not compile: a `const char*` parameter is not an argument kind of duet::function.
#include <duet/duet.h>

int main() {
  auto f = duet::function([](duet::Tensor x, const char* label) { return x; });
  f(duet::ones({2}), "x");
  return 0;
}
