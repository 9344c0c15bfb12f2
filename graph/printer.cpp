// The IR printer. Values are named %0, %1, ... in print order across the
// function and its regions; parameters keep their names when they have one.
#include <duet/graph/printer.h>

#include <cctype>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

namespace duet {
namespace {

bool valid_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') return false;
  return true;
}

class Namer {
 public:
  explicit Namer(const Graph& root) { name_graph(root); }
  const std::string& operator()(const Value* v) const {
    static const std::string unknown = "<unknown>";
    auto it = names_.find(v);
    return it == names_.end() ? unknown : it->second;
  }

 private:
  void name_param(const Value* v) {
    std::string base = valid_name(v->name()) ? v->name() : fmt::format("arg{}", next_arg_++);
    std::string n = base;
    for (int k = 1; used_.count(n); ++k) n = fmt::format("{}_{}", base, k);
    used_.insert(n);
    names_[v] = "%" + n;
  }
  void name_graph(const Graph& g) {
    for (int i = 0; i < g.num_params(); ++i) name_param(g.param(i));
    for (const auto& n : g.nodes()) {
      for (int r = 0; r < n->num_results(); ++r) names_[n->result(r)] = fmt::format("%{}", next_++);
      for (int r = 0; r < n->num_regions(); ++r) name_graph(*n->region(r));
    }
  }
  std::unordered_map<const Value*, std::string> names_;
  std::set<std::string> used_;
  int next_ = 0;
  int next_arg_ = 0;
};

std::string types_text(const std::vector<ValueType>& types) {
  if (types.size() == 1) return types[0].str();
  std::string s = "(";
  for (size_t i = 0; i < types.size(); ++i) s += (i ? ", " : "") + types[i].str();
  return s + ")";
}

std::string node_line(const Node& n, const Namer& name) {
  std::string s;
  for (int i = 0; i < n.num_results(); ++i) s += (i ? ", " : "") + name(n.result(i));
  if (n.num_results() > 0) s += " = ";
  s += n.name() + "(";
  for (int i = 0; i < n.num_operands(); ++i) s += (i ? ", " : "") + name(n.operand(i));
  s += ")";
  if (!n.attrs().empty()) s += " " + n.attrs().str();
  std::vector<ValueType> types;
  for (int i = 0; i < n.num_results(); ++i) types.push_back(n.result(i)->type());
  if (!types.empty()) s += " : " + types_text(types);
  return s;
}

void print_body(std::string& out, const Graph& g, const Namer& name, int indent, const char* terminator);

void print_node_into(std::string& out, const Node& n, const Namer& name, int indent) {
  std::string pad(indent, ' ');
  out += pad + node_line(n, name);
  for (int r = 0; r < n.num_regions(); ++r) {
    const Graph& region = *n.region(r);
    out += " {\n";
    if (region.num_params() > 0) {
      out += pad + "^(";
      for (int i = 0; i < region.num_params(); ++i)
        out += (i ? ", " : "") + name(region.param(i)) + ": " + region.param(i)->type().str();
      out += "):\n";
    }
    print_body(out, region, name, indent + 2, "yield");
    out += pad + "}";
  }
  if (std::string loc = print_loc(n.loc()); !loc.empty()) out += "  " + loc;
  out += "\n";
}

void print_body(std::string& out, const Graph& g, const Namer& name, int indent, const char* terminator) {
  for (const auto& n : g.nodes()) print_node_into(out, *n, name, indent);
  out += std::string(indent, ' ') + terminator;
  for (size_t i = 0; i < g.results().size(); ++i) out += (i ? ", " : " ") + name(g.results()[i]);
  out += "\n";
}

const Graph& root_of(const Graph& g) {
  const Graph* cur = &g;
  while (cur->parent_node()) cur = cur->parent_node()->parent();
  return *cur;
}

}  // namespace

std::string print_loc(SrcLoc loc) {
  if (!loc.known()) return "";
  // The base name, as errors print it: IR text does not depend on where the
  // sources were built.
  std::string file = loc.file;
  size_t slash = file.rfind('/');
  if (slash != std::string::npos) file = file.substr(slash + 1);
  // "dir/" has no base name: print no location, as the parser reads loc("":N).
  if (file.empty()) return "";
  return fmt::format("loc({}:{})", quote_string(file), loc.line);
}

std::string print_graph(const Graph& g) {
  Namer name(g);
  auto var = [](const std::string& v) { return v.empty() ? std::string() : " {var=" + quote_string(v) + "}"; };
  std::string out = "func @" + g.name() + "(";
  for (int i = 0; i < g.num_params(); ++i)
    out += (i ? ", " : "") + name(g.param(i)) + ": " + g.param(i)->type().str() + var(g.param(i)->variable());
  out += ") -> (";
  for (size_t i = 0; i < g.results().size(); ++i)
    out += (i ? ", " : "") + g.results()[i]->type().str() + var(g.result_variable(static_cast<int>(i)));
  out += ")";
  if (!g.attrs().empty()) out += " attributes " + g.attrs().str();
  out += " {\n";
  print_body(out, g, name, 2, "return");
  out += "}\n";
  return out;
}

std::string print_node(const Node& n) {
  Namer name(root_of(*n.parent()));
  std::string s = node_line(n, name);
  if (std::string loc = print_loc(n.loc()); !loc.empty()) s += "  " + loc;
  return s;
}

}  // namespace duet

namespace duet {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

namespace {

std::string json_body(const Graph& g, const Namer& name, bool top);

std::string json_params(const Graph& g, const Namer& name) {
  std::string out = "[";
  for (int i = 0; i < g.num_params(); ++i) {
    const Value* p = g.param(i);
    out += fmt::format("{}{{\"name\": {}, \"type\": {}", i ? ", " : "", json_quote(name(p)), json_quote(p->type().str()));
    if (!p->variable().empty()) out += ", \"variable\": " + json_quote(p->variable());
    out += "}";
  }
  return out + "]";
}

std::string json_node(const Node& n, const Namer& name) {
  std::string out = "{\"op\": " + json_quote(n.name()) + ", \"results\": [";
  for (int i = 0; i < n.num_results(); ++i) out += (i ? ", " : "") + json_quote(name(n.result(i)));
  out += "], \"types\": [";
  for (int i = 0; i < n.num_results(); ++i) out += (i ? ", " : "") + json_quote(n.result(i)->type().str());
  out += "], \"operands\": [";
  for (int i = 0; i < n.num_operands(); ++i) out += (i ? ", " : "") + json_quote(name(n.operand(i)));
  out += "], \"attrs\": {";
  bool first = true;
  for (const auto& [k, v] : n.attrs().items()) {
    out += (first ? "" : ", ") + json_quote(k) + ": " + json_quote(format_attr_value(v));
    first = false;
  }
  out += "}";
  if (n.loc().known()) out += ", \"loc\": " + json_quote(n.loc().str());
  if (n.num_regions() > 0) {
    out += ", \"regions\": [";
    for (int r = 0; r < n.num_regions(); ++r) out += (r ? ", " : "") + json_body(*n.region(r), name, false);
    out += "]";
  }
  return out + "}";
}

// {"params": [...], "nodes": [...], "results"|"yields": [...]}
std::string json_body(const Graph& g, const Namer& name, bool top) {
  std::string out = "{\"params\": " + json_params(g, name) + ", \"nodes\": [";
  bool first = true;
  for (const auto& n : g.nodes()) {
    out += (first ? "\n  " : ",\n  ") + json_node(*n, name);
    first = false;
  }
  out += std::string("], \"") + (top ? "results" : "yields") + "\": [";
  for (size_t i = 0; i < g.results().size(); ++i) {
    const Value* v = g.results()[i];
    out += fmt::format("{}{{\"value\": {}, \"type\": {}", i ? ", " : "", json_quote(name(v)), json_quote(v->type().str()));
    if (top && !g.result_variable(static_cast<int>(i)).empty())
      out += ", \"variable\": " + json_quote(g.result_variable(static_cast<int>(i)));
    out += "}";
  }
  return out + "]}";
}

// dot: a label's text, escaped for a double-quoted dot string.
std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string shorten(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

class DotWriter {
 public:
  explicit DotWriter(const Namer& name) : name_(name) {}
  std::string out;

  void body(const Graph& g, int depth, const std::string& end_label) {
    std::string pad(2 * depth, ' ');
    for (int i = 0; i < g.num_params(); ++i) {
      const Value* p = g.param(i);
      std::string id = fmt::format("v{}", next_++);
      source_[p] = id;
      std::string label = name_(p) + "\n" + p->type().str() + (p->variable().empty() ? "" : "\nvariable " + p->variable());
      out += fmt::format("{}{} [shape=ellipse, label=\"{}\"];\n", pad, id, dot_escape(label));
    }
    for (const auto& n : g.nodes()) {
      std::string id = fmt::format("n{}", next_++);
      std::string label = n->name();
      Attrs shown;  // the memory plan's attributes stay in the text and JSON forms
      for (const auto& [k, v] : n->attrs().items())
        if (k.rfind("plan.", 0) != 0) shown.set(k, v);
      if (!shown.empty()) label += "\n" + shorten(shown.str(), 60);
      const bool fusion = n->name() == "fusion";
      if (fusion) {  // its body as one line of ops, not a cluster far from the node
        std::string ops;
        for (const auto& m : n->region(0)->nodes()) ops += (ops.empty() ? "" : " ") + m->name();
        label += "\n[" + shorten(ops, 60) + "]";
      }
      for (int r = 0; r < n->num_results(); ++r) label += "\n" + name_(n->result(r)) + " : " + n->result(r)->type().str();
      if (n->loc().known()) label += "\n" + n->loc().str();
      const bool fused = n->name() == "fusion" || n->name() == "fused_matmul";
      out += fmt::format("{}{} [shape=box, style=\"rounded{}\", label=\"{}\"];\n", pad, id, fused ? ",filled" : "",
                         dot_escape(label));
      for (int i = 0; i < n->num_operands(); ++i) edge(n->operand(i), id, pad);
      for (int r = 0; r < n->num_results(); ++r) source_[n->result(r)] = id;
      for (int r = 0; r < n->num_regions() && !fusion; ++r) {
        out += fmt::format("{}subgraph cluster_{} {{\n{}  label=\"{} region {}\";\n", pad, next_++, pad, n->name(), r);
        body(*n->region(r), depth + 1, r == 0 && n->name() == "while" ? "condition" : "yield");
        out += pad + "}\n";
      }
    }
    std::string id = fmt::format("r{}", next_++);
    out += fmt::format("{}{} [shape=plain, label=\"{}\"];\n", pad, id, end_label);
    for (const Value* v : g.results()) edge(v, id, pad);
  }

 private:
  void edge(const Value* v, const std::string& to, const std::string& pad) {
    auto it = source_.find(v);
    if (it == source_.end()) return;
    out += fmt::format("{}{} -> {};\n", pad, it->second, to);
  }
  const Namer& name_;
  std::unordered_map<const Value*, std::string> source_;
  int next_ = 0;
};

}  // namespace

std::string graph_json(const Graph& g) {
  Namer name(g);
  std::string out = "{\"function\": " + json_quote(g.name()) + ", \"attributes\": {";
  bool first = true;
  for (const auto& [k, v] : g.attrs().items()) {
    out += (first ? "" : ", ") + json_quote(k) + ": " + json_quote(format_attr_value(v));
    first = false;
  }
  out += "},\n\"body\": " + json_body(g, name, true) + "}\n";
  return out;
}

std::string graph_dot(const Graph& g) {
  Namer name(g);
  DotWriter w(name);
  w.out = "digraph \"" + dot_escape(g.name()) + "\" {\n  node [fontname=\"monospace\", fontsize=10];\n"
          "  edge [arrowsize=0.6];\n";
  w.body(g, 1, "return");
  w.out += "}\n";
  return w.out;
}

}  // namespace duet
