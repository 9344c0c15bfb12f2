// duet-bench: runs the workloads of WORKLOADS.md with their floors in one
// process, prints a table and, with --json FILE, writes the shared JSON shape.
#include <algorithm>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <duet/duet.h>

#include "report.h"
#include "workloads.h"

namespace duet::bench {
namespace {

constexpr const char* kUsage =
    "usage: duet-bench [--quick] [--only NAMES] [--threads N] [--json FILE] [--svg FILE]\n"
    "  --quick        fewer repeats: for development, not for numbers to keep\n"
    "  --only NAMES   comma-separated subset of W1,W2,W3a,W3b,W4,W5,W5-compile,W6,W7,\n"
    "                 add,matmul (default: all); the STREAM triad runs whenever W2,\n"
    "                 W3a, W3b or add does\n"
    "  --threads N    size of the kernel thread team (duet::set_num_threads)\n"
    "  --json FILE    also write the results as JSON (shape: WORKLOADS.md)\n"
    "  --svg FILE     also draw a bar chart: each workload's eager and traced speed as a share of its floor\n";

const std::vector<std::string> kWorkloadNames = {"W1", "W2", "W3a", "W3b", "W4",  "W5",
                                                  "W5-compile", "W6", "W7", "add", "matmul"};

// A mistake on the command line: reported with the usage, exit status 2.
struct UsageError {
  std::string message;
};

struct Options {
  bool quick = false;
  std::set<std::string> only;  // empty: everything
  int threads = 0;             // 0: duet's default
  std::string json_path;
  std::string svg_path;
  bool help = false;
  // Hidden, for W5-compile's child processes (compile.cpp): time one first
  // call with the JIT's kernel cache in this directory, print, exit.
  std::string compile_probe_dir;

  bool wants(const std::string& name) const { return only.empty() || only.count(name) > 0; }
};

// Warm-up and timed repeats of each measurement, full and --quick, in one place.
struct Plan {
  Repeats dispatch, ew_chain, add, triad, matmul, train;
  Repeats rows;          // W3a, W3b
  Repeats forward;       // W4, W6, W7 and their floors
  Repeats compile_disk;  // pairs of child processes (cold, warm-disk), ~0.3 s each; no warm-up
  Repeats first_call;    // fresh traced W5 steps (warm-memory)
};
// Rounds per group of compared measurements (NOTE [Interleaved rounds]).
constexpr int kRounds = 5;

constexpr Plan kFullPlan{{20, 200}, {2, 15}, {3, 30}, {3, 30}, {3, 30}, {3, 30}, {3, 30}, {3, 30}, {0, 5}, {1, 10}};
constexpr Plan kQuickPlan{{5, 30}, {1, 3}, {1, 5}, {1, 5}, {1, 5}, {1, 5}, {1, 5}, {1, 5}, {0, 1}, {1, 3}};

int parse_threads(const std::string& text) {
  size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || n < 1) throw UsageError{fmt::format("--threads wants a positive integer, got '{}'", text)};
  return n;
}

std::set<std::string> parse_only(const std::string& text) {
  std::set<std::string> names;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(begin, end - begin);
    bool known = false;
    for (const std::string& k : kWorkloadNames) known = known || k == name;
    if (!known)
      throw UsageError{fmt::format("--only: unknown workload '{}' (known: {})", name, fmt::join(kWorkloadNames, ","))};
    names.insert(name);
    begin = end + 1;
  }
  return names;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) throw UsageError{fmt::format("{} needs a value", arg)};
      return argv[++i];
    };
    if (arg == "--quick" && !has_value) {
      o.quick = true;
    } else if ((arg == "--help" || arg == "-h") && !has_value) {
      o.help = true;
    } else if (arg == "--only") {
      o.only = parse_only(take_value());
    } else if (arg == "--threads") {
      o.threads = parse_threads(take_value());
    } else if (arg == "--compile-probe") {
      o.compile_probe_dir = take_value();
    } else if (arg == "--json") {
      o.json_path = take_value();
      if (o.json_path.empty()) throw UsageError{"--json needs a file name"};
    } else if (arg == "--svg") {
      o.svg_path = take_value();
      if (o.svg_path.empty()) throw UsageError{"--svg needs a file name"};
    } else {
      throw UsageError{fmt::format("unknown argument '{}'", argv[i])};
    }
  }
  return o;
}

void progress(std::string_view what) { std::cerr << "duet-bench: " << what << "...\n"; }

Row& add_row(Report& report, std::string workload, std::string mode, std::string metric,
             std::optional<Summary> value) {
  Row row;
  row.workload = std::move(workload);
  row.mode = std::move(mode);
  row.metric = std::move(metric);
  row.value = value;
  return report.rows.emplace_back(std::move(row));
}

Report run(const Options& o) {
  const Plan& plan = o.quick ? kQuickPlan : kFullPlan;
  Report report;
  report.machine.cpu = cpu_model();
  report.machine.threads = num_threads();

  if (o.wants("W1")) {
    progress("W1 dispatch");
    add_row(report, "W1", "eager", "us_per_op", dispatch_eager(plan.dispatch));
    add_row(report, "W1", "traced", "us_per_op", dispatch_traced(plan.dispatch));
  }
  // NOTE [Interleaved rounds]
  // The machine's speed drifts over seconds (other tenants: the triad has
  // read 34 to 81 GB/s on one machine), so a floor measured before its
  // workload says little about the workload's moment. Each group of
  // measurements that are compared (a workload's eager, traced and floor
  // rows; the triad and the memory-bound workloads) runs in rounds: every
  // measurement of the group takes a share of its repeats per round, in
  // turn, and a row's figures are over the samples of all rounds.
  const int rounds = o.quick ? 1 : kRounds;
  auto share = [&](const Repeats& r) { return Repeats{r.warmup, std::max(1, r.repeats / rounds)}; };
  struct Measure {
    const char *workload, *mode, *metric;
    std::function<Summary(const Repeats&)> fn;
    Repeats repeats;
    const char* floor_workload = nullptr;
    bool in_json = true;
    std::vector<Summary> parts;
  };
  auto run_group = [&](std::vector<Measure> group) {
    for (int k = 0; k < rounds; ++k)
      for (Measure& m : group) {
        progress(fmt::format("{} {} (round {} of {})", m.workload, m.mode, k + 1, rounds));
        m.parts.push_back(m.fn(share(m.repeats)));
      }
    std::vector<Summary> out;
    for (Measure& m : group) {
      Summary sum = merged(m.parts);
      out.push_back(sum);
      Row& row = add_row(report, m.workload, m.mode, m.metric, sum);
      if (m.floor_workload) row.floor_workload = m.floor_workload;
      row.in_json = m.in_json;
    }
    return out;
  };
  if (o.wants("W2") || o.wants("W3a") || o.wants("W3b") || o.wants("add")) {
    // The triad is W2's floor, and W3's; without W2 it stays in the table
    // for the others (the JSON has it as machine.triad_gbps).
    std::vector<Measure> group;
    if (o.wants("W2")) {
      group.push_back({"W2", "eager", "gbps", ew_chain_eager, plan.ew_chain});
      group.push_back({"W2", "traced", "gbps", ew_chain_traced, plan.ew_chain, "W2"});
    }
    group.push_back({"W2", "floor", "gbps", triad, plan.triad, nullptr, o.wants("W2")});
    if (o.wants("W3a")) {
      group.push_back({"W3a", "eager", "gbps", softmax_eager, plan.rows, "W2"});
      group.push_back({"W3a", "traced", "gbps", softmax_traced, plan.rows, "W2"});
    }
    if (o.wants("W3b")) {
      group.push_back({"W3b", "eager", "gbps", layernorm_eager, plan.rows, "W2"});
      group.push_back({"W3b", "traced", "gbps", layernorm_traced, plan.rows, "W2"});
    }
    if (o.wants("add")) group.push_back({"add-2^24", "eager", "gbps", add_eager, plan.add, "W2"});
    const size_t triad_at = o.wants("W2") ? 2 : 0;
    report.machine.triad_gbps = run_group(std::move(group))[triad_at].median;
  }
  // A workload measured eager, traced and against its floor, in one unit.
  auto trio = [&](const char* id, const char* what, const char* metric, auto eager, auto traced, auto floor,
                  const Repeats& r) {
    if (!o.wants(id)) return;
    progress(fmt::format("{} {}", id, what));
    run_group({{id, "eager", metric, eager, r}, {id, "traced", metric, traced, r}, {id, "floor", metric, floor, r}});
  };
  trio("W4", "mlp-infer", "ms", mlp_infer_eager, mlp_infer_traced, mlp_infer_floor, plan.forward);
  trio("W5", "mlp-train", "ms_per_step", mlp_train_eager, mlp_train_traced, mlp_train_floor, plan.train);
  if (o.wants("W5-compile")) {
    progress("W5-compile");
    DiskCompileTimes disk = compile_from_disk(plan.compile_disk, num_threads());
    add_row(report, "W5-compile", "cold", "ms", disk.cold);
    add_row(report, "W5-compile", "warm-disk", "ms", disk.warm_disk);
    add_row(report, "W5-compile", "warm-memory", "ms", compile_warm_memory(plan.first_call));
  }
  trio("W6", "rnn-small", "ms", rnn_eager, rnn_traced, rnn_floor, plan.forward);
  trio("W7", "cnn", "ms", cnn_eager, cnn_traced, cnn_floor, plan.forward);
  if (o.wants("matmul")) {
    progress("matmul-1024");
    add_row(report, "matmul-1024", "eager", "ms", matmul_eager(plan.matmul));
    Summary floor = matmul_onednn(plan.matmul);
    add_row(report, "matmul-1024", "floor", "ms", floor);
    const double flops = 2.0 * kMatmulSize * kMatmulSize * kMatmulSize;
    report.machine.matmul_gflops = flops / (floor.median * 1e-3) / 1e9;
  }
  return report;
}

}  // namespace
}  // namespace duet::bench

int main(int argc, char** argv) {
  using namespace duet::bench;
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "duet-bench: " << e.message << "\n" << kUsage;
    return 2;
  }
  if (options.help) {
    std::cout << kUsage;
    return 0;
  }
  try {
    if (!options.json_path.empty()) check_writable(options.json_path);
    if (!options.svg_path.empty()) check_writable(options.svg_path);
    if (options.threads > 0) duet::set_num_threads(options.threads);
    if (!options.compile_probe_dir.empty()) {
      compile_probe(options.compile_probe_dir);
      return 0;
    }
    Report report = run(options);
    print_table(report, std::cout);
    if (!options.json_path.empty()) {
      write_json(report, options.json_path);
      std::cout << "wrote " << options.json_path << "\n";
    }
    if (!options.svg_path.empty()) {
      write_svg(report, options.svg_path);
      std::cout << "wrote " << options.svg_path << "\n";
    }
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "duet-bench: error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "duet-bench: error: unknown exception\n";
    return 1;
  }
  return 0;
}
