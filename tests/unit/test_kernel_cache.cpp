// The kernel cache of compiled fusions (codegen/llvm/kernels.cpp, NOTE
// [Kernel cache]): in memory, and on disk under $DUET_CACHE_DIR. The disk
// directory is read once per process, so the disk tests run this binary's
// hidden "[kernel_cache_child]" cases as child processes with their own
// DUET_CACHE_DIR; a child prints its jit::stats() on one line of stdout.
#include <catch2/catch.hpp>
#include <duet/codegen/llvm/kernels.h>
#include <duet/duet.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "test_support.h"


using namespace duet;
using duet_test::TempDir;
namespace fs = std::filesystem;
namespace jit = duet::codegen::jit;

namespace {

// Children never inherit DUET_JIT=0.
using duet_test::jit_off;

using duet_test::Child;

struct ChildResult {
  int status = -1;
  std::string output;
  std::map<std::string, int64_t> stats;  // from the "KCSTATS name=value ..." line; empty if none
  int64_t operator[](const std::string& k) const { return stats.at(k); }
};

Child start_child(const std::string& test_name, const std::string& cache_dir) {
  return duet_test::start_self(test_name, {"DUET_CACHE_DIR=" + cache_dir}, {"DUET_JIT"});
}

ChildResult finish_child(Child c) {
  ChildResult r;
  std::tie(r.status, r.output) = duet_test::finish_self(c);
  size_t at = r.output.find("KCSTATS ");
  if (at != std::string::npos) {
    std::istringstream line(r.output.substr(at + 8, r.output.find('\n', at) - at - 8));
    for (std::string kv; line >> kv;)
      if (size_t eq = kv.find('='); eq != std::string::npos) r.stats[kv.substr(0, eq)] = std::stoll(kv.substr(eq + 1));
  }
  return r;
}

// Runs the child to completion and requires it to have passed and reported its counters.
const char* const kChild = "kernel cache child: run a fusion";
ChildResult run_child(const fs::path& cache_dir) {
  ChildResult r = finish_child(start_child(kChild, cache_dir.string()));
  INFO("child output:\n" << r.output);
  REQUIRE(WIFEXITED(r.status));
  REQUIRE(WEXITSTATUS(r.status) == 0);
  REQUIRE(r.stats.size() == 5);
  return r;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& part) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().find(part) != std::string::npos) out.push_back(e.path());
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void spit(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// The only kernel file in `dir`, checked to be whole: magic, key, object size, and the object.
fs::path the_kernel_file(const fs::path& dir) {
  std::vector<fs::path> files = files_in(dir, "duet_kernel_");
  REQUIRE(files.size() == 1);
  std::string name = files[0].filename().string();
  CHECK(name.size() == std::string("duet_kernel_0123456789abcdef.o").size());
  CHECK(name.substr(name.size() - 2) == ".o");
  std::string data = slurp(files[0]);
  REQUIRE(data.size() > 7 + 8);
  CHECK(data.compare(0, 7, "DUETK1\n") == 0);
  uint64_t key_size = 0, obj_size = 0;
  std::memcpy(&key_size, data.data() + 7, 8);
  REQUIRE(data.size() >= 7 + 8 + key_size + 16);
  std::memcpy(&obj_size, data.data() + 7 + 8 + key_size, 8);
  CHECK(data.size() == 7 + 8 + key_size + 16 + obj_size);
  return files[0];
}

// Elementwise: the largest |got - want| / max(1, |want|).
double max_rel_diff(const Tensor& got, const Tensor& want) {
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  REQUIRE(g.size() == w.size());
  double m = 0;
  for (size_t i = 0; i < g.size(); ++i)
    m = std::max(m, std::abs(double(g[i]) - w[i]) / std::max(1.0, std::abs(double(w[i]))));
  return m;
}

}  // namespace

// ---- the child: one traced function whose optimized graph is one compiled fusion --------------

TEST_CASE("kernel cache child: run a fusion", "[.][kernel_cache_child]") {
  auto f = function([](Tensor x, Tensor y) { return tanh(x * y) + exp(x); });
  Tensor x = randn({64, 33}, 1), y = randn({64, 33}, 2);
  Tensor got = f(x, y);
  CHECK(max_rel_diff(got, tanh(x * y) + exp(x)) <= 1e-6);
  uint64_t h = 1469598103934665603ull;  // the result's bits, to compare children
  for (float v : got.to_vector<float>()) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    h = (h ^ bits) * 1099511628211ull;
  }
  jit::Stats s = jit::stats();
  std::printf("KCSTATS compiled=%lld memory_hits=%lld disk_hits=%lld disk_rejected=%lld result=%lld\n",
              static_cast<long long>(s.compiled), static_cast<long long>(s.memory_hits),
              static_cast<long long>(s.disk_hits), static_cast<long long>(s.disk_rejected),
              static_cast<long long>(h >> 1));
  std::fflush(stdout);
}

// ---- in process ---------------------------------------------------------------------------------

// NOTE [Compile at lowering] (codegen/lower.cpp).
TEST_CASE("kernel cache: a static trace gets its kernels when it is lowered, before its first run", "[kernel_cache]") {
  if (jit_off()) return;
  auto body = [](Tensor x, Tensor y) { return sigmoid(x * y) * 0.375f - y * x * x; };  // a body no other test uses
  auto f = function(body);
  Tensor a = randn({6, 50}, 31), b = randn({6, 50}, 32);
  jit::Stats s0 = jit::stats();
  auto fetched = [&](const jit::Stats& s) { return s.compiled + s.disk_hits + s.memory_hits - s0.compiled - s0.disk_hits - s0.memory_hits; };
  auto concrete = f.get_concrete_function(a, b);  // traced and lowered, not run
  jit::Stats s1 = jit::stats();
  CHECK(fetched(s1) == 1);
  CHECK(max_rel_diff(f(a, b), body(a, b)) <= 1e-6);
  jit::Stats s2 = jit::stats();
  CHECK(fetched(s2) == 1);  // the first run asked the cache for nothing
}

TEST_CASE("kernel cache: a dynamic-batch trace compiles its kernel once, not per batch size", "[kernel_cache]") {
  if (jit_off()) return;
  auto body = [](Tensor x, Tensor y) { return tanh(x - y) * 1.625f + x * y; };  // a body no other test uses
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 24}), TensorSpec({-1, 24})};
  auto f = function(body, o);
  jit::Stats s0 = jit::stats();
  auto loaded = [&](const jit::Stats& s) { return s.compiled + s.disk_hits - s0.compiled - s0.disk_hits; };
  for (int64_t batch : {3, 5, 9, 1000}) {
    INFO("batch " << batch);
    Tensor x = randn({batch, 24}, static_cast<uint64_t>(batch)), y = randn({batch, 24}, static_cast<uint64_t>(batch) + 1);
    CHECK(max_rel_diff(f(x, y), body(x, y)) <= 1e-6);
    CHECK(loaded(jit::stats()) == 1);  // the first batch's kernel serves every later one
  }
  CHECK(f.trace_count() == 1);
}

TEST_CASE("kernel cache: one kernel per body and broadcast pattern, then memory hits", "[kernel_cache]") {
  if (jit_off()) return;
  // A body no other test uses, so the kernels are new to this process.
  auto body = [](Tensor x, Tensor y) { return exp(tanh(x) * y) - x * y * y; };
  auto f = function(body);
  auto g = function(body);
  Tensor a = randn({8, 40}, 3), b = randn({8, 40}, 4), col = randn({8, 1}, 5);
  Tensor c = randn({3, 7, 5}, 6), d = randn({3, 7, 5}, 7);
  jit::Stats s0 = jit::stats();
  auto loaded = [&](const jit::Stats& s) { return s.compiled + s.disk_hits - s0.compiled - s0.disk_hits; };

  CHECK(max_rel_diff(f(a, b), body(a, b)) <= 1e-6);
  jit::Stats s1 = jit::stats();
  CHECK(loaded(s1) == 1);
  CHECK(max_rel_diff(f(a, b), body(a, b)) <= 1e-6);  // the same call again
  CHECK(max_rel_diff(g(c, d), body(c, d)) <= 1e-6);  // other shapes, same key
  jit::Stats s2 = jit::stats();
  CHECK(loaded(s2) == 1);
  CHECK(s2.memory_hits > s1.memory_hits);
  // y broadcast along the innermost dim: another kernel, once.
  CHECK(max_rel_diff(f(a, col), body(a, col)) <= 1e-6);
  jit::Stats s3 = jit::stats();
  CHECK(loaded(s3) == 2);
  CHECK(max_rel_diff(g(b, col), body(b, col)) <= 1e-6);
  jit::Stats s4 = jit::stats();
  CHECK(loaded(s4) == 2);
  CHECK(s4.memory_hits > s3.memory_hits);
  if (s4.disk_hits == s0.disk_hits) CHECK(s4.compiled - s0.compiled == 2);  // a cold disk cache: compiled both
  CHECK(s4.disk_rejected == s0.disk_rejected);
}

// ---- on disk, in child processes ----------------------------------------------------------------

TEST_CASE("kernel cache: a second process loads the kernel from disk", "[kernel_cache]") {
  TempDir dir("kcache_disk");
  fs::path cache = dir.path / "cache";  // not there yet: the first write makes it
  ChildResult cold = run_child(cache);
  CHECK(cold["compiled"] >= 1);
  CHECK(cold["disk_hits"] == 0);
  CHECK(cold["disk_rejected"] == 0);
  the_kernel_file(cache);
  ChildResult warm = run_child(cache);
  CHECK(warm["compiled"] == 0);
  CHECK(warm["disk_hits"] >= 1);
  CHECK(warm["disk_rejected"] == 0);
  CHECK(warm["result"] == cold["result"]);
  CHECK(files_in(cache, ".tmp.").empty());
}

TEST_CASE("kernel cache: a damaged file is rejected, recompiled and rewritten", "[kernel_cache]") {
  TempDir dir("kcache_damaged");
  ChildResult first = run_child(dir.path);
  const fs::path file = the_kernel_file(dir.path);
  const std::string good = slurp(file);
  uint64_t key_size = 0;
  std::memcpy(&key_size, good.data() + 7, 8);
  const size_t object_at = 7 + 8 + key_size + 16;
  REQUIRE(good.size() > object_at);
  auto damage = [&](const char* what, std::string bad) {
    INFO(what);
    spit(file, bad);
    ChildResult r = run_child(dir.path);
    CHECK(r["disk_rejected"] >= 1);
    CHECK(r["compiled"] >= 1);
    CHECK(r["disk_hits"] == 0);
    CHECK(r["result"] == first["result"]);
    CHECK(slurp(the_kernel_file(dir.path)) == good);  // rewritten whole, under the same name
    ChildResult after = run_child(dir.path);
    CHECK(after["disk_hits"] >= 1);
    CHECK(after["compiled"] == 0);
    CHECK(after["disk_rejected"] == 0);
    CHECK(after["result"] == first["result"]);
  };
  damage("truncated to half", good.substr(0, good.size() / 2));
  damage("one byte short", good.substr(0, good.size() - 1));
  damage("one byte too many", good + "x");
  std::string flipped = good;
  flipped[object_at + (good.size() - object_at) / 2] ^= 0x5a;
  damage("a byte of the object changed", flipped);
  std::string other_key = good;
  other_key[7 + 8 + key_size / 2] ^= 0x01;
  damage("the header names another key", other_key);
  damage("garbage", std::string(good.size(), '\x9c'));
  damage("empty", "");
  CHECK(files_in(dir.path, ".tmp.").empty());
}

TEST_CASE("kernel cache: two processes writing the same kernel at once leave one whole file", "[kernel_cache]") {
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    TempDir dir("kcache_race");
    Child a = start_child(kChild, dir.path.string());
    Child b = start_child(kChild, dir.path.string());
    ChildResult ra = finish_child(a), rb = finish_child(b);
    for (const ChildResult* r : {&ra, &rb}) {
      INFO("child output:\n" << r->output);
      REQUIRE(WIFEXITED(r->status));
      CHECK(WEXITSTATUS(r->status) == 0);
      REQUIRE(r->stats.size() == 5);
      CHECK(r->stats.at("compiled") + r->stats.at("disk_hits") >= 1);
      CHECK(r->stats.at("disk_rejected") == 0);
    }
    CHECK(ra["result"] == rb["result"]);
    the_kernel_file(dir.path);
    CHECK(files_in(dir.path, ".tmp.").empty());
    ChildResult third = run_child(dir.path);
    CHECK(third["disk_hits"] >= 1);
    CHECK(third["compiled"] == 0);
    CHECK(third["disk_rejected"] == 0);
    CHECK(third["result"] == ra["result"]);
  }
}

TEST_CASE("kernel cache: an unwritable cache dir still computes, compiling every time", "[kernel_cache]") {
  TempDir dir("kcache_unwritable");
  spit(dir.path / "plain_file", "not a directory");
  for (const fs::path& cache : {dir.path / "plain_file", dir.path / "plain_file" / "sub"}) {
    INFO("DUET_CACHE_DIR=" << cache);
    for (int i = 0; i < 2; ++i) {
      ChildResult r = run_child(cache);
      CHECK(r["compiled"] >= 1);
      CHECK(r["disk_hits"] == 0);
    }
  }
  CHECK(slurp(dir.path / "plain_file") == "not a directory");
  CHECK(files_in(dir.path, "duet_kernel_").empty());
}
