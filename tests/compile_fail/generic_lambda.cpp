// Must not compile: a generic lambda has no call signature to trace.
#include <duet/duet.h>

int main() {
  auto f = duet::function([](auto x) { return x * 2.f; });
  return 0;
}
