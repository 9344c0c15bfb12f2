// The table duet-bench prints and the JSON it writes (shape: WORKLOADS.md).
#include "report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <duet/graph/error.h>

namespace duet::bench {
namespace {

// Rates grow with speed; every other metric is a time.
bool higher_is_better(const std::string& metric) { return metric == "gbps" || metric == "gflops"; }

// How much faster `row` is than `base`, on the same metric: > 1 is faster.
double speed_ratio(const std::string& metric, double row, double base) {
  return higher_is_better(metric) ? row / base : base / row;
}

const Row* find_row(const Report& report, const std::string& workload, const std::string& mode) {
  for (const Row& r : report.rows)
    if (r.workload == workload && r.mode == mode) return &r;
  return nullptr;
}

std::string number(double v) {
  if (std::fabs(v) >= 100) return fmt::format("{:.1f}", v);
  if (std::fabs(v) >= 10) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

// Traced speed over eager speed, shown on the traced row.
std::string traced_column(const Report& report, const Row& row) {
  if (row.mode != "traced") return "-";
  const Row* eager = find_row(report, row.workload, "eager");
  if (!eager) return "-";
  if (!eager->value || !row.value) return "n/a";
  return fmt::format("{:.2f}x", speed_ratio(row.metric, row.value->median, eager->value->median));
}

// This row's speed as a share of the floor's.
std::string floor_column(const Report& report, const Row& row) {
  if (row.mode == "floor" || !row.value) return "-";
  const Row* floor = find_row(report, row.floor_workload.empty() ? row.workload : row.floor_workload, "floor");
  if (!floor || !floor->value) return "-";
  return fmt::format("{:.0f}%", 100 * speed_ratio(row.metric, row.value->median, floor->value->median));
}

double round_significant(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return v;
  double scale = std::pow(10.0, digits - 1 - static_cast<int>(std::floor(std::log10(std::fabs(v)))));
  return std::round(v * scale) / scale;
}

nlohmann::ordered_json optional_number(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(round_significant(*v, 4)) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    size_t begin = line.find_first_not_of(" \t", colon + 1);
    return begin == std::string::npos ? "unknown" : line.substr(begin);
  }
  return "unknown";
}

void print_table(const Report& report, std::ostream& out) {
  const Machine& m = report.machine;
  out << fmt::format("cpu: {}   threads: {}\n", m.cpu, m.threads);
  out << fmt::format("triad: {}   oneDNN matmul 1024^3: {}\n\n",
                     m.triad_gbps ? number(*m.triad_gbps) + " GB/s" : "not measured",
                     m.matmul_gflops ? number(*m.matmul_gflops) + " GFLOP/s" : "not measured");

  constexpr const char* kLine = "{:<12} {:<11} {:<11} {:>9} {:>9} {:>9} {:>13} {:>9}\n";
  out << fmt::format(kLine, "workload", "mode", "metric", "median", "min", "max", "traced/eager", "vs floor");
  for (const Row& r : report.rows) {
    std::string median = r.value ? number(r.value->median) : "n/a";
    std::string min = r.value ? number(r.value->min) : "n/a";
    std::string max = r.value ? number(r.value->max) : "n/a";
    out << fmt::format(kLine, r.workload, r.mode, r.metric, median, min, max, traced_column(report, r),
                       floor_column(report, r));
  }
  out << "\nRatios compare medians by speed, higher is better. vs floor: share of the floor's speed, the floor\n"
         "being measured in this run: the STREAM triad for W2, W3a, W3b and add-2^24; for W4-W7 and matmul,\n"
         "the workload's matmuls and convolutions alone, oneDNN called directly. A workload's rows and its\n"
         "floor are measured in interleaved rounds (5; --quick: 1), so they share the machine's moments.\n"
         "W5-compile: the first call of a fresh traced W5 step, kernels compiled (cold), from the disk\n"
         "cache, or already in memory.\n";

  const Row* duet_mm = find_row(report, "matmul-1024", "eager");
  const Row* dnnl_mm = find_row(report, "matmul-1024", "floor");
  if (duet_mm && dnnl_mm && duet_mm->value && dnnl_mm->value)
    out << fmt::format("matmul-1024: duet {} ms / oneDNN {} ms = {:.3f}\n", number(duet_mm->value->median),
                       number(dnnl_mm->value->median), duet_mm->value->median / dnnl_mm->value->median);
}

void write_json(const Report& report, const std::string& path) {
  nlohmann::ordered_json doc;
  const Machine& m = report.machine;
  doc["machine"] = {{"cpu", m.cpu},
                    {"threads", m.threads},
                    {"triad_gbps", optional_number(m.triad_gbps)},
                    {"matmul_gflops", optional_number(m.matmul_gflops)}};
  doc["results"] = nlohmann::ordered_json::array();
  for (const Row& r : report.rows) {
    if (!r.in_json || !r.value) continue;
    doc["results"].push_back({{"workload", r.workload},
                              {"mode", r.mode},
                              {"metric", r.metric},
                              {"median", round_significant(r.value->median, 4)},
                              {"min", round_significant(r.value->min, 4)},
                              {"max", round_significant(r.value->max, 4)}});
  }
  std::ofstream out(path);
  if (!out) throw IOError(fmt::format("cannot open '{}' for writing", path));
  out << doc.dump(2) << "\n";
  out.close();
  if (!out) throw IOError(fmt::format("failed writing '{}'", path));
}

void check_writable(const std::string& path) {
  std::ofstream out(path, std::ios::app);
  if (!out) throw IOError(fmt::format("cannot open '{}' for writing", path));
}

void write_svg(const Report& report, const std::string& path) {
  struct Bar {
    std::string workload;
    double eager = -1, traced = -1;  // share of the floor's speed; -1: not measured
  };
  std::vector<Bar> bars;
  for (const Row& r : report.rows) {
    if (r.mode != "eager" && r.mode != "traced") continue;
    if (!r.value) continue;
    const Row* floor = find_row(report, r.floor_workload.empty() ? r.workload : r.floor_workload, "floor");
    if (!floor || !floor->value) continue;
    if (bars.empty() || bars.back().workload != r.workload) bars.push_back({r.workload});
    double share = speed_ratio(r.metric, r.value->median, floor->value->median);
    (r.mode == "eager" ? bars.back().eager : bars.back().traced) = share;
  }
  const int width = std::max(760, 120 + 90 * static_cast<int>(bars.size())), height = 360, top = 50, bottom = 300;
  double scale_max = 1.2;
  for (const Bar& b : bars) scale_max = std::max({scale_max, b.eager * 1.05, b.traced * 1.05});
  auto y = [&](double share) { return bottom - (bottom - top) * share / scale_max; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);
  svg += fmt::format("<text x=\"10\" y=\"20\" font-size=\"14\">duet-bench: speed as a share of each workload's "
                     "floor ({} threads; {})</text>\n",
                     report.machine.threads, report.machine.cpu);
  for (double g = 0; g <= scale_max + 1e-9; g += 0.2) {
    svg += fmt::format("<line x1=\"60\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n", width - 20, y(g), y(g),
                       std::fabs(g - 1) < 1e-9 ? "#c00" : "#ddd");
    svg += fmt::format("<text x=\"55\" y=\"{:.1f}\" text-anchor=\"end\">{:.0f}%</text>\n", y(g) + 4, 100 * g);
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const double x = 80 + 90.0 * static_cast<double>(i);
    auto bar = [&](double share, double dx, const char* color) {
      if (share < 0) return;
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"30\" height=\"{:.1f}\" fill=\"{}\"/>\n", x + dx,
                         y(share), bottom - y(share), color);
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"10\">{:.0f}%</text>\n",
                         x + dx + 15, y(share) - 3, 100 * share);
    };
    bar(bars[i].eager, 0, "#999");
    bar(bars[i].traced, 32, "#2a6fdb");
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x + 31, bottom + 16,
                       bars[i].workload);
  }
  svg += fmt::format("<rect x=\"80\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#999\"/><text x=\"96\" y=\"{}\">eager"
                     "</text>\n<rect x=\"150\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#2a6fdb\"/><text x=\"166\" "
                     "y=\"{}\">traced</text>\n<text x=\"240\" y=\"{}\">red line: the floor (STREAM triad for W2-W3, "
                     "oneDNN alone for W4-W7)</text>\n",
                     bottom + 32, bottom + 43, bottom + 32, bottom + 43, bottom + 43);
  svg += "</svg>\n";
  std::ofstream out(path, std::ios::trunc);
  out << svg;
  if (!out) throw IOError(fmt::format("duet-bench: cannot write '{}'", path));
}

}  // namespace duet::bench
