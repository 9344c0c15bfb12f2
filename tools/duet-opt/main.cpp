// duet-opt: reads IR text (a file or stdin), verifies it, runs passes and
// prints the result. The driver of the FileCheck tests in tests/ir/.
//   duet-opt [FILE|-] [-p cse,dce] [--print-after-all] [--verify-each] [--statistics]
//            [--split-input-file] [--explain-fusion] [--target=cpu|cuda|none] [--emit=ir|llvm|asm]
//            [--list-passes]
// --emit=llvm / --emit=asm print, after the passes, each compilable fusion's
// kernel (for contiguous inputs) and each softmax row kernel as LLVM IR after
// O3, or as assembly.
// Passes that ask the target (fuse-matmul-epilogue, constant-fold) see the
// CPU's TargetInfo, or a CUDA device's with --target=cuda (what a trace for
// cuda:i is optimized for), or none with --target=none.
// With --split-input-file each chunk between `// -----` lines is processed on
// its own (errors keep their line numbers in the whole file); the exit code is
// 1 if any chunk failed. An input that holds no func at all (an empty file,
// an empty stdin, only comments) is an error too, exit 1.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <duet/backends/target.h>
#include <duet/codegen/llvm/kernels.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>

using namespace duet;

namespace {

int usage(const char* msg) {
  std::cerr << "duet-opt: " << msg << "\n"
            << "usage: duet-opt [FILE|-] [-p PASS,PASS...] [--print-after-all] [--verify-each] [--statistics]"
               " [--split-input-file]\n"
               "                [--explain-fusion] [--target=cpu|cuda|none] [--emit=ir|llvm|asm] [--list-passes]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input = "-", pipeline;
  const TargetInfo* target = &cpu_target();
  std::string emit = "ir";
  bool print_after_all = false, verify_each = false, statistics = false, split = false, explain = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-p" || a == "--passes") {
      if (++i >= argc) return usage("-p needs a pass list");
      pipeline = argv[i];
    } else if (a.rfind("-p=", 0) == 0) {
      pipeline = a.substr(3);
    } else if (a == "--print-after-all") {
      print_after_all = true;
    } else if (a == "--verify-each") {
      verify_each = true;
    } else if (a == "--explain-fusion") {
      explain = true;
    } else if (a == "--target=cpu") {
      target = &cpu_target();
    } else if (a == "--target=cuda") {
      target = &cuda_target();
    } else if (a == "--target=none") {
      target = nullptr;
    } else if (a.rfind("--emit=", 0) == 0) {
      emit = a.substr(7);
      if (emit != "ir" && emit != "llvm" && emit != "asm") return usage(("unknown --emit kind '" + emit + "'").c_str());
    } else if (a == "--split-input-file") {
      split = true;
    } else if (a == "--statistics") {
      statistics = true;
    } else if (a == "--list-passes") {
      for (const auto& p : passes::PassRegistry::get().all()) std::cout << p.name << "  " << p.summary << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage("IR optimizer driver");
      return 0;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      return usage(("unknown option " + a).c_str());
    } else {
      input = a;
    }
  }
  std::string text;
  try {
    if (input == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      std::ifstream in(input);
      if (!in) throw IOError("duet-opt: cannot open '" + input + "'");
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  // Chunks, each padded with the newlines before it so line numbers stay those of the file.
  std::vector<std::string> chunks;
  if (split) {
    std::istringstream lines(text);
    std::string line, cur;
    int line_no = 0;
    while (std::getline(lines, line)) {
      ++line_no;
      if (line.rfind("// -----", 0) == 0) {
        chunks.push_back(cur);
        cur = std::string(static_cast<size_t>(line_no), '\n');
        continue;
      }
      cur += line + "\n";
    }
    chunks.push_back(cur);
  } else {
    chunks.push_back(text);
  }
  const std::string source = input == "-" ? "<stdin>" : input;
  int status = 0;
  bool first = true;
  size_t functions = 0;
  for (const std::string& chunk : chunks) {
    if (!first) std::cout << "// -----\n";
    first = false;
    try {
      auto module = parse_module(chunk, source);
      functions += module.size();
      passes::PassManagerOptions options;
      options.verify_each = verify_each;
      if (print_after_all) options.print_after_all = &std::cout;
      std::unique_ptr<passes::PassManager> pm;
      if (!pipeline.empty()) pm = std::make_unique<passes::PassManager>(pipeline, options);
      std::string out;
      for (size_t i = 0; i < module.size(); ++i) {
        Graph& g = *module[i];
        verify(g);
        if (pm) {
          auto runs = pm->run(g, target);
          if (statistics) std::cerr << "// statistics of @" << g.name() << "\n" << passes::format_statistics(runs);
          if (explain)
            for (const auto& r : runs)
              for (const std::string& why : r.remarks) std::cout << "// " << why << "\n";
        }
        out += (i ? "\n" : "") + print_graph(g);
        if (emit != "ir") out += codegen::jit::kernels_listing(g, emit == "asm");
      }
      std::cout << out << std::flush;
    } catch (const Error& e) {
      std::cerr << e.what() << "\n";
      status = 1;
    }
  }
  // An empty input (an empty file, a closed stdin, only comments) prints
  // nothing: say so, or a wrong path or a broken pipe would pass for success.
  if (status == 0 && functions == 0) {
    const bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
    std::cerr << "duet-opt: " << source << ": the input is empty (no func"
              << (blank ? "" : ", only comments") << ")\n";
    return 1;
  }
  return status;
}
