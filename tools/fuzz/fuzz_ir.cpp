// libFuzzer harness: IR text through the parser and the verifier. A parse or
// verify error (a duet::Error) is the expected answer to bad text; a crash, a
// sanitizer report or any other exception is a finding. A function that
// verifies must print, parse back, verify and print to the same text
// (graph/printer.h; tests/ir/roundtrip.duet checks it on chosen cases).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <duet/graph/error.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>

namespace {

[[noreturn]] void round_trip_failed(const std::string& what, const std::string& first, const std::string& second) {
  std::fprintf(stderr, "fuzz_ir: the round trip failed: %s\n--- printed\n%s--- printed again\n%s", what.c_str(),
               first.c_str(), second.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::unique_ptr<duet::Graph>> module;
  try {
    module = duet::parse_module(text, "input");
  } catch (const duet::Error&) {
    return 0;
  }
  for (const auto& g : module) {
    try {
      duet::verify(*g);
    } catch (const duet::Error&) {
      continue;
    }
    const std::string first = duet::print_graph(*g);
    std::string second;
    try {
      std::unique_ptr<duet::Graph> again = duet::parse_graph(first, "printed");
      duet::verify(*again);
      second = duet::print_graph(*again);
    } catch (const duet::Error& e) {
      round_trip_failed(std::string("the printed text does not parse or verify: ") + e.what(), first, "");
    }
    if (first != second) round_trip_failed("the two printed texts differ", first, second);
  }
  return 0;
}
