// Running a random program through duet's public API, and writing it as
// the C++ that does the same. Both walk the instructions in one order and
// name each op once (the tables below), so the reproducer is the program.
#include "program.h"

#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>

namespace difftest {
namespace {

using duet::Tensor;

using UnaryFn = Tensor (*)(const Tensor&, duet::Loc);
using BinaryFn = Tensor (*)(const duet::Operand&, const duet::Operand&);
using ReduceFn = Tensor (*)(const Tensor&, const duet::Axes&, bool, duet::Loc);

const std::map<std::string, UnaryFn>& unary_ops() {
  static const std::map<std::string, UnaryFn> ops = {
      {"neg", duet::neg},     {"abs", duet::abs},         {"square", duet::square}, {"exp", duet::exp},
      {"log", duet::log},     {"sqrt", duet::sqrt},       {"rsqrt", duet::rsqrt},   {"tanh", duet::tanh},
      {"sigmoid", duet::sigmoid}, {"relu", duet::relu},   {"gelu", duet::gelu},     {"erf", duet::erf},
      {"gelu_tanh", [](const Tensor& x, duet::Loc l) { return duet::gelu(x, "tanh", l); }},
      {"log1p", duet::log1p}, {"softplus", duet::softplus}, {"sign", duet::sign}};
  return ops;
}
const std::map<std::string, BinaryFn>& binary_ops() {
  static const std::map<std::string, BinaryFn> ops = {
      {"add", duet::add}, {"sub", duet::sub},         {"mul", duet::mul},         {"div", duet::div},
      {"pow", duet::pow}, {"maximum", duet::maximum}, {"minimum", duet::minimum}};
  return ops;
}
const std::map<std::string, ReduceFn>& reduce_ops() {
  static const std::map<std::string, ReduceFn> ops = {
      {"sum", duet::sum}, {"mean", duet::mean}, {"max", duet::max}, {"min", duet::min}};
  return ops;
}
template <class Map>
auto lookup(const Map& m, const std::string& op) {
  auto it = m.find(op);
  if (it == m.end()) throw std::logic_error("duet-difftest: no op " + op);
  return it->second;
}

struct Runner {
  const Program& p;
  const std::vector<duet::Variable>& vars;
  std::vector<Tensor> env;

  const Tensor& at(int id) const { return env[static_cast<size_t>(id)]; }

  void exec(const std::vector<Instr>& code) {
    for (const Instr& i : code) exec(i);
  }
  void exec(const Instr& i) {
    duet::Loc here = duet::Loc::current();
    Tensor r;
    switch (i.kind) {
      case Kind::unary: r = lookup(unary_ops(), i.op)(at(i.in[0]), here); break;
      case Kind::binary: r = lookup(binary_ops(), i.op)(at(i.in[0]), at(i.in[1])); break;
      case Kind::binary_k: r = lookup(binary_ops(), i.op)(at(i.in[0]), i.k); break;
      case Kind::where: r = duet::where(duet::greater(at(i.in[0]), at(i.in[1])), at(i.in[0]), at(i.in[1])); break;
      case Kind::reduce: r = lookup(reduce_ops(), i.op)(at(i.in[0]), duet::Axes(i.ints), i.keepdims, here); break;
      case Kind::matmul: r = duet::matmul(at(i.in[0]), at(i.in[1])); break;
      case Kind::transpose: r = duet::transpose(at(i.in[0]), i.ints); break;
      case Kind::reshape: r = duet::reshape(at(i.in[0]), duet::Shape(i.ints)); break;
      case Kind::expand: r = duet::expand_dims(at(i.in[0]), i.ints[0]); break;
      case Kind::squeeze: r = duet::squeeze(at(i.in[0]), duet::Axes(i.ints)); break;
      case Kind::read: r = vars[static_cast<size_t>(i.var)].value(); break;
      case Kind::assign:
        if (i.op == "assign") vars[static_cast<size_t>(i.var)].assign(at(i.in[0]));
        else vars[static_cast<size_t>(i.var)].assign_add(at(i.in[0]));
        return;
      case Kind::cond: {
        Tensor pred = duet::greater(duet::sum(at(i.in[0])), i.k);
        auto branch = [&](const Block& b) {
          exec(b.code);
          return at(b.result);
        };
        r = duet::cond(pred, [&] { return branch(i.blocks[0]); }, [&] { return branch(i.blocks[1]); });
        break;
      }
      case Kind::loop: {
        const Block& b = i.blocks[0];
        int64_t trips = i.trips;
        std::vector<Tensor> out = duet::while_loop(
            [&](const std::vector<Tensor>& s) { return duet::less(s[0], trips); },
            [&](const std::vector<Tensor>& s) {
              env[static_cast<size_t>(b.param)] = s[1];
              exec(b.code);
              return std::vector<Tensor>{duet::add(s[0], 1), at(b.result)};
            },
            {duet::scalar(int64_t{0}), at(i.in[0])});
        r = out[1];
        break;
      }
    }
    env[static_cast<size_t>(i.result)] = r;
  }
};

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}
std::string ints(const Dims& d) {
  std::string s = "{";
  for (size_t k = 0; k < d.size(); ++k) s += (k ? ", " : "") + std::to_string(d[k]);
  return s + "}";
}
std::string data(const std::vector<double>& v) {
  std::string s = "std::vector<double>{";
  for (size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + number(v[k]);
  return s + "}";
}
std::string name(int id) { return "v" + std::to_string(id); }

struct Writer {
  const Program& p;
  std::ostringstream out;

  void line(int indent, const std::string& s) { out << std::string(static_cast<size_t>(indent), ' ') << s << "\n"; }
  void code(int ind, const std::vector<Instr>& code) {
    for (const Instr& i : code) instr(ind, i);
  }
  void instr(int ind, const Instr& i) {
    std::string a = i.in.empty() ? "" : name(i.in[0]), b = i.in.size() > 1 ? name(i.in[1]) : "";
    std::string lhs = "Tensor " + name(i.result) + " = ";
    switch (i.kind) {
      case Kind::unary: line(ind, lhs + i.op + "(" + a + ");"); return;
      case Kind::binary: line(ind, lhs + i.op + "(" + a + ", " + b + ");"); return;
      case Kind::binary_k: line(ind, lhs + i.op + "(" + a + ", " + number(i.k) + ");"); return;
      case Kind::where: line(ind, lhs + "where(greater(" + a + ", " + b + "), " + a + ", " + b + ");"); return;
      case Kind::reduce:
        line(ind, lhs + i.op + "(" + a + ", " + ints(i.ints) + ", " + (i.keepdims ? "true" : "false") + ");");
        return;
      case Kind::matmul: line(ind, lhs + "matmul(" + a + ", " + b + ");"); return;
      case Kind::transpose: line(ind, lhs + "transpose(" + a + ", " + ints(i.ints) + ");"); return;
      case Kind::reshape: line(ind, lhs + "reshape(" + a + ", Shape" + ints(i.ints) + ");"); return;
      case Kind::expand: line(ind, lhs + "expand_dims(" + a + ", " + std::to_string(i.ints[0]) + ");"); return;
      case Kind::squeeze: line(ind, lhs + "squeeze(" + a + ", " + ints(i.ints) + ");"); return;
      case Kind::read: line(ind, lhs + "var[" + std::to_string(i.var) + "].value();"); return;
      case Kind::assign: line(ind, "var[" + std::to_string(i.var) + "]." + i.op + "(" + a + ");"); return;
      case Kind::cond: {
        line(ind, lhs + "cond(greater(sum(" + a + "), " + number(i.k) + "),");
        for (int k = 0; k < 2; ++k) {
          line(ind + 4, "[&] {");
          code(ind + 6, i.blocks[static_cast<size_t>(k)].code);
          line(ind + 6, "return " + name(i.blocks[static_cast<size_t>(k)].result) + ";");
          line(ind + 4, k == 0 ? "}," : "});");
        }
        return;
      }
      case Kind::loop: {
        const Block& body = i.blocks[0];
        std::string loop = "loop" + std::to_string(i.result);
        line(ind, "std::vector<Tensor> " + loop + " = while_loop(");
        line(ind + 4, "[&](const std::vector<Tensor>& s) { return less(s[0], " + std::to_string(i.trips) + "); },");
        line(ind + 4, "[&](const std::vector<Tensor>& s) {");
        line(ind + 6, "Tensor " + name(body.param) + " = s[1];");
        code(ind + 6, body.code);
        line(ind + 6, "return std::vector<Tensor>{add(s[0], 1), " + name(body.result) + "};");
        line(ind + 4, "},");
        line(ind + 4, "{scalar(int64_t{0}), " + a + "});");
        line(ind, lhs + loop + "[1];");
        return;
      }
    }
  }
};

}  // namespace

std::vector<Tensor> make_inputs(const Program& p) {
  std::vector<Tensor> in;
  for (size_t k = 0; k < p.inputs.size(); ++k)
    in.push_back(duet::cast(duet::from_vector(p.input_data[k], duet::Shape(p.inputs[k])), p.dtype));
  return in;
}

std::vector<duet::Variable> make_variables(const Program& p) {
  std::vector<duet::Variable> vars;
  for (size_t k = 0; k < p.variables.size(); ++k)
    vars.emplace_back(duet::cast(duet::from_vector(p.variable_data[k], duet::Shape(p.variables[k])), p.dtype),
                      "var" + std::to_string(k));
  return vars;
}

std::vector<Tensor> run(const Program& p, const std::vector<Tensor>& inputs, const std::vector<duet::Variable>& vars) {
  Runner r{p, vars, std::vector<Tensor>(static_cast<size_t>(p.num_values))};
  for (size_t k = 0; k < inputs.size(); ++k) r.env[static_cast<size_t>(p.input_ids[k])] = inputs[k];
  r.exec(p.code);
  std::vector<Tensor> out;
  for (int id : p.outputs) out.push_back(r.at(id));
  return out;
}

std::string to_cpp(const Program& p) {
  Writer w{p, {}};
  std::string dtype = std::string("DType::") + duet::dtype_name(p.dtype);
  w.line(0, "// duet-difftest program " + std::to_string(p.seed) + ": " + summary(p));
  w.line(0, "// Build it against duet like any program (find_package(duet), duet::duet; docs/tools.md).");
  w.line(0, "// It prints the traced IR, then each result eagerly and traced; DUET_JIT=0 runs the traced");
  w.line(0, "// side stepped instead of compiled.");
  w.line(0, "#include <iostream>");
  w.line(0, "#include <duet/duet.h>");
  w.line(0, "using namespace duet;");
  w.line(0, "int main() {");
  w.line(2, "auto make_variables = [] {");
  w.line(4, "std::vector<Variable> var;");
  auto literal = [&](const std::vector<double>& values, const Dims& dims) {
    return "cast(from_vector(" + data(values) + ", Shape" + ints(dims) + "), " + dtype + ")";
  };
  for (size_t k = 0; k < p.variables.size(); ++k)
    w.line(4, "var.emplace_back(" + literal(p.variable_data[k], p.variables[k]) + ", \"var" + std::to_string(k) + "\");");
  w.line(4, "return var;");
  w.line(2, "};");
  w.line(2, "auto make_program = [](std::vector<Variable> var) {");
  w.line(2, "return [var](std::vector<Tensor> in) -> std::vector<Tensor> {");
  for (size_t k = 0; k < p.inputs.size(); ++k)
    w.line(4, "Tensor " + name(p.input_ids[k]) + " = in[" + std::to_string(k) + "];");
  w.code(4, p.code);
  std::string outs;
  for (size_t k = 0; k < p.outputs.size(); ++k) outs += (k ? ", " : "") + name(p.outputs[k]);
  w.line(4, "return {" + outs + "};");
  w.line(2, "};");
  w.line(2, "};");
  w.line(2, "std::vector<Tensor> in = {");
  for (size_t k = 0; k < p.inputs.size(); ++k)
    w.line(6, literal(p.input_data[k], p.inputs[k]) + ",");
  w.line(2, "};");
  w.line(2, "std::vector<Tensor> eager = make_program(make_variables())(in);");
  w.line(2, "auto traced = function(make_program(make_variables()));");
  w.line(2, "std::cout << traced.get_concrete_function(in).ir(Stage::traced);");
  w.line(2, "std::vector<Tensor> compiled = traced(in);");
  w.line(2, "for (size_t k = 0; k < eager.size(); ++k)");
  w.line(4, "std::cout << \"eager \" << eager[k] << \"\\ntraced \" << compiled[k] << \"\\n\";");
  w.line(0, "}");
  return w.out.str();
}

}  // namespace difftest
