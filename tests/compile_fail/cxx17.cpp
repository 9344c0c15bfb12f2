// Must not compile: duet needs C++20, and says so first (not deep inside a header).
// std: c++17
#include <duet/duet.h>

int main() { return duet::zeros({2}).rank(); }
