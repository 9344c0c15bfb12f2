// The pass manager: pipelines by name, verification between passes, IR
// dumps (DUET_DUMP=dir, --print-after-all) and per-pass statistics.
#include <duet/passes/pass.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>

namespace duet::passes {

PassRegistry& PassRegistry::get() {
  static auto* r = new PassRegistry;  // never destroyed
  return *r;
}

bool PassRegistry::add(std::string name, PassFn fn, std::string summary) {
  DUET_CHECK(!find(name), "pass registered twice: " + name);
  passes_.push_back({std::move(name), fn, std::move(summary)});
  return true;
}

const PassInfo* PassRegistry::find(const std::string& name) const {
  for (const PassInfo& p : passes_)
    if (p.name == name) return &p;
  return nullptr;
}

bool PassRegistry::add_pipeline(std::string name, std::string passes, std::string why) {
  pipelines_[std::move(name)] = std::move(passes);
  (void)why;  // the justification lives in the source, next to the declaration
  return true;
}

const std::string* PassRegistry::pipeline(const std::string& name) const {
  auto it = pipelines_.find(name);
  return it == pipelines_.end() ? nullptr : &it->second;
}

static std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

PassManager::PassManager(const std::string& spec, PassManagerOptions options) : options_(std::move(options)) {
  const PassRegistry& reg = PassRegistry::get();
  for (const std::string& item : split(spec)) {
    if (const std::string* pipe = reg.pipeline(item)) {
      for (const std::string& p : split(*pipe)) {
        const PassInfo* info = reg.find(p);
        DUET_CHECK(info != nullptr, "pipeline " + item + " names unknown pass " + p);
        passes_.push_back(info);
      }
      continue;
    }
    const PassInfo* info = reg.find(item);
    if (!info) {
      std::string known;
      for (const PassInfo& p : reg.all()) known += (known.empty() ? "" : ", ") + p.name;
      throw Error(fmt::format("unknown pass or pipeline '{}' (passes: {})", item, known));
    }
    passes_.push_back(info);
  }
#ifndef NDEBUG
  options_.verify_each = true;
#endif
  if (options_.dump_dir.empty())
    if (const char* dir = std::getenv("DUET_DUMP")) options_.dump_dir = dir;
}

static void dump(const std::string& dir, const Graph& g, int index, const std::string& stage) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IOError(fmt::format("DUET_DUMP: cannot create '{}': {}", dir, ec.message()));
  std::string name = g.name().empty() ? "func" : g.name();
  std::string path = fmt::format("{}/{}.{:02d}-{}.duet", dir, name, index, stage);
  std::ofstream out(path);
  if (!out) throw IOError(fmt::format("DUET_DUMP: cannot write '{}'", path));
  out << print_graph(g);
}

std::vector<PassRun> PassManager::run(Graph& g, const TargetInfo* target) const {
  std::vector<PassRun> runs;
  if (!options_.dump_dir.empty()) dump(options_.dump_dir, g, 0, "input");
  PassContext ctx;
  ctx.target = target;
  int index = 1;
  for (const PassInfo* p : passes_) {
    PassRun r;
    r.pass = p->name;
    r.nodes_before = g.total_nodes();
    ctx.reset();
    auto t0 = std::chrono::steady_clock::now();
    r.changed = p->fn(g, ctx).changed;
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.nodes_after = g.total_nodes();
    r.stats = ctx.stats();
    r.remarks = ctx.remarks();
    if (options_.verify_each) {
      try {
        verify(g);
      } catch (const Error& e) {
        throw Error(fmt::format("after pass '{}': {}", p->name, e.what()));
      }
    }
    if (options_.print_after_all) *options_.print_after_all << "// -----// IR after " << p->name << " //----- //\n" << print_graph(g);
    if (!options_.dump_dir.empty()) dump(options_.dump_dir, g, index, p->name);
    ++index;
    runs.push_back(std::move(r));
  }
  return runs;
}

std::string format_statistics(const std::vector<PassRun>& runs) {
  std::string s = fmt::format("{:<24} {:>7} {:>8} {:>8} {:>9}  {}\n", "pass", "changed", "before", "after", "ms", "stats");
  for (const PassRun& r : runs) {
    std::string stats;
    for (const auto& [k, v] : r.stats) stats += fmt::format("{}={} ", k, v);
    s += fmt::format("{:<24} {:>7} {:>8} {:>8} {:>9.3f}  {}\n", r.pass, r.changed ? "yes" : "no", r.nodes_before,
                     r.nodes_after, r.ms, stats);
  }
  return s;
}

}  // namespace duet::passes
