// libFuzzer harness: duet::load on a saved-function directory (NOTE [Saved
// functions] in tracer/saved.cpp). The input is function.duet, then
// kDelimiter, then variables.safetensors (no delimiter: no variables file).
// Load errors (duet::Errors: IOError, ParseError, ...) are the expected
// answer to a damaged save; a crash, a sanitizer report or any other
// exception is a finding. A function that loads prints each of its stages.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <duet/graph/error.h>
#include <duet/tracer/saved.h>

#include "fuzz_files.h"

namespace {

constexpr std::string_view kDelimiter = "\n#--- variables.safetensors ---\n";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string& dir = duet_fuzz::scratch_dir("saved");
  // DUET_JIT=0: load() lowers fusions to stepped bodies instead of compiling
  // each with LLVM, which would take milliseconds per input (and fill the
  // kernel cache) and so cut the executions per second a hundredfold. The
  // code generator's input is the optimized graph, which fuzz_passes covers.
  setenv("DUET_JIT", "0", 1);
  // Never the user's ~/.cache/duet.
  setenv("DUET_CACHE_DIR", (dir + "/kernel-cache").c_str(), 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = duet_fuzz::scratch_dir("saved") + "/function";
  std::filesystem::create_directories(dir);
  duet_fuzz::Split parts = duet_fuzz::split_at({reinterpret_cast<const char*>(data), size}, kDelimiter);
  duet_fuzz::write_file(dir + "/function.duet", parts.before);
  const std::string variables = dir + "/variables.safetensors";
  if (parts.found) duet_fuzz::write_file(variables, parts.after);
  else std::filesystem::remove(variables);
  try {
    duet::LoadedFunction f = duet::load(dir);
    for (duet::Stage stage : {duet::Stage::traced, duet::Stage::optimized, duet::Stage::lowered}) (void)f.ir(stage);
  } catch (const duet::Error&) {
  }
  return 0;
}
