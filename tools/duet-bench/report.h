// What a duet-bench run found, and its two outputs: the table on stdout and
// the JSON file whose shape /work/shared/WORKLOADS.md fixes.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "timing.h"

namespace duet::bench {

// One line of results. value is empty for a mode that does not exist yet:
// the table prints it as n/a and the JSON leaves it out.
struct Row {
  std::string workload;  // "W1", "add-2^24", ...
  std::string mode;      // "eager", "traced" or "floor"
  std::string metric;    // "us_per_op", "gbps", "ms"
  std::optional<Summary> value;
  // The floor this row is judged against, when it is another workload's
  // (add-2^24 against W2's triad); empty means the row (workload, "floor").
  std::string floor_workload;
  bool in_json = true;
};

struct Machine {
  std::string cpu;
  int threads = 0;
  std::optional<double> triad_gbps;     // null in the JSON when not measured
  std::optional<double> matmul_gflops;  // (--only without W2/add or matmul)
};

struct Report {
  Machine machine;
  std::vector<Row> rows;
};

// The "model name" of /proc/cpuinfo, or "unknown".
std::string cpu_model();

void print_table(const Report& report, std::ostream& out);
// Throws duet::IOError when the file cannot be written.
void write_json(const Report& report, const std::string& path);
// A bar chart (SVG): for each workload with a floor, eager and traced speed
// as a share of the floor's; W1 as traced/eager. Throws duet::IOError when
// the file cannot be written.
void write_svg(const Report& report, const std::string& path);
// Throws duet::IOError unless path can be opened for writing (creating it),
// so a bad --json path fails before the run rather than after.
void check_writable(const std::string& path);

}  // namespace duet::bench
