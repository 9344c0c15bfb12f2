// The IR's C++ API: building graphs, use lists, erasing and replacing, the
// verifier's own checks (dominance), and a fuzz-style run of the parser and
// verifier over mutated copies of the lit test files.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <duet/backends/target.h>
#include <duet/graph/ir.h>
#include <duet/graph/parser.h>
#include <duet/graph/printer.h>
#include <duet/graph/verifier.h>
#include <duet/passes/pass.h>

using namespace duet;

namespace {
TensorType f32(std::initializer_list<int64_t> dims) { return TensorType{DType::f32, Shape(dims)}; }
}  // namespace

TEST_CASE("building a graph infers types and keeps use lists", "[ir]") {
  Graph g("f");
  Value* x = g.add_param(f32({-1, 4}), "x");
  Value* w = g.add_param(f32({4, 3}), "w");
  Node* mm = g.append(op_def("matmul"), {x, w}, {}, SrcLoc("model.cpp", 3));
  Node* r = g.append(op_def("relu"), {mm->result()});
  g.set_results({r->result()});
  CHECK(mm->result()->type().str() == "f32[?,3]");
  CHECK(x->uses().size() == 1);
  CHECK(mm->result()->uses().size() == 1);
  CHECK_FALSE(r->result()->unused());
  verify(g);
  CHECK(print_graph(g) ==
        "func @f(%x: f32[?,4], %w: f32[4,3]) -> (f32[?,3]) {\n"
        "  %0 = matmul(%x, %w) : f32[?,3]  loc(\"model.cpp\":3)\n"
        "  %1 = relu(%0) : f32[?,3]\n"
        "  return %1\n"
        "}\n");
}

TEST_CASE("append reports the op's own error for bad operands", "[ir]") {
  Graph g("f");
  Value* a = g.add_param(f32({2, 3}), "a");
  Value* b = g.add_param(f32({4, 5}), "b");
  CHECK_THROWS_AS(g.append(op_def("matmul"), {a, b}, {}, SrcLoc("m.cpp", 9)), ShapeError);
  try {
    g.append(op_def("matmul"), {a, b}, {}, SrcLoc("m.cpp", 9));
  } catch (const ShapeError& e) {
    CHECK(std::string(e.what()) == "matmul: inner dims differ: f32[2,3] x f32[4,5] (m.cpp:9)");
  }
}

TEST_CASE("replace_all_uses_with rewires operands and results", "[ir]") {
  Graph g("f");
  Value* a = g.add_param(f32({4}), "a");
  Node* e1 = g.append(op_def("exp"), {a});
  Node* e2 = g.append(op_def("exp"), {a});
  Node* add = g.append(op_def("add"), {e1->result(), e2->result()});
  g.set_results({e2->result(), add->result()});
  e2->result()->replace_all_uses_with(e1->result());
  CHECK(add->operand(1) == e1->result());
  CHECK(g.results()[0] == e1->result());
  CHECK(e2->unused());
  e2->erase();
  CHECK(g.num_nodes() == 2);
  CHECK(e1->result()->uses().size() == 2);
  verify(g);
}

TEST_CASE("the verifier checks dominance that the parser cannot express", "[ir]") {
  Graph g("f");
  Value* a = g.add_param(f32({4}), "a");
  Node* first = g.append(op_def("exp"), {a});
  Node* second = g.append(op_def("neg"), {a});
  first->set_operand(0, second->result());  // uses a value defined after it
  g.set_results({first->result()});
  try {
    verify(g);
    FAIL("verify accepted a use before the definition");
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("verify: exp: operand 0 is not defined before its use") != std::string::npos);
    CHECK(msg.find("%0 = exp(%1)") != std::string::npos);
  }
}

TEST_CASE("dce and cse through the pass manager keep statistics", "[ir][passes]") {
  auto g = parse_graph(
      "func @f(%a: f32[4]) -> (f32[4]) {\n"
      "  %0 = exp(%a) : f32[4]\n"
      "  %1 = exp(%a) : f32[4]\n"
      "  %2 = add(%0, %1) : f32[4]\n"
      "  %3 = tanh(%a) : f32[4]\n"
      "  return %2\n"
      "}\n");
  passes::PassManagerOptions options;
  options.verify_each = true;
  passes::PassManager pm("cse,dce", options);
  auto runs = pm.run(*g);
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].pass == "cse");
  CHECK(runs[0].stats.at("merged") == 1);
  CHECK(runs[1].pass == "dce");
  CHECK(runs[1].stats.at("erased") == 1);
  // The default pipeline, as declared in passes/pipelines.cpp.
  std::vector<std::string> names;
  passes::PassManager default_pipeline("default");
  for (const passes::PassInfo* p : default_pipeline.passes()) names.push_back(p->name);
  CHECK(names == std::vector<std::string>{"canonicalize", "constant-fold", "cse", "batch-matmuls", "dce", "fuse-matmul-epilogue",
                                                   "fuse-elementwise", "memory-plan"});
  CHECK(g->num_nodes() == 2);
  CHECK_THROWS_WITH(passes::PassManager("cse,nope"), Catch::Contains("unknown pass or pipeline 'nope'"));
}

TEST_CASE("constant-fold takes its evaluator from the target, and says when there is none", "[ir][passes]") {
  const char* text =
      "func @f(%x: f32[2]) -> (f32[2]) {\n"
      "  %0 = constant() {value=dense<2.0>} : f32[]\n"
      "  %1 = constant() {value=dense<3.0>} : f32[]\n"
      "  %2 = add(%0, %1) : f32[]\n"
      "  %3 = mul(%x, %2) : f32[2]\n"
      "  return %3\n"
      "}\n";
  // A target that fuses nothing and has no evaluator.
  struct Bare final : TargetInfo {
    std::string name() const override { return "bare"; }
    bool fuses_epilogue(const OpDef&, DType, const Shape&, const Shape*, std::string_view) const override {
      return false;
    }
  } bare;
  passes::PassManager pm("constant-fold");
  for (const TargetInfo* target : {static_cast<const TargetInfo*>(nullptr), static_cast<const TargetInfo*>(&bare)}) {
    auto g = parse_graph(text);
    auto runs = pm.run(*g, target);
    REQUIRE(runs.size() == 1);
    CHECK_FALSE(runs[0].changed);
    CHECK(runs[0].stats.at("folded") == 0);
    CHECK(runs[0].stats.at("no constant evaluator") == 1);
    REQUIRE(runs[0].remarks.size() == 1);
    CHECK_THAT(runs[0].remarks[0], Catch::Contains("folded nothing") &&
                                       Catch::Contains(target ? "the target (bare) has no constant evaluator"
                                                              : "no target given"));
    CHECK_THAT(passes::format_statistics(runs), Catch::Contains("folded=0 no constant evaluator=1"));
    CHECK(g->num_nodes() == 4);
  }
  // The CPU target's evaluator: its kernels.
  auto g = parse_graph(text);
  auto runs = pm.run(*g, &cpu_target());
  CHECK(runs[0].changed);
  CHECK(runs[0].stats.at("folded") == 1);
  CHECK(runs[0].stats.count("no constant evaluator") == 0);
}

TEST_CASE("DUET_DUMP-style dumps sort in pipeline order", "[ir][passes]") {
  auto dir = std::filesystem::temp_directory_path() / "duet_dump_test";
  std::filesystem::remove_all(dir);
  auto g = parse_graph("func @step(%a: f32[4]) -> (f32[4]) {\n  %0 = exp(%a) : f32[4]\n  return %a\n}\n");
  passes::PassManagerOptions options;
  options.dump_dir = dir.string();
  passes::PassManager("cse,dce", options).run(*g);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  REQUIRE(names == std::vector<std::string>{"step.00-input.duet", "step.01-cse.duet", "step.02-dce.duet"});
  std::ifstream last(dir / "step.02-dce.duet");
  std::stringstream text;
  text << last.rdbuf();
  CHECK(text.str().find("exp(") == std::string::npos);
  std::filesystem::remove_all(dir);
}

// Mutations of real IR text must give a ParseError or another duet::Error,
// never a crash or a foreign exception.
TEST_CASE("10,000 mutated IR files never crash the parser or the verifier", "[ir][fuzz]") {
  std::vector<std::string> corpus;
  for (const auto& e : std::filesystem::directory_iterator(DUET_SOURCE_DIR "/tests/ir")) {
    if (e.path().extension() != ".duet") continue;
    std::ifstream in(e.path());
    std::stringstream s;
    s << in.rdbuf();
    corpus.push_back(s.str());
  }
  REQUIRE(corpus.size() >= 4);
  const std::string alphabet = "%@(){}[],:=^?<>-.0123456789abcdefxyz\"\\ \n";
  std::mt19937_64 rng(1234);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string text = corpus[rng() % corpus.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      size_t pos = rng() % text.size();
      switch (rng() % 5) {
        case 0: text.erase(pos, 1 + rng() % 8); break;
        case 1: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: text[pos] = alphabet[rng() % alphabet.size()]; break;
        case 3: {  // duplicate a span
          size_t len = 1 + rng() % 40;
          text.insert(pos, text.substr(pos, len));
          break;
        }
        case 4: {  // swap two spans
          size_t other = rng() % text.size(), len = 1 + rng() % 20;
          std::string a = text.substr(pos, len), b = text.substr(other, len);
          text.replace(pos, a.size(), b);
          break;
        }
      }
    }
    try {
      auto module = parse_module(text, "fuzz");
      for (auto& g : module) {
        verify(*g);
        std::string printed = print_graph(*g);
        auto again = parse_graph(printed, "reprint");
        REQUIRE(print_graph(*again) == printed);  // whatever verifies also round-trips
      }
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  CHECK(parsed + rejected == 10000);
  CHECK(rejected > 0);
  CHECK(parsed > 0);
}
