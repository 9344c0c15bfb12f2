// libFuzzer harness: a function that parses and verifies goes through the
// default pass pipeline, as the tracer runs it (the CPU target), verified
// after every pass; the result must verify and round-trip through the text
// form like any graph. Parse and verify errors on the input are expected.
//
// Any duet::Error out of the pipeline is a finding: every pass states "Needs:
// a verified graph" and none throws on purpose (passes/*.cpp have no throw;
// constant-fold's evaluator turns a kernel's Error, e.g. an out-of-range
// gather index, into "not folded", leaving it to run time), so a throw means
// a pass met a valid graph it mishandles, or broke the graph for the verifier
// (verify_each names the pass).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <duet/backends/target.h>
#include <duet/graph/error.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>

namespace {

[[noreturn]] void finding(const std::string& what, const std::string& input, const std::string& output) {
  std::fprintf(stderr, "fuzz_passes: %s\n--- input (verified)\n%s--- after the passes\n%s", what.c_str(),
               input.c_str(), output.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<duet::Graph> g;
  try {
    g = duet::parse_graph(text, "input");
    duet::verify(*g);
  } catch (const duet::Error&) {
    return 0;
  }
  const std::string input = duet::print_graph(*g);
  static const duet::passes::PassManager pipeline = [] {
    duet::passes::PassManagerOptions options;
    options.verify_each = true;
    return duet::passes::PassManager("default", options);
  }();
  try {
    pipeline.run(*g, &duet::cpu_target());
    duet::verify(*g);
  } catch (const duet::Error& e) {
    finding(std::string("the default pipeline threw on a verified graph: ") + e.what(), input, "");
  }
  const std::string first = duet::print_graph(*g);
  std::string second;
  try {
    std::unique_ptr<duet::Graph> again = duet::parse_graph(first, "optimized");
    duet::verify(*again);
    second = duet::print_graph(*again);
  } catch (const duet::Error& e) {
    finding(std::string("the optimized graph's text does not parse or verify: ") + e.what(), input, first);
  }
  if (first != second) finding("the optimized graph prints differently after a round trip", input, first + "--- printed again\n" + second);
  return 0;
}
