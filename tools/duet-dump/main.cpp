// duet-dump: prints a traced function's graph at a stage, in a format.
//   duet-dump SOURCE [--stage S] [--format F] [--svg FILE] [--stats] [--save DIR]
// SOURCE is a directory written by duet::save or a built-in example. Every
// failure is one line on stderr and a non-zero exit (2 for usage).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <sys/wait.h>

#include <duet/codegen/llvm/kernels.h>
#include <duet/duet.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>

#include "examples.h"

namespace duet::dump {
namespace {

constexpr const char* kUsage =
    "usage: duet-dump SOURCE [--stage STAGE] [--format FORMAT] [--svg FILE] [--stats] [--save DIR]\n"
    "  SOURCE          a directory written by duet::save, or a built-in example (--list)\n"
    "  --stage STAGE   traced | optimized (default) | lowered | llvm | asm\n"
    "                  traced: the graph as recorded; optimized: after this machine's passes;\n"
    "                  lowered: the Program's steps; llvm / asm: every compiled kernel\n"
    "  --format FORMAT text (default) | dot | json\n"
    "                  text is the IR duet-opt reads (traced, optimized) or the listing;\n"
    "                  dot and json describe the graph (traced, optimized) or, for the\n"
    "                  other stages, the sequence of steps or kernels\n"
    "  --svg FILE      also render the dot form to FILE with Graphviz's dot\n"
    "  --stats         node counts by op, the fusions and the memory plan's peak bytes\n"
    "                  (of the optimized graph), instead of the dump\n"
    "  --save DIR      also save the function to DIR (duet::save), e.g. to dump it again\n"
    "  --list          the built-in examples\n"
    "  --help          this text\n";

struct Usage {
  std::string message;
};

struct Options {
  std::string source, stage = "optimized", format = "text", svg, save;
  bool stats = false, list = false, help = false;
};

Options parse(int argc, char** argv) {
  Options o;
  const std::set<std::string> stages = {"traced", "optimized", "lowered", "llvm", "asm"};
  const std::set<std::string> formats = {"text", "dot", "json"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], value;
    const size_t eq = a.find('=');
    bool has_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (has_value) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto take = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) throw Usage{a + " needs a value"};
      return argv[++i];
    };
    if (a == "--help" || a == "-h") o.help = true;
    else if (a == "--list") o.list = true;
    else if (a == "--stats") o.stats = true;
    else if (a == "--stage") {
      o.stage = take();
      if (!stages.count(o.stage)) throw Usage{"unknown stage '" + o.stage + "' (traced, optimized, lowered, llvm, asm)"};
    } else if (a == "--format") {
      o.format = take();
      if (!formats.count(o.format)) throw Usage{"unknown format '" + o.format + "' (text, dot, json)"};
    } else if (a == "--svg") {
      o.svg = take();
      if (o.svg.empty()) throw Usage{"--svg needs a file name"};
    } else if (a == "--save") {
      o.save = take();
      if (o.save.empty()) throw Usage{"--save needs a directory"};
    } else if (a.rfind("-", 0) == 0 && a != "-") {
      throw Usage{"unknown option '" + a + "'"};
    } else if (o.source.empty()) {
      o.source = a;
    } else {
      throw Usage{"one SOURCE only (got '" + o.source + "' and '" + a + "')"};
    }
  }
  if (!o.help && !o.list && o.source.empty()) throw Usage{"no SOURCE: a saved function's directory or an example"};
  return o;
}

// The function's IR text at the traced and optimized stages, and its listing.
struct Dumped {
  std::string name, traced, optimized, lowered;
};

Dumped dumped(const Options& o) {
  ConcreteFunction cf = trace_example(o.source);
  if (!o.save.empty()) save(cf, o.save);
  return {cf.name(), cf.ir(Stage::traced), cf.ir(Stage::optimized), cf.ir(Stage::lowered)};
}

Dumped load_source(const Options& o) {
  bool example = false;
  for (const Example& e : examples()) example |= e.name == o.source;
  if (example) return dumped(o);
  std::error_code ec;
  if (!std::filesystem::exists(o.source, ec))
    throw IOError("'" + o.source + "' is neither a saved function's directory nor an example (duet-dump --list)");
  LoadedFunction lf = load(o.source);
  if (!o.save.empty()) throw Usage{"--save takes an example; '" + o.source + "' is saved already"};
  return {lf.name(), lf.ir(Stage::traced), lf.ir(Stage::optimized), lf.ir(Stage::lowered)};
}

// A listing as a chain of boxes (dot) or a list of strings (json).
std::vector<std::string> items_of(const std::string& text, const std::string& starts) {
  std::vector<std::string> items;
  std::string line;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos && line.compare(first, starts.size(), starts) == 0) items.push_back(line.substr(first));
    else if (!items.empty()) items.back() += "\n" + line;
  }
  return items;
}

std::string chain_dot(const std::string& name, const std::vector<std::string>& items) {
  std::string out = "digraph " + json_quote(name) + " {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
  for (size_t i = 0; i < items.size(); ++i) {
    std::string head = items[i].substr(0, items[i].find('\n'));
    if (head.size() > 100) head = head.substr(0, 97) + "...";
    out += fmt::format("  s{} [label={}];\n", i, json_quote(head));
    if (i) out += fmt::format("  s{} -> s{};\n", i - 1, i);
  }
  return out + "}\n";
}

std::string chain_json(const std::string& name, const std::string& stage, const std::vector<std::string>& items) {
  std::string out = "{\"function\": " + json_quote(name) + ", \"stage\": " + json_quote(stage) + ", \"items\": [";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\n  " : "\n  ") + json_quote(items[i]);
  return out + "]}\n";
}

std::string render(const Dumped& d, const Options& o, const std::string& format) {
  if (o.stage == "traced" || o.stage == "optimized") {
    const std::string& text = o.stage == "traced" ? d.traced : d.optimized;
    if (format == "text") return text;
    std::unique_ptr<Graph> g = parse_graph(text, d.name);
    return format == "dot" ? graph_dot(*g) : graph_json(*g);
  }
  std::string text, starts;
  if (o.stage == "lowered") {
    text = d.lowered;
    starts = "step ";
  } else {
    std::unique_ptr<Graph> g = parse_graph(d.optimized, d.name);
    text = codegen::jit::kernels_listing(*g, o.stage == "asm");
    starts = "// kernel of ";
  }
  if (format == "text") return text;
  std::vector<std::string> items = items_of(text, starts);
  return format == "dot" ? chain_dot(d.name, items) : chain_json(d.name, o.stage, items);
}

void count_nodes(const Graph& g, std::map<std::string, int>& by_op, std::vector<std::string>& fusions) {
  for (const auto& n : g.nodes()) {
    ++by_op[n->name()];
    if (n->name() == "fusion") {
      std::string ops;
      for (const auto& m : n->region(0)->nodes()) ops += (ops.empty() ? "" : " ") + m->name();
      fusions.push_back(ops);
      continue;  // a fusion's body is counted as the fusion
    }
    for (int r = 0; r < n->num_regions(); ++r) count_nodes(*n->region(r), by_op, fusions);
  }
}

std::string stats(const Dumped& d) {
  std::unique_ptr<Graph> g = parse_graph(d.optimized, d.name);
  std::map<std::string, int> by_op;
  std::vector<std::string> fusions;
  count_nodes(*g, by_op, fusions);
  int total = 0;
  for (const auto& [op, n] : by_op) total += n;
  std::string out = fmt::format("function {}: {} nodes after optimization\n", d.name, total);
  for (const auto& [op, n] : by_op) out += fmt::format("  {:<20} {}\n", op, n);
  out += fmt::format("fusions: {}\n", fusions.size());
  for (size_t i = 0; i < fusions.size(); ++i) out += fmt::format("  fusion {}: {}\n", i, fusions[i]);
  const AttrValue* peak = g->attrs().find("plan.peak_bytes");
  const AttrValue* all = g->attrs().find("plan.intermediate_bytes");
  out += "memory plan: peak " + (peak ? format_attr_value(*peak) : std::string("-")) + " bytes of intermediates (" +
         (all ? format_attr_value(*all) : std::string("-")) + " without reuse)\n";
  return out;
}

// dot -Tsvg: Graphviz when installed, else one line saying how to get it.
void write_svg(const std::string& dot, const std::string& file) {
  if (std::system("command -v dot > /dev/null 2>&1") != 0)
    throw Error("--svg needs Graphviz's dot, which is not installed: sudo apt-get install graphviz");
  const std::string tmp = file + ".dot.tmp";
  {
    std::ofstream out(tmp);
    out << dot;
    if (!out) throw IOError("cannot write '" + tmp + "'");
  }
  std::string quoted_tmp = "'" + tmp + "'", quoted = "'" + file + "'";
  for (std::string* q : {&quoted_tmp, &quoted})
    if (q->find('\'', 1) != q->size() - 1) throw IOError("--svg: a file name with a quote in it");
  int rc = std::system(("dot -Tsvg " + quoted_tmp + " -o " + quoted + " 2> /dev/null").c_str());
  std::remove(tmp.c_str());
  if (rc != 0) throw Error("Graphviz's dot could not render '" + file + "' (exit status " + std::to_string(WEXITSTATUS(rc)) + ")");
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace
}  // namespace duet::dump

int main(int argc, char** argv) {
  using namespace duet::dump;
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const Usage& u) {
    std::cerr << "duet-dump: " << u.message << " (duet-dump --help)\n";
    return 2;
  }
  if (o.help) {
    std::cout << kUsage;
    return 0;
  }
  if (o.list) {
    for (const Example& e : examples()) std::cout << fmt::format("{:<10} {}\n", e.name, e.what);
    return 0;
  }
  try {
    Dumped d = load_source(o);
    std::cout << (o.stats ? stats(d) : render(d, o, o.format));
    if (!o.svg.empty()) write_svg(render(d, o, "dot"), o.svg);
  } catch (const Usage& u) {
    std::cerr << "duet-dump: " << u.message << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "duet-dump: " << first_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
