// The two modes of a workload, eager and traced, timed the same way: the
// same callable runs directly or as one duet::function.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include <duet/duet.h>

#include "timing.h"

namespace duet::bench {

// Seconds of each timed sample of `calls` calls of f(inputs...), eagerly or
// through one duet::function named `name` (traced once: a retrace means the
// timed calls paid for tracing, an error). check(result) sees each sample's
// last result, after the clock stops.
template <class F, class Check, class... Inputs>
std::vector<double> time_mode(const std::string& name, bool traced, const Repeats& r, int calls, F f, Check check,
                              const Inputs&... inputs) {
  FunctionOptions options;
  options.name = name;
  auto compiled = function(f, options);
  auto body = [&] {
    Tensor y;
    for (int i = 0; i < calls; ++i) y = traced ? compiled(inputs...) : f(inputs...);
    return y;
  };
  auto seconds = time_repeats(r, body, check);
  if (traced && compiled.trace_count() != 1)
    throw Error(fmt::format("{}: traced {} times, not once", name, compiled.trace_count()));
  return seconds;
}

}  // namespace duet::bench
