// The verifier. Walks the function and its regions with the set of values
// visible at each point (SSA dominance: defined earlier in the same graph, or
// before the region's node in an enclosing graph).
#include <duet/graph/verifier.h>

#include <map>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include <duet/graph/printer.h>

namespace duet {
namespace {

class Verifier {
 public:
  void graph(const Graph& g, bool is_function) {
    size_t mark = visible_.size();
    for (int i = 0; i < g.num_params(); ++i) see(g.param(i));
    Value* last_token = nullptr;
    for (int i = 0; i < g.num_params(); ++i)
      if (g.param(i)->type().is_token) last_token = g.param(i);
    for (const auto& node : g.nodes()) {
      const Node& n = *node;
      if (n.parent() != &g) fail(n, "is listed in a graph that is not its parent");
      for (int i = 0; i < n.num_operands(); ++i)
        if (!visible_set_.count(n.operand(i)))
          fail(n, fmt::format("operand {} is not defined before its use (SSA dominance)", i));
      check_types(n);
      check_tokens(n, last_token);
      for (int r = 0; r < n.num_regions(); ++r) graph(*n.region(r), false);
      check_regions(n);
      for (int i = 0; i < n.num_results(); ++i) see(n.result(i));
    }
    for (size_t i = 0; i < g.results().size(); ++i)
      if (!visible_set_.count(g.results()[i]))
        throw Error(fmt::format("verify: {} {} of @{} is not defined in its scope", is_function ? "return value" : "yield value",
                                i, root_name(g)));
    while (visible_.size() > mark) {
      visible_set_.erase(visible_.back());
      visible_.pop_back();
    }
  }

 private:
  void see(const Value* v) {
    visible_.push_back(v);
    visible_set_.insert(v);
  }

  static std::string root_name(const Graph& g) {
    const Graph* cur = &g;
    while (cur->parent_node()) cur = cur->parent_node()->parent();
    return cur->name();
  }

  [[noreturn]] static void fail(const Node& n, const std::string& what) {
    throw Error(fmt::format("verify: {}: {}\n  {}", n.name(), what, print_node(n)));
  }

  void check_types(const Node& n) {
    const OpDef& op = n.op();
    if (op.has(kStructural) && op.name() != "constant") return;  // region ops: check_regions
    std::vector<const TensorType*> operands;
    for (int i = 0; i < n.num_operands(); ++i) {
      const ValueType& t = n.operand(i)->type();
      if (t.is_token) {
        if (!op.has(kSideEffecting) || i != 0) fail(n, fmt::format("operand {} is a token", i));
        continue;
      }
      operands.push_back(&t.tensor);
    }
    if (op.num_operands() >= 0 && static_cast<int>(operands.size()) != op.num_operands())
      fail(n, fmt::format("expects {} operands, got {}", op.num_operands(), operands.size()));
    for (const AttrSpec& spec : op.attr_specs())
      if (!n.attrs().has(spec.name) && !spec.optional)
        fail(n, fmt::format("attribute '{}' is missing", spec.name));
    SmallVec<TensorType, 2> expected;
    try {
      expected = infer_types(op, operands, n.attrs(), n.loc());
    } catch (const Error& e) {
      std::string what = e.what();
      std::string prefix = op.name() + ": ";
      if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());  // fail() names the op
      fail(n, what);
    }
    int tensor_results = n.num_results() - (op.has(kSideEffecting) ? 1 : 0);
    if (tensor_results < 0 || static_cast<int>(expected.size()) != tensor_results)
      fail(n, fmt::format("has {} results, the op gives {}{}", n.num_results(), expected.size(),
                          op.has(kSideEffecting) ? " and a token" : ""));
    for (int i = 0; i < tensor_results; ++i) {
      const ValueType& got = n.result(i)->type();
      if (got.is_token || !(got.tensor == expected[i]))
        fail(n, fmt::format("result {} is {} but the op infers {}", i, got.str(), expected[i].str()));
    }
    if (op.has(kSideEffecting) && !n.result(n.num_results() - 1)->type().is_token)
      fail(n, "a side-effecting op must yield a token as its last result");
  }

  static bool has_side_effects(const Graph& g) {
    for (const auto& n : g.nodes()) {
      if (n->is_side_effecting()) return true;
      for (int r = 0; r < n->num_regions(); ++r)
        if (has_side_effects(*n->region(r))) return true;
    }
    return false;
  }

  // NOTE [Tokens] (graph/ops/structural.cpp): one chain per graph.
  void check_tokens(const Node& n, Value*& last_token) {
    bool effects = n.is_side_effecting();
    for (int r = 0; r < n.num_regions() && !effects; ++r) effects = has_side_effects(*n.region(r));
    Value* consumed = nullptr;
    for (int i = 0; i < n.num_operands(); ++i)
      if (n.operand(i)->type().is_token) {
        if (consumed) fail(n, "consumes two tokens");
        consumed = n.operand(i);
      }
    if (!effects) {
      if (consumed) fail(n, "consumes a token but has no side effects");
      return;
    }
    if (consumed != last_token) {
      if (!last_token) fail(n, "consumes a token although no side effect precedes it in this graph");
      fail(n, "does not consume the token of the side effect before it (tokens must form one chain)");
    }
    Value* produced = nullptr;
    for (int i = 0; i < n.num_results(); ++i)
      if (n.result(i)->type().is_token) produced = n.result(i);
    if (!produced) fail(n, "has side effects but yields no token");
    last_token = produced;
  }

  void check_yields(const Node& n, const Graph& region, const std::vector<ValueType>& want, const char* which) {
    if (region.results().size() != want.size())
      fail(n, fmt::format("the {} region yields {} values, expected {}", which, region.results().size(), want.size()));
    for (size_t i = 0; i < want.size(); ++i)
      if (!(region.results()[i]->type() == want[i]))
        fail(n, fmt::format("the {} region yields {} at position {}, expected {}", which,
                            region.results()[i]->type().str(), i, want[i].str()));
  }

  void check_params(const Node& n, const Graph& region, const std::vector<ValueType>& want, const char* which) {
    if (region.num_params() != static_cast<int>(want.size()))
      fail(n, fmt::format("the {} region takes {} parameters, expected {}", which, region.num_params(), want.size()));
    for (size_t i = 0; i < want.size(); ++i)
      if (!(region.param(static_cast<int>(i))->type() == want[i]))
        fail(n, fmt::format("the {} region's parameter {} is {}, expected {}", which, i,
                            region.param(static_cast<int>(i))->type().str(), want[i].str()));
  }

  // NOTE [What a fusion body holds]: elementwise ops (the kElementwise
  // trait: pure, one result, no regions), and last, at most one reduction
  // (sum, mean, max or min) of a value of the body. That is what
  // fuse-elementwise makes (a group closes after its reduction) and what the
  // code generators take (codegen/llvm/kernels.cpp's unsupported()); a
  // matmul, a region op or a nested fusion belongs outside.
  static void check_fusion_body(const Node& fusion, const Graph& body) {
    auto reject = [&](const Node& m, const std::string& why) {
      const std::string at = fusion.loc().known() ? " at " + fusion.loc().str() : "";
      throw Error(fmt::format("verify: fusion{}: its body holds {}, which {} (a fusion body holds elementwise ops "
                              "and at most one trailing sum, mean, max or min)\n  {}\n  in {}",
                              at, m.name(), why, print_node(m), print_node(fusion)));
    };
    const Node* last = body.nodes().empty() ? nullptr : body.nodes().back().get();
    for (const auto& m : body.nodes()) {
      const OpDef& op = m->op();
      if (op.has(kElementwise) && m->num_regions() == 0) continue;
      if (m.get() == last && trailing_reduction(*m)) continue;
      if (m->num_regions() > 0) reject(*m, "is a region op");
      if (trailing_reduction(*m)) reject(*m, "is a reduction that is not the body's last node");
      if (op.has(kReduction)) reject(*m, "is not a reduction a fusion takes");
      reject(*m, "is not elementwise");
    }
  }

  static bool trailing_reduction(const Node& m) {
    const std::string& op = m.name();
    return (op == "sum" || op == "mean" || op == "max" || op == "min") && m.num_regions() == 0;
  }

  void check_regions(const Node& n) {
    const std::string& name = n.name();
    std::vector<ValueType> results;
    for (int i = 0; i < n.num_results(); ++i) results.push_back(n.result(i)->type());
    std::vector<ValueType> operands;
    for (int i = 0; i < n.num_operands(); ++i) operands.push_back(n.operand(i)->type());
    if (name == "cond") {
      if (n.num_regions() != 2) fail(n, fmt::format("has {} regions, expected 2 (then, else)", n.num_regions()));
      if (n.num_operands() < 1) fail(n, "needs a predicate operand");
      const ValueType& p = n.operand(0)->type();
      if (p.is_token || p.tensor.dtype != DType::b8 || p.tensor.shape.rank() != 0)
        fail(n, fmt::format("the predicate is {}, expected b8[]", p.str()));
      check_params(n, *n.region(0), {}, "then");
      check_params(n, *n.region(1), {}, "else");
      check_yields(n, *n.region(0), results, "then");
      check_yields(n, *n.region(1), results, "else");
    } else if (name == "while") {
      if (n.num_regions() != 2) fail(n, fmt::format("has {} regions, expected 2 (cond, body)", n.num_regions()));
      if (!(operands == results)) fail(n, "results must have the types of the loop variables");
      check_params(n, *n.region(0), operands, "cond");
      check_params(n, *n.region(1), operands, "body");
      check_yields(n, *n.region(0), {ValueType(TensorType{DType::b8, Shape{}})}, "cond");
      check_yields(n, *n.region(1), operands, "body");
    } else if (name == "fusion") {
      if (n.num_regions() != 1) fail(n, fmt::format("has {} regions, expected 1", n.num_regions()));
      check_params(n, *n.region(0), operands, "fusion");
      check_yields(n, *n.region(0), results, "fusion");
      check_fusion_body(n, *n.region(0));
    } else if (n.num_regions() != 0) {
      fail(n, fmt::format("has {} regions but the op takes none", n.num_regions()));
    }
  }

  std::vector<const Value*> visible_;
  std::unordered_set<const Value*> visible_set_;
};

}  // namespace

// NOTE [Variables in the IR] (graph/ir.h): each variable is one parameter,
// written back by at most one result of the same type.
static void verify_variables(const Graph& g) {
  std::map<std::string, const Value*> params;
  for (int i = 0; i < g.num_params(); ++i) {
    const Value* p = g.param(i);
    if (p->variable().empty()) continue;
    if (!params.emplace(p->variable(), p).second)
      throw Error(fmt::format("verify: @{}: variable \"{}\" is bound to two parameters", g.name(), p->variable()));
  }
  std::set<std::string> written;
  for (size_t i = 0; i < g.results().size(); ++i) {
    const std::string& var = g.result_variable(static_cast<int>(i));
    if (var.empty()) continue;
    auto it = params.find(var);
    if (it == params.end())
      throw Error(fmt::format("verify: @{}: result {} writes back variable \"{}\", which no parameter reads", g.name(),
                              i, var));
    if (!written.insert(var).second)
      throw Error(fmt::format("verify: @{}: variable \"{}\" is written back twice", g.name(), var));
    if (!(it->second->type() == g.results()[i]->type()))
      throw Error(fmt::format("verify: @{}: variable \"{}\" is {} but result {} writes back {}", g.name(), var,
                              it->second->type().str(), i, g.results()[i]->type().str()));
  }
}

void verify(const Graph& g) {
  Verifier v;
  v.graph(g, true);
  verify_variables(g);
}

}  // namespace duet
