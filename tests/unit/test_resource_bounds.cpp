// Resource bounds (docs/reliability.md): the in-memory kernel cache keeps at
// most its entries and bytes and unloads a kernel when nothing uses it, the
// disk cache is trimmed to its size, and the function cache drops traces
// past its byte bound.
#include <catch2/catch.hpp>
#include <duet/backends/cpu/allocator.h>
#include <duet/codegen/llvm/kernels.h>
#include <duet/duet.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.h"

using namespace duet;
namespace fs = std::filesystem;
namespace jit = duet::codegen::jit;

namespace {

using duet_test::jit_off;

// Body number k: k + 2 rounds of x = tanh(x) * 0.75 + x * y, so every k
// gives a kernel of its own (the key is the body).
Tensor body(int k, const Tensor& x0, const Tensor& y) {
  Tensor x = x0;
  for (int r = 0; r < k + 2; ++r) x = add(mul(tanh(x), 0.75), mul(x, y));
  return x;
}

using Fn = std::function<Tensor(Tensor, Tensor)>;

// Restores the limits a test changed.
struct LimitsGuard {
  jit::Limits saved = jit::limits();
  ~LimitsGuard() { jit::set_limits(saved); }
};

int64_t folder_bytes(const fs::path& dir, int* files) {
  int64_t total = 0;
  *files = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".o") {
      total += static_cast<int64_t>(e.file_size());
      ++*files;
    }
  return total;
}

}  // namespace

// In a child process, so no other test's kernels come and go meanwhile.
TEST_CASE("kernel cache child: entries bound", "[.][kernel_cache_bounds_child]") {
  LimitsGuard guard;
  jit::Limits l = guard.saved;
  l.entries = 2;
  jit::set_limits(l);
  // Bodies 40..44: no other test compiles them, so each is a new kernel here.
  Tensor x = randn({16, 24}, 1), y = randn({16, 24}, 2);
  std::vector<decltype(function(std::declval<Fn>()))> fns;
  const jit::Stats s0 = jit::stats();
  for (int k = 40; k < 45; ++k) {
    fns.push_back(function(Fn([k](Tensor a, Tensor b) { return body(k, a, b); })));
    CHECK(max(abs(sub(fns.back()(x, y), body(k, x, y)))).item<float>() < 1e-5f);
  }
  const jit::Stats s1 = jit::stats();
  CHECK(s1.cached <= 2);
  CHECK(s1.evicted - s0.evicted >= 3);
  CHECK(s1.loaded - s0.loaded == 5);  // all five still used by live traces
  CHECK(s1.unloaded == s0.unloaded);
  // The first, evicted from the cache but held by its function, still runs.
  CHECK(max(abs(sub(fns[0](x, y), body(40, x, y)))).item<float>() < 1e-5f);
  fns.clear();  // the traces go, and with them the kernels the cache let go
  const jit::Stats s2 = jit::stats();
  CHECK(s2.unloaded - s1.unloaded >= 3);
  CHECK(s2.loaded <= s1.loaded - 3);
  // A new function with the first body loads its kernel again and agrees.
  auto again = function(Fn([](Tensor a, Tensor b) { return body(40, a, b); }));
  CHECK(max(abs(sub(again(x, y), body(40, x, y)))).item<float>() < 1e-5f);
  const jit::Stats s3 = jit::stats();
  CHECK(s3.compiled + s3.disk_hits > s2.compiled + s2.disk_hits);
}

TEST_CASE("kernel cache: past its entries it lets go, a kernel in use stays loaded, unused ones are unloaded",
          "[kernel_cache][bounds]") {
  if (jit_off()) return;  // nothing is compiled (DUET_JIT=0)
  auto [status, out] = duet_test::finish_self(duet_test::start_self("kernel cache child: entries bound", {}, {"DUET_JIT"}));
  INFO(out);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("kernel cache: past its bytes it keeps only the newest kernel", "[kernel_cache][bounds]") {
  if (jit_off()) return;
  LimitsGuard guard;
  jit::Limits l = guard.saved;
  l.bytes = 1;  // smaller than any kernel
  jit::set_limits(l);
  CHECK(jit::stats().cached <= 1);
  Tensor x = randn({8, 8}, 3), y = randn({8, 8}, 4);
  for (int k = 50; k < 53; ++k) {
    auto f = function(Fn([k](Tensor a, Tensor b) { return body(k, a, b); }));
    CHECK(max(abs(sub(f(x, y), body(k, x, y)))).item<float>() < 1e-5f);
    CHECK(jit::stats().cached == 1);
  }
}

// The child: compiles 8 kernels into its own DUET_CACHE_DIR with the disk
// bound set to DUET_TEST_DISK_BYTES, then trims.
TEST_CASE("kernel cache child: fill and trim the disk cache", "[.][kernel_cache_trim_child]") {
  jit::Limits l = jit::limits();
  l.disk_bytes = std::strtoull(std::getenv("DUET_TEST_DISK_BYTES"), nullptr, 10);
  jit::set_limits(l);
  Tensor x = randn({8, 8}, 5), y = randn({8, 8}, 6);
  for (int k = 0; k < 8; ++k) {
    auto f = function(Fn([k](Tensor a, Tensor b) { return body(k, a, b); }));
    CHECK(max(abs(sub(f(x, y), body(k, x, y)))).item<float>() < 1e-5f);
  }
  std::printf("TRIMMED %lld\n", static_cast<long long>(jit::trim_disk_cache()));
}

TEST_CASE("kernel cache: the disk folder is trimmed to its bound, oldest files first", "[kernel_cache][bounds]") {
  if (jit_off()) return;
  // First with no bound to learn the kernels' sizes, then with room for about half.
  duet_test::TempDir full("trim_full"), half("trim_half");
  auto run = [](const fs::path& dir, uint64_t bytes) {
    auto [status, out] = duet_test::finish_self(duet_test::start_self(
        "kernel cache child: fill and trim the disk cache",
        {"DUET_CACHE_DIR=" + dir.string(), "DUET_TEST_DISK_BYTES=" + std::to_string(bytes)}, {"DUET_JIT"}));
    INFO(out);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  };
  run(full.path, uint64_t{1} << 40);
  int files_full = 0, files_half = 0;
  int64_t bytes_full = folder_bytes(full.path, &files_full);
  REQUIRE(files_full == 8);
  run(half.path, static_cast<uint64_t>(bytes_full / 2));
  int64_t bytes_half = folder_bytes(half.path, &files_half);
  CHECK(bytes_half <= bytes_full / 2);
  CHECK(files_half >= 2);
  CHECK(files_half < 8);
}

TEST_CASE("function cache: past cache_bytes the least recently used traces go", "[function][bounds]") {
  int traced = 0;
  auto f_body = [&traced](Tensor x) {
    ++traced;
    return exp(x) * 2.0f;
  };
  FunctionOptions small;
  small.cache_bytes = 1;  // every trace is over it: only the newest stays
  auto f = function(f_body, small);
  auto g = function(f_body);  // the default bound keeps both
  Tensor a = randn({3}, 1), b = randn({5}, 2);
  f(a);
  f(b);
  f(a);
  CHECK(traced == 3);
  traced = 0;
  g(a);
  g(b);
  g(a);
  CHECK(traced == 2);
}

// Threads tracing, running and dropping functions while the cache (2
// entries) evicts and the JIT unloads under them: every result stays right
// (and ThreadSanitizer, tools/ci/sanitize.sh tsan, sees no race).
TEST_CASE("kernel cache: loads, evictions and unloads from several threads", "[kernel_cache][bounds][threads]") {
  if (jit_off()) return;
  LimitsGuard guard;
  jit::Limits l = guard.saved;
  l.entries = 2;
  jit::set_limits(l);
  Tensor x = randn({8, 16}, 9), y = randn({8, 16}, 10);
  std::vector<std::vector<float>> want;
  for (int k = 0; k < 6; ++k) want.push_back(body(60 + k, x, y).to_vector<float>());
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 6; ++round) {
        int k = (t + round) % 6;
        auto f = function(Fn([k](Tensor a, Tensor b) { return body(60 + k, a, b); }));
        std::vector<float> got = f(x, y).to_vector<float>();
        for (size_t i = 0; i < got.size(); ++i) wrong[static_cast<size_t>(t)] += std::abs(got[i] - want[k][i]) > 1e-5f;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == std::vector<int>(4, 0));
  CHECK(jit::stats().cached <= 2);
}

// The child: frees a 16 MiB tensor and prints what the allocator kept.
TEST_CASE("allocator child: free a large block", "[.][allocator_child]") {
  duet::cpu::empty_cache();
  { Tensor t = ones({4 << 20}); }
  std::printf("CACHED %zu\n", duet::cpu::cached_bytes());
}

TEST_CASE("allocator: DUET_ALLOCATOR_CACHE_MB bounds the large-block pool", "[bounds]") {
  auto cached = [](const std::string& mb) {
    std::vector<std::string> env;
    if (!mb.empty()) env.push_back("DUET_ALLOCATOR_CACHE_MB=" + mb);
    auto [status, out] = duet_test::finish_self(duet_test::start_self("allocator child: free a large block", env,
                                                                      {"DUET_ALLOCATOR_CACHE_MB"}));
    INFO(out);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    size_t at = out.find("CACHED ");
    REQUIRE(at != std::string::npos);
    return std::stoull(out.substr(at + 7));
  };
  CHECK(cached("") >= (size_t{16} << 20));  // default: 4 GiB of room
  // Small blocks (the Storage header's) are cached per thread either way.
  CHECK(cached("0") < (size_t{1} << 20));
  CHECK(cached("8") < (size_t{1} << 20));  // a 16 MiB block does not fit in 8 MiB
}
