// Passes (DESIGN.md §2.4): a pass is a function over a Graph registered under
// a kebab-case name equal to its file stem and its test file's stem. The pass
// manager runs named pipelines, verifies between passes, dumps IR, and keeps
// statistics.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include <duet/graph/ir.h>
#include <duet/graph/target.h>

namespace duet::passes {

// What a pass reports: whether it changed the graph (XLA's rule).
struct PassResult {
  bool changed = false;
  static PassResult changed_if(bool c) { return PassResult{c}; }
  static PassResult unchanged() { return PassResult{false}; }
};

class PassContext {
 public:
  // A named counter of the current pass: ctx.stat("merged", 3).
  void stat(const std::string& name, int64_t n = 1) { stats_[name] += n; }
  // A decision in words (a fusion that says no says why).
  void remark(std::string text) { remarks_.push_back(std::move(text)); }
  const std::map<std::string, int64_t>& stats() const { return stats_; }
  const std::vector<std::string>& remarks() const { return remarks_; }
  void reset() { stats_.clear(); remarks_.clear(); }
  const TargetInfo* target = nullptr;

 private:
  std::map<std::string, int64_t> stats_;
  std::vector<std::string> remarks_;
};

using PassFn = PassResult (*)(Graph&, PassContext&);

struct PassInfo {
  std::string name;
  PassFn fn;
  std::string summary;
};

class PassRegistry {
 public:
  static PassRegistry& get();
  bool add(std::string name, PassFn fn, std::string summary);
  const PassInfo* find(const std::string& name) const;
  const std::vector<PassInfo>& all() const { return passes_; }
  // Pipelines: a name for a comma-separated list of passes.
  bool add_pipeline(std::string name, std::string passes, std::string why);
  const std::string* pipeline(const std::string& name) const;

 private:
  std::vector<PassInfo> passes_;
  std::map<std::string, std::string> pipelines_;
};

// Statistics of one pass run.
struct PassRun {
  std::string pass;
  bool changed = false;
  int64_t nodes_before = 0, nodes_after = 0;
  double ms = 0;
  std::map<std::string, int64_t> stats;
  std::vector<std::string> remarks;
};

struct PassManagerOptions {
  bool verify_each = false;            // also on in debug builds
  std::ostream* print_after_all = nullptr;
  std::string dump_dir;                // DUET_DUMP when empty and the variable is set
};

class PassManager {
 public:
  // `spec`: a pipeline name or a comma-separated pass list ("cse,dce").
  // An unknown name is an Error naming it.
  explicit PassManager(const std::string& spec, PassManagerOptions options = {});
  const std::vector<const PassInfo*>& passes() const { return passes_; }
  std::vector<PassRun> run(Graph& g, const TargetInfo* target = nullptr) const;

 private:
  std::vector<const PassInfo*> passes_;
  PassManagerOptions options_;
};

// "pass  changed  nodes  ms  stats" lines, for --statistics.
std::string format_statistics(const std::vector<PassRun>& runs);

}  // namespace duet::passes

#define DUET_PASS_CONCAT2(a, b) a##b
#define DUET_PASS_CONCAT(a, b) DUET_PASS_CONCAT2(a, b)
// DUET_PASS("dce", dce, "erase unused pure nodes");
#define DUET_PASS(name, fn, summary) \
  static const bool DUET_PASS_CONCAT(duet_pass_, __COUNTER__) = ::duet::passes::PassRegistry::get().add(name, fn, summary)
// DUET_PIPELINE("default", "cse,dce", "why this order");
#define DUET_PIPELINE(name, pass_list, why)                         \
  static const bool DUET_PASS_CONCAT(duet_pipeline_, __COUNTER__) = \
      ::duet::passes::PassRegistry::get().add_pipeline(name, pass_list, why)
