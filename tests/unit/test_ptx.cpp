// GPU kernels as PTX (codegen/gpu/ptx.cpp, NOTE [GPU kernels]): generated
// for every elementwise op of the registry in every dtype it takes, for row
// and column reductions, and for the fusions of random graphs
// (test_pass_property.cpp), then assembled by
// CUDA's ptxas for sm_80 and sm_90. That checks the PTX is valid, not that
// it computes the right values: no GPU exists here, so none has run.
// Generating runs everywhere ([ptx]); assembling needs ptxas: those cases
// are [.ptxas], run by ctest's ptx.ptxas and reported skipped without it
// (NOTE [Skips that show] in main.cpp).
#include <catch2/catch.hpp>
#include <duet/codegen/llvm/kernels.h>
#include <duet/codegen/gpu/ptx.h>
#include <duet/duet.h>
#include <duet/graph/ir.h>
#include <duet/graph/op_def.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "test_ptx.h"

using namespace duet;
using duet_test::contains;
using duet_test::TempDir;
namespace jit = duet::codegen::jit;
namespace ptx = duet::codegen::ptx;

bool duet_test::ptxas_accepts_text(const std::string& text, const std::string& sm, const std::string& tag) {
#ifndef DUET_PTXAS
  // main.cpp skips a selection of [ptxas] cases here; one run with others fails.
  (void)text, (void)sm, (void)tag;
  FAIL("CUDA's ptxas was not found when duet_tests was built: only a [ptxas] case calls this");
  return false;
#else
  TempDir dir("ptx_" + tag);
  std::string file = (dir.path / (sm + ".ptx")).string();
  std::ofstream(file) << text;
  std::string cmd = std::string(DUET_PTXAS) + " -arch=" + sm + " " + file + " -o " + file + ".cubin 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  INFO(sm << ": " << cmd << "\n" << out.substr(0, 4000));
  CHECK(status == 0);
  return status == 0;
#endif
}

std::vector<std::string> duet_test::ptx_generates(const std::vector<ptx::KernelSpec>& kernels) {
  std::vector<std::string> texts;
  for (const char* sm : {"sm_80", "sm_90"}) {
    std::string text = ptx::generate(kernels, sm);
    CHECK(contains(text, std::string(".target ") + sm));
    for (const ptx::KernelSpec& k : kernels) CHECK(contains(text, ".entry " + k.name + "("));
    texts.push_back(std::move(text));
  }
  return texts;
}

bool duet_test::ptxas_accepts(const std::vector<ptx::KernelSpec>& kernels, const std::string& tag) {
  bool all = true;
  std::vector<std::string> texts = ptx_generates(kernels);
  const char* sms[] = {"sm_80", "sm_90"};
  for (size_t i = 0; i < texts.size(); ++i) all = ptxas_accepts_text(texts[i], sms[i], tag) && all;
  return all;
}

namespace {

// One kernel per elementwise op of the registry and dtype it takes (casts:
// per pair of dtypes).
std::vector<ptx::KernelSpec> op_kernels() {
  const DType dtypes[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};
  std::vector<ptx::KernelSpec> kernels;
  for (const OpDef* op : OpRegistry::get().all()) {
    if (op->scalar_op() == ScalarOp::none) continue;
    for (DType t : dtypes)
      for (DType to : dtypes) {
        bool cast = op->name() == "cast";
        if (!cast && to != t) continue;
        Graph g;
        std::vector<Value*> in;
        for (int k = 0; k < op->num_operands(); ++k) {
          DType pt = op->name() == "where" && k == 0 ? DType::b8 : t;
          in.push_back(g.add_param(TensorType{pt, Shape{4, 3}}));
        }
        Attrs attrs = cast ? Attrs{{"dtype", to}} : Attrs{};
        Node* node = nullptr;
        try {
          node = g.append(*op, in, attrs);
        } catch (const Error&) {
          continue;  // the op does not take this dtype
        }
        g.set_results({node->result()});
        if (!codegen::unsupported(g).empty()) continue;
        codegen::BodySpec body = codegen::describe(g);
        INFO(op->name() << " " << dtype_name(t));
        REQUIRE(codegen::gpu_refusal(body) == "");
        std::string name = "k_" + op->name() + "_" + dtype_name(t) + (cast ? std::string("_") + dtype_name(to) : "");
        kernels.push_back({name, body, 1 + static_cast<int>(kernels.size() % 3)});
      }
  }
  // Unary, binary, compare, logical, where, cast: dozens of (op, dtype) pairs.
  REQUIRE(kernels.size() > 80);
  return kernels;
}

// A row or column reduction after a broadcast mul, per reduction, dtype and rank.
std::vector<ptx::KernelSpec> reduction_kernels() {
  std::vector<ptx::KernelSpec> kernels;
  for (const char* reduce : {"sum", "mean", "max", "min"})
    for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64})
      for (int rank : {1, 2, 3})
        for (bool columns : {false, true}) {
          if (columns && rank == 1) continue;
          Graph g;
          Shape space = rank == 1 ? Shape{5} : rank == 2 ? Shape{4, 5} : Shape{3, 4, 5};
          Value* x = g.add_param(TensorType{t, space});
          Value* y = g.add_param(TensorType{t, Shape{5}});  // broadcast along the rows
          Node* e = g.append(op_def("mul"), {x, y});
          std::vector<int64_t> axes;
          if (columns) for (int d = 0; d + 1 < rank; ++d) axes.push_back(d);
          else axes.push_back(rank - 1);
          Node* r = nullptr;
          try {
            r = g.append(op_def(reduce), {e->result()}, {{"axes", axes}, {"keepdims", false}});
          } catch (const Error&) {
            continue;  // e.g. no integer mean
          }
          g.set_results({r->result(), e->result()});  // the product is a result too
          INFO(reduce << " " << dtype_name(t) << " rank " << rank << (columns ? " columns" : " rows"));
          REQUIRE(codegen::unsupported(g) == "");
          codegen::BodySpec body = codegen::describe(g);
          REQUIRE(body.reduction_yield == 0);
          REQUIRE(body.columns == columns);
          REQUIRE(codegen::gpu_refusal(body) == "");
          kernels.push_back({std::string("k_") + reduce + "_" + dtype_name(t) + "_" + std::to_string(rank) +
                                 (columns ? "_cols" : "_rows"), body, rank});
        }
  REQUIRE(kernels.size() >= 60);
  return kernels;
}

}  // namespace

TEST_CASE("GPU kernels: every elementwise op in every dtype it takes generates PTX", "[ptx]") {
  duet_test::ptx_generates(op_kernels());
}

TEST_CASE("GPU kernels: every elementwise op in every dtype it takes assembles with ptxas", "[.ptxas]") {
  CHECK(duet_test::ptxas_accepts(op_kernels(), "ops"));
}

TEST_CASE("GPU kernels: row and column reductions after an elementwise op generate PTX", "[ptx]") {
  duet_test::ptx_generates(reduction_kernels());
}

TEST_CASE("GPU kernels: row and column reductions after an elementwise op assemble with ptxas", "[.ptxas]") {
  CHECK(duet_test::ptxas_accepts(reduction_kernels(), "reductions"));
}

TEST_CASE("GPU kernels: a softmax row is not generated yet, and says so", "[ptx]") {
  Graph g;
  Value* x = g.add_param(TensorType{DType::f32, Shape{4, 3}});
  Node* s = g.append(op_def("softmax"), {x}, {{"axis", int64_t{-1}}});
  codegen::BodySpec body = codegen::describe_normalization(*s);
  CHECK(contains(codegen::gpu_refusal(body), "softmax"));
  CHECK_THROWS_WITH(ptx::generate({{"k", body, 2}}, "sm_80"), Catch::Contains("cannot run on a GPU"));
}
