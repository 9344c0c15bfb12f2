// Soak (issue 11, resource bounds): a traced function called with 10,000
// ever-new input shapes retraces each time; the function cache keeps its
// last cache_size traces (64 by default) and the kernel cache finds the one
// kernel the body needs, so memory must flatten. The resident set size is
// printed at checkpoints and its growth after warm-up is bounded.
#include <catch2/catch.hpp>
#include <duet/codegen/llvm/kernels.h>
#include <duet/duet.h>

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using namespace duet;

namespace {

// VmRSS of this process, in KiB (0 if /proc is unreadable).
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

}  // namespace

TEST_CASE("soak: 10,000 calls with new shapes keep memory bounded", "[soak]") {
  auto f = function([](Tensor x, Tensor y) { return tanh(x * y) + sigmoid(x) - 0.5f * y; });
  const int kCalls = 10000;
  std::vector<long> rss;
  double checksum = 0;
  const int64_t compiled_before = codegen::jit::stats().compiled;
  // Every trace from the fifth warns on stderr (DESIGN.md): 10,000 lines of
  // it are silenced for the loop (restored however the loop ends).
  struct Silence {
    int saved = -1, devnull = -1;
    Silence() {
      std::fflush(stderr);
      saved = ::dup(2);
      devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, 2);
    }
    ~Silence() {
      std::fflush(stderr);
      if (saved >= 0) ::dup2(saved, 2);
      if (saved >= 0) ::close(saved);
      if (devnull >= 0) ::close(devnull);
    }
  };
  auto silence = std::make_unique<Silence>();
  for (int i = 1; i <= kCalls; ++i) {
    const int64_t n = 1 + i;  // a new shape every call: a retrace every call
    Tensor x = full({n}, 0.25), y = full({n}, 0.5);
    checksum += f(x, y).to_vector<float>().back();
    if (i % 1000 == 0) {
      rss.push_back(rss_kib());
      std::printf("soak: %d calls, %d traces, RSS %ld KiB\n", i, f.trace_count(), rss.back());
    }
  }
  silence.reset();
  std::fflush(stdout);
  CHECK(f.trace_count() == kCalls);
  // One body: at most a kernel per broadcast pattern, compiled once each.
  CHECK(codegen::jit::stats().compiled - compiled_before <= 4);
  const float one = std::tanh(0.125f) + 1.0f / (1.0f + std::exp(-0.25f)) - 0.25f;
  CHECK(checksum == Approx(double(one) * kCalls).epsilon(1e-5));
  // After the first 2,000 calls (the cache full, the allocator's pools warm)
  // the last 8,000 add less than 16 MiB.
  REQUIRE(rss.size() == 10);
  INFO("RSS at 2,000 calls: " << rss[1] << " KiB, at 10,000: " << rss[9] << " KiB");
  CHECK(rss[9] - rss[1] < 16 * 1024);
}
