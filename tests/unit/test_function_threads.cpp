// One duet::function from many threads: right results, one trace per signature, failed traces wake waiters.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace duet;

namespace {

constexpr int kThreads = 8;

// Runs body(thread_index) on kThreads threads released at once; returns the
// messages of everything they threw.
template <class F>
std::vector<std::string> run_threads(F body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      try {
        body(t);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(e.what());
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back("unknown exception");
      }
    });
  while (ready.load() < kThreads) std::this_thread::yield();
  go = true;
  for (std::thread& th : threads) th.join();
  return errors;
}

Tensor body(const Tensor& x, const Tensor& y) { return sum(tanh(x * y + 1.f) - y * 0.5f, {1}); }

}  // namespace

TEST_CASE("function threads: 8 threads x 1000 calls over 3 signatures", "[function]") {
  auto f = function([](Tensor x, Tensor y) { return body(x, y); });
  const std::vector<Shape> shapes{{4, 8}, {16, 8}, {3, 5}};
  std::vector<std::vector<Tensor>> xs(shapes.size()), ys(shapes.size());
  std::vector<std::vector<std::vector<float>>> want(shapes.size());
  for (size_t s = 0; s < shapes.size(); ++s)
    for (uint64_t k = 0; k < 4; ++k) {  // four inputs per signature, so results differ per call
      xs[s].push_back(randn(shapes[s], 100 * s + k));
      ys[s].push_back(randn(shapes[s], 100 * s + k + 50));
      want[s].push_back(body(xs[s].back(), ys[s].back()).to_vector<float>());
    }
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::string> errors = run_threads([&](int t) {
    for (int i = 0; i < 1000; ++i) {
      size_t s = static_cast<size_t>(i + t) % shapes.size();
      size_t k = static_cast<size_t>(i / 3 + t) % 4;
      Tensor out = f(xs[s][k], ys[s][k]);
      if (out.to_vector<float>() != want[s][k]) ++wrong;
      ++done;
    }
  });
  INFO("first error: " << (errors.empty() ? std::string("none") : errors.front()));
  CHECK(errors.empty());
  CHECK(done.load() == kThreads * 1000);
  CHECK(wrong.load() == 0);
  CHECK(f.trace_count() == 3);
}

TEST_CASE("function threads: racing first calls with one signature make one trace", "[function]") {
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> traced{0};
    auto f = function([&traced](Tensor x) {
      ++traced;
      std::this_thread::yield();
      return exp(x) * 2.f;
    });
    Tensor x = randn({6, 7}, static_cast<uint64_t>(round));
    std::vector<float> want = (exp(x) * 2.f).to_vector<float>();
    std::atomic<int> wrong{0};
    std::vector<std::string> errors = run_threads([&](int) {
      if (f(x).to_vector<float>() != want) ++wrong;
    });
    INFO("round " << round);
    CHECK(errors.empty());
    CHECK(wrong.load() == 0);
    CHECK(f.trace_count() == 1);
    CHECK(traced.load() == 1);
  }
}

TEST_CASE("function threads: a failing trace gives every concurrent caller the error", "[function]") {
  for (int round = 0; round < 5; ++round) {
    auto f = function([](Tensor x) {
      std::this_thread::yield();
      return matmul(x, x);  // [3,4] x [3,4]: inner dims differ
    });
    Tensor x = randn({3, 4}, 1);
    std::atomic<int> shape_errors{0};
    std::vector<std::string> errors = run_threads([&](int) {
      try {
        f(x);
      } catch (const ShapeError&) {
        ++shape_errors;
        throw;
      }
    });
    INFO("round " << round);
    CHECK(errors.size() == static_cast<size_t>(kThreads));
    CHECK(shape_errors.load() == kThreads);
    for (const std::string& e : errors) CHECK(e.find("matmul") != std::string::npos);
    CHECK(f.trace_count() == 0);
    // And a later call on this thread gets the error again, without hanging.
    CHECK_THROWS_AS(f(x), ShapeError);
  }
}

TEST_CASE("function threads: each thread updates its own Variable through one function", "[function]") {
  auto step = function([](Variable v, Tensor x) {
    v.assign_add(x);
    return v.value();
  });
  std::vector<Variable> vars;
  for (int t = 0; t < kThreads; ++t) vars.emplace_back(full({3}, t), "v" + std::to_string(t));
  std::atomic<int> wrong{0};
  std::vector<std::string> errors = run_threads([&](int t) {
    Tensor one = ones({3});
    for (int i = 1; i <= 200; ++i)
      if (step(vars[t], one).to_vector<float>() != std::vector<float>(3, float(t + i))) ++wrong;
  });
  CHECK(errors.empty());
  CHECK(wrong.load() == 0);
  for (int t = 0; t < kThreads; ++t) CHECK(vars[t].value().to_vector<float>() == std::vector<float>(3, t + 200.f));
  CHECK(step.trace_count() == 1);
}

TEST_CASE("function threads: one dynamic trace serves many batch sizes from many threads", "[function]") {
  FunctionOptions o;
  o.input_signature = {TensorSpec({-1, 8}, DType::f32)};
  auto f = function([](Tensor x) { return sum(relu(x) * 3.f - x, {1}); }, o);
  // More batch sizes than the Program memoizes shape plans for (256), so
  // plans are dropped while other threads use them.
  constexpr int kSizes = 300;
  std::vector<Tensor> xs;
  std::vector<std::vector<float>> want;
  for (int b = 1; b <= kSizes; ++b) {
    xs.push_back(randn({b, 8}, static_cast<uint64_t>(b)));
    want.push_back(sum(relu(xs.back()) * 3.f - xs.back(), {1}).to_vector<float>());
  }
  std::atomic<int> wrong{0};
  std::vector<std::string> errors = run_threads([&](int t) {
    for (int i = 0; i < 2 * kSizes; ++i) {
      size_t k = static_cast<size_t>(i * 7 + t * 37) % kSizes;
      if (f(xs[k]).to_vector<float>() != want[k]) ++wrong;
    }
  });
  INFO("first error: " << (errors.empty() ? std::string("none") : errors.front()));
  CHECK(errors.empty());
  CHECK(wrong.load() == 0);
  CHECK(f.trace_count() == 1);
}

namespace {

// Lets up to kThreads traces in flight meet inside the callable, so that
// they overlap for sure; gives up after a bounded wait (a library that
// serializes traces lets only one in).
struct TraceMeeting {
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  void meet() {
    std::unique_lock<std::mutex> lock(mu);
    ++inside;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::milliseconds(300), [&] { return inside >= kThreads; });
  }
};

}  // namespace

TEST_CASE("function threads: overlapping first traces of different signatures each record a reason",
          "[function]") {
  TraceMeeting meeting;
  auto f = function([&meeting](Tensor x) {
    meeting.meet();
    return x * 2.f;
  });
  std::vector<std::string> errors = run_threads([&](int t) {
    Tensor x = ones({t + 1});
    if (f(x).to_vector<float>() != std::vector<float>(static_cast<size_t>(t + 1), 2.f)) throw Error("wrong result");
  });
  INFO("first error: " << (errors.empty() ? std::string("none") : errors.front()));
  CHECK(errors.empty());
  CHECK(f.trace_count() == kThreads);
  // Every trace after the first is a retrace and says why.
  CHECK(f.retrace_reasons().size() == static_cast<size_t>(kThreads - 1));
}

TEST_CASE("function threads: max_traces holds when first calls of different signatures race", "[function]") {
  TraceMeeting meeting;
  FunctionOptions o;
  o.max_traces = 1;
  auto f = function([&meeting](Tensor x) {
    meeting.meet();
    return x + 1.f;
  }, o);
  std::atomic<int> trace_errors{0};
  std::vector<std::string> errors = run_threads([&](int t) {
    try {
      f(ones({t + 1}));
    } catch (const TraceError&) {
      ++trace_errors;
      throw;
    }
  });
  CHECK(f.trace_count() == 1);
  CHECK(trace_errors.load() == kThreads - 1);
  CHECK(errors.size() == static_cast<size_t>(kThreads - 1));
}
