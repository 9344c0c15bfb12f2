// The Catch2 main of duet_tests: every unit test file links into this one
// executable (one link instead of many on a 2-core machine). It is Catch's own
// main plus one rule for the GPU suite (test_gpu.cpp, tag [.gpu]): when every
// test the command line selects is a GPU test and no CUDA device can be used,
// the run prints why and exits kSkipped, which ctest's gpu.suite registers as
// its SKIP_RETURN_CODE (tests/CMakeLists.txt), so ctest reports it "Skipped".
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <iostream>
#include <string>

#include <duet/duet.h>

namespace {

constexpr int kSkipped = 77;

bool is_gpu_test(const Catch::TestCase& t) {
  return std::find(t.lcaseTags.begin(), t.lcaseTags.end(), "gpu") != t.lcaseTags.end();
}

// Why cuda:0 cannot be used, in the runtime's words.
std::string why_no_cuda_device() {
  try {
    duet::DeviceScope on(duet::Device::cuda(0));
  } catch (const duet::DeviceError& e) {
    return e.what();
  }
  return "cuda_available() is false, yet DeviceScope(cuda:0) did not say why";
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
    if (!selected.empty() && std::all_of(selected.begin(), selected.end(), is_gpu_test) &&
        !duet::cuda_available()) {
      std::cout << "SKIPPED: the GPU suite needs a CUDA device: " << why_no_cuda_device() << std::endl;
      return kSkipped;
    }
  }
  const int failures = session.run();
  return failures == kSkipped ? kSkipped + 1 : failures;  // 77 failures must not read as "skipped"
}
