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
  if (n.loc().known()) out += "  " + print_loc(n.loc());
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
  if (n.loc().known()) s += "  " + print_loc(n.loc());
  return s;
}

}  // namespace duet
