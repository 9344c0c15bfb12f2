// Eager ops from many threads at once give results bitwise equal to the same computation on one thread.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace duet;

namespace {

// One job's results as raw bytes, so "equal" means bitwise equal.
using Bytes = std::vector<unsigned char>;

template <class T>
void append(Bytes& out, const Tensor& t) {
  if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
    for (bool b : t.to_vector<bool>()) out.push_back(b ? 1 : 0);
  } else {
    std::vector<T> v = t.to_vector<T>();
    size_t at = out.size();
    out.resize(at + v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(out.data() + at, v.data(), v.size() * sizeof(T));
  }
}

// A mix of eager ops sized to take the kernels' parallel paths (more than
// 2 * 32768 elements), seeded by the job number.
Bytes run_job(int job) {
  const uint64_t seed = 1000 + uint64_t(job) * 17;
  Bytes out;
  Tensor x = randn({512, 384}, seed);                    // 196,608 elements
  Tensor bias = randn({384}, seed + 1);
  Tensor act = tanh(x * 0.5f + bias) - sigmoid(x) * 2.f;  // elementwise with broadcasting
  append<float>(out, act);
  Tensor w = randn({384, 256}, seed + 2);
  Tensor h = matmul(act, w);                             // f32 [512,256] through the library kernel
  append<float>(out, h);
  append<float>(out, sum(h, {1}));                       // row sums: parallel over rows
  append<float>(out, sum(h, {0}));
  append<float>(out, sum(x));
  Tensor p = softmax(h * 0.1f);
  append<float>(out, p);
  append<float>(out, log_softmax(h, 0));
  append<bool>(out, h > 0.f);
  Tensor hd = matmul(cast(act, DType::f64), cast(w, DType::f64));  // f64: duet's own matmul kernel
  append<double>(out, hd);
  Tensor counts = arange(200000) % (job + 3) * 7 - 11;             // i32 elementwise
  append<int32_t>(out, counts);
  append<int32_t>(out, sum(counts));
  return out;
}

}  // namespace

TEST_CASE("threads: 8 threads of eager ops match one thread bitwise", "[threads]") {
  constexpr int kJobs = 4, kThreads = 8, kRounds = 2;
  std::vector<Bytes> reference;
  for (int j = 0; j < kJobs; ++j) reference.push_back(run_job(j));
  REQUIRE(reference[0] != reference[1]);  // the jobs differ, so a mixed-up result would show

  std::vector<std::vector<Bytes>> results(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([t, &results, &errors] {
      try {
        for (int r = 0; r < kRounds; ++r) results[t].push_back(run_job((t + r) % kJobs));
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : pool) th.join();

  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(errors[t] == "");
    REQUIRE(results[t].size() == size_t(kRounds));
    for (int r = 0; r < kRounds; ++r) {
      INFO("round " << r << ", job " << (t + r) % kJobs);
      const Bytes& want = reference[(t + r) % kJobs];
      CHECK(results[t][r].size() == want.size());
      CHECK(results[t][r] == want);
    }
  }
}

TEST_CASE("threads: concurrent assigns and reads of one variable are safe", "[threads]") {
  Variable v(full({4096}, -1), "shared");
  std::vector<std::string> errors(8);
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([t, &v, &errors] {
      try {
        for (int k = 0; k < 3000; ++k) {
          v.assign(full({4096}, t));
          // Small tensors of junk reuse freed blocks, so a read of a value
          // that another thread already released would see garbage.
          for (int64_t n : {4, 8, 16, 24}) (void)full({n}, 1e30);
          std::vector<float> seen = v.value().to_vector<float>();
          if (std::any_of(seen.begin(), seen.end(), [&](float x) { return x != seen[0]; }) || seen[0] < 0 ||
              seen[0] >= 8)
            errors[t] = "a torn or foreign value was read";
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  for (const std::string& e : errors) CHECK(e == "");
  std::vector<float> last = v.value().to_vector<float>();
  CHECK(std::all_of(last.begin(), last.end(), [&](float x) { return x == last[0]; }));
  CHECK(last[0] >= 0);
}
