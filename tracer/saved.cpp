// save / load of traced functions (DESIGN.md §1).
//
// NOTE [Saved functions]
// A saved function is a directory of two files:
//  - function.duet: three comment lines (the first says what the file is,
//    the second "// format: 1", the version this duet reads), then the
//    graph as traced, in the IR text that duet-opt reads. Tensor parameters
//    come first, in call order (a std::vector<Tensor> argument contributes
//    one per element); then one parameter per variable, marked {var="name"};
//    the results the function returns come first, then the variables' new
//    values, each marked with its variable's name.
//  - variables.safetensors: each variable's value under its marker name
//    (the tracer makes those unique: "w", "w_1").
// The traced graph is saved, not the optimized one: load runs this
// machine's pass pipeline and code generator on it, as a trace would. By-
// value arguments (int, float, bool, string) were frozen into the graph when
// it was traced. Both files are written to a temporary name and renamed.
#include <duet/tracer/saved.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <duet/backends/target.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>
#include <duet/runtime/checkpoint.h>
#include <duet/runtime/ops.h>
#include <duet/tracer/trace.h>

namespace duet {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMagic = "// duet saved function";
constexpr int kFormat = 1;

std::string function_file(const std::string& dir) { return (fs::path(dir) / "function.duet").string(); }
std::string variables_file(const std::string& dir) { return (fs::path(dir) / "variables.safetensors").string(); }

// The variable parameters' markers, in parameter order.
std::vector<std::string> variable_markers(const Graph& g) {
  std::vector<std::string> out;
  for (int i = 0; i < g.num_params(); ++i)
    if (!g.param(i)->variable().empty()) out.push_back(g.param(i)->variable());
  return out;
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) throw IOError(fmt::format("save: cannot write '{}'", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw IOError(fmt::format("save: cannot rename '{}' to '{}': {}", tmp, path, ec.message()));
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw IOError(fmt::format("load: '{}' is missing: not a directory written by duet::save", path));
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) throw IOError(fmt::format("load: cannot read '{}'", path));
  return ss.str();
}

// The first two lines: what the file is, and its format.
void check_header(const std::string& text, const std::string& file) {
  std::istringstream lines(text);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  if (first != kMagic)
    throw ParseError(fmt::format("load: '{}' is not a saved duet function (its first line is not \"{}\")", file, kMagic));
  int format = 0;
  if (std::sscanf(second.c_str(), "// format: %d", &format) != 1)
    throw ParseError(fmt::format("load: '{}': the second line should be \"// format: N\"", file));
  if (format != kFormat)
    throw ParseError(fmt::format("load: '{}' was saved in format {}; this duet reads format {}", file, format, kFormat));
}

}  // namespace

void save(const ConcreteFunction& function, const std::string& path) {
  const detail::Trace* t = function.trace_.get();
  if (!t) throw Error("save: the ConcreteFunction is empty");
  for (const detail::VariableBinding& b : t->bindings)
    if (b.arg_index >= 0)
      throw Error(fmt::format("save: function '{}' takes Variable arguments; a saved function owns its variables, "
                              "so capture them in the callable instead",
                              t->name));
  std::unique_ptr<Graph> g = parse_graph(t->traced_ir, t->name);
  std::vector<std::string> markers = variable_markers(*g);
  if (markers.size() != t->bindings.size())
    throw Error(fmt::format("save: function '{}': {} variable parameters for {} variables", t->name, markers.size(),
                            t->bindings.size()));
  std::vector<Variable> named;
  for (size_t k = 0; k < markers.size(); ++k) {
    for (size_t j = 0; j < k; ++j)
      if (markers[j] == markers[k])
        throw Error(fmt::format("save: function '{}' has two variables marked '{}'; rename one", t->name, markers[k]));
    named.emplace_back(t->bindings[k].captured.concrete_value(), markers[k], false);
  }
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec || !fs::is_directory(path))
    throw IOError(fmt::format("save: cannot create the directory '{}'{}", path, ec ? ": " + ec.message() : ""));
  save_checkpoint(variables_file(path), named);
  write_atomically(function_file(path),
                   fmt::format("{}\n// format: {}\n// Read it with duet::load(\"{}\"); the variables' values are in "
                               "variables.safetensors.\n{}",
                               kMagic, kFormat, path, t->traced_ir));
}

LoadedFunction load(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec))
    throw IOError(fmt::format("load: '{}' is not a directory (duet::save writes a directory)", path));
  const std::string file = function_file(path);
  const std::string text = read_file(file);
  check_header(text, file);
  std::unique_ptr<Graph> g = parse_graph(text, file);  // ParseErrors name the file and line
  try {
    verify(*g);
  } catch (const Error& e) {
    throw ParseError(fmt::format("load: '{}' holds a graph that does not verify: {}", file, e.what()));
  }

  auto t = std::make_shared<detail::Trace>();
  t->name = g->name();
  LoadedFunction lf;
  std::map<std::string, int> binding_of;  // marker -> index into bindings
  for (int i = 0; i < g->num_params(); ++i) {
    const Value* p = g->param(i);
    const ValueType& vt = p->type();
    if (vt.is_token) throw ParseError(fmt::format("load: '{}': parameter {} is a token", file, i));
    if (p->variable().empty()) {
      if (!t->bindings.empty())
        throw ParseError(fmt::format("load: '{}': tensor parameter {} comes after a variable parameter", file, i));
      detail::ArgSpec spec;
      spec.kind = detail::ArgValue::Kind::tensor;
      spec.types.push_back(vt.tensor);
      t->spec.push_back(std::move(spec));
      lf.inputs_.emplace_back(vt.tensor.shape, vt.tensor.dtype);
      continue;
    }
    const std::string& marker = p->variable();
    if (binding_of.count(marker)) throw ParseError(fmt::format("load: '{}': two variables are marked '{}'", file, marker));
    if (!vt.tensor.shape.is_static())
      throw ParseError(fmt::format("load: '{}': variable '{}' has a dynamic shape {}", file, marker, vt.str()));
    binding_of[marker] = static_cast<int>(t->bindings.size());
    Variable v(zeros(vt.tensor.shape, vt.tensor.dtype), marker);
    detail::VariableBinding b;
    b.captured = v;
    t->bindings.push_back(b);
    t->captured.push_back(v);
    lf.variables_.push_back(v);
  }
  t->num_tensor_params = static_cast<int>(t->spec.size());
  const int n_results = static_cast<int>(g->results().size());
  for (int r = 0; r < n_results; ++r) {
    const std::string& marker = g->result_variable(r);
    if (marker.empty()) {
      if (!t->writebacks.empty())
        throw ParseError(fmt::format("load: '{}': result {} comes after a variable's new value", file, r));
      ++t->num_user_results;
      continue;
    }
    auto it = binding_of.find(marker);
    if (it == binding_of.end())
      throw ParseError(fmt::format("load: '{}': result {} is marked as variable '{}', which no parameter is", file, r,
                                   marker));
    t->writebacks.push_back(it->second);
  }
  // The weights: every name present, with the parameter's dtype and shape, or nothing is assigned.
  if (!lf.variables_.empty()) restore_checkpoint(variables_file(path), lf.variables_);

  t->traced_ir = print_graph(*g);
  passes::PassManager("default").run(*g, &cpu_target());
  t->optimized_ir = print_graph(*g);
  t->program = codegen::Program::lower(*g);  // a loaded function runs on the CPU
  lf.function_ = ConcreteFunction(std::move(t));
  return lf;
}

std::vector<Tensor> LoadedFunction::operator()(const std::vector<Tensor>& inputs) const { return function_(inputs); }
std::string LoadedFunction::ir(Stage stage) const { return function_.ir(stage); }
const std::string& LoadedFunction::name() const { return function_.name(); }

}  // namespace duet
