// How duet-bench times things: warm-up then repeats on steady_clock, a sink
// that keeps results observable, and the median/min/max summary.
#pragma once

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace duet::bench {

// How often one workload body runs: untimed warm-up, then timed repeats.
struct Repeats {
  int warmup = 1;
  int repeats = 5;
};

struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
  std::vector<double> values;  // every sample, in the metric's unit, sorted
};

// A value read from each result after the clock stops, so the timed work
// cannot be dropped as dead code and the reading itself is not timed.
void consume(double value);

inline double gbps(double bytes, double seconds) { return bytes / seconds / 1e9; }

inline Summary summarize(std::vector<double> values) {
  if (values.empty()) throw std::logic_error("summarize: no samples");
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  double lo = values.front(), hi = values.back();
  return {median, lo, hi, std::move(values)};
}

// One summary of the samples of several (the rounds of one measurement).
inline Summary merged(const std::vector<Summary>& parts) {
  std::vector<double> all;
  for (const Summary& p : parts) all.insert(all.end(), p.values.begin(), p.values.end());
  return summarize(std::move(all));
}

// Maps each sample with f: seconds -> metric. f is monotonic, so for a
// decreasing one (a rate) min and max swap back into order.
template <class F>
Summary summarize_as(const std::vector<double>& seconds, F f) {
  std::vector<double> values;
  values.reserve(seconds.size());
  for (double s : seconds) values.push_back(f(s));
  return summarize(std::move(values));
}

// Runs body() r.warmup + r.repeats times and returns the seconds of each
// timed run. body returns what it computed; check(result) runs after the
// clock stops (it verifies and consumes the result), and the result is
// destroyed only after that, so freeing is not timed but allocating is.
template <class Body, class Check>
std::vector<double> time_repeats(const Repeats& r, Body&& body, Check&& check) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < r.warmup; ++i) check(body());
  std::vector<double> seconds;
  seconds.reserve(static_cast<size_t>(r.repeats));
  for (int i = 0; i < r.repeats; ++i) {
    auto start = clock::now();
    auto result = body();
    auto stop = clock::now();
    check(result);
    seconds.push_back(std::chrono::duration<double>(stop - start).count());
  }
  return seconds;
}

}  // namespace duet::bench
