// The Catch2 main of duet_tests: every unit test file links into this one
// executable (one link instead of many on a 2-core machine). It is Catch's own
// main plus one rule, NOTE [Skips that show].
//
// NOTE [Skips that show]: a check that needs something a machine may lack (a
// CUDA device, CUDA's ptxas, a build with the CUDA backend, or no CUDA
// device) is a hidden test case with the tag naming that need (table below),
// run by its own ctest entry (tests/CMakeLists.txt) whose SKIP_RETURN_CODE is
// kSkipped. When every test the command line selects has a need this machine
// does not meet, the run prints "SKIPPED: <the reason>" and exits kSkipped, so
// ctest reports the entry *Skipped* with the reason in its output. Never a
// WARN and a pass: a selection that mixes such tests with others is an error.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <iostream>
#include <set>
#include <string>

#include <duet/backends/cuda/device.h>
#include <duet/duet.h>

namespace {

constexpr int kSkipped = 77;

// Why cuda:0 cannot be used, in the runtime's words.
std::string why_no_cuda_device() {
  try {
    duet::DeviceScope on(duet::Device::cuda(0));
  } catch (const duet::DeviceError& e) {
    return e.what();
  }
  return "cuda_available() is false, yet DeviceScope(cuda:0) did not say why";
}

struct Need {
  const char* tag;              // lower case, as Catch keeps tags
  std::string (*unmet)();       // why this machine lacks it, or "" when it has it
};

const Need kNeeds[] = {
    {"gpu",  // test_gpu.cpp
     [] { return duet::cuda_available() ? std::string() : "the GPU suite needs a CUDA device: " + why_no_cuda_device(); }},
    {"ptxas",  // test_ptx.cpp, test_pass_property.cpp, test_fake_cuda.cpp
     [] {
#ifdef DUET_PTXAS
       return std::string();
#else
       return std::string("the PTX checks need CUDA's ptxas, which CMake did not find when duet_tests was built");
#endif
     }},
    {"cuda_backend",  // test_cuda.cpp
     [] {
       return duet::cuda::built_with_cuda() ? std::string()
                                            : std::string("this build has no CUDA backend (no CUDA toolkit was found)");
     }},
    {"no_cuda_device",  // test_cuda.cpp
     [] {
       return duet::cuda_available()
                  ? std::string("this machine has a CUDA device, so the errors of using a missing one cannot be checked")
                  : std::string();
     }},
};

// The reasons this machine cannot run t ("" for none).
std::set<std::string> unmet_needs(const Catch::TestCase& t) {
  std::set<std::string> out;
  for (const Need& need : kNeeds)
    if (std::find(t.lcaseTags.begin(), t.lcaseTags.end(), need.tag) != t.lcaseTags.end())
      if (std::string why = need.unmet(); !why.empty()) out.insert(why);
  return out;
}

}  // namespace

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv)) return rc;
  const Catch::ConfigData& opts = session.configData();
  const bool runs_tests = !(opts.showHelp || opts.libIdentify || opts.listTests || opts.listTestNamesOnly ||
                            opts.listTags || opts.listReporters);
  if (runs_tests) {
    Catch::Config& config = session.config();
    const std::vector<Catch::TestCase> selected =
        Catch::filterTests(Catch::getAllTestCasesSorted(config), config.testSpec(), config);
    std::set<std::string> reasons;
    std::vector<std::string> cannot_run;
    for (const Catch::TestCase& t : selected) {
      std::set<std::string> why = unmet_needs(t);
      if (why.empty()) continue;
      reasons.insert(why.begin(), why.end());
      cannot_run.push_back(t.name);
    }
    if (!selected.empty() && cannot_run.size() == selected.size()) {
      for (const std::string& why : reasons) std::cout << "SKIPPED: " << why << "\n";
      std::cout << std::flush;
      return kSkipped;
    }
    if (!cannot_run.empty()) {
      std::cerr << "duet_tests: " << cannot_run.size() << " of the " << selected.size()
                << " selected test cases cannot run on this machine, and the others can: select them apart "
                   "(their own ctest entries do, tests/CMakeLists.txt), so they are reported skipped, not passed\n";
      for (const std::string& why : reasons) std::cerr << "  because " << why << "\n";
      for (const std::string& name : cannot_run) std::cerr << "  " << name << "\n";
      return 1;
    }
  }
  const int failures = session.run();
  return failures == kSkipped ? kSkipped + 1 : failures;  // 77 failures must not read as "skipped"
}
