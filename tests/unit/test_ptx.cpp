// GPU kernels as PTX (codegen/llvm/ptx.cpp, NOTE [GPU kernels]): generated
// for every elementwise op of the registry in every dtype it takes, and for
// the fusions of random graphs (test_pass_property.cpp), then assembled by
// CUDA's ptxas for sm_80 and sm_90. That checks the PTX is valid, not that
// it computes the right values: no GPU exists here, so none has run.
#include <catch2/catch.hpp>
#include <duet/codegen/llvm/kernels.h>
#include <duet/codegen/llvm/ptx.h>
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

bool duet_test::ptxas_accepts(const std::vector<ptx::KernelSpec>& kernels, const std::string& tag) {
#ifndef DUET_PTXAS
  WARN("SKIPPED: the PTX checks: CUDA's ptxas was not found when this was built");
  return true;
#else
  bool all = true;
  for (const char* sm : {"sm_80", "sm_90"}) {
    std::string text = ptx::generate(kernels, sm);
    for (const ptx::KernelSpec& k : kernels) CHECK(contains(text, ".entry " + k.name + "("));
    TempDir dir("ptx_" + tag);
    std::string file = (dir.path / (std::string(sm) + ".ptx")).string();
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
    all = all && status == 0;
  }
  return all;
#endif
}

TEST_CASE("GPU kernels: every elementwise op in every dtype it takes assembles with ptxas", "[ptx]") {
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
        if (!jit::unsupported(g).empty()) continue;
        jit::BodySpec body = jit::describe(g);
        INFO(op->name() << " " << dtype_name(t));
        REQUIRE(ptx::unsupported(body) == "");
        std::string name = "k_" + op->name() + "_" + dtype_name(t) + (cast ? std::string("_") + dtype_name(to) : "");
        kernels.push_back({name, body, 1 + static_cast<int>(kernels.size() % 3)});
      }
  }
  // Unary, binary, compare, logical, where, cast: dozens of (op, dtype) pairs.
  REQUIRE(kernels.size() > 80);
  CHECK(duet_test::ptxas_accepts(kernels, "ops"));
}

TEST_CASE("GPU kernels: a reduction is not generated yet, and says so", "[ptx]") {
  Graph g;
  Value* x = g.add_param(TensorType{DType::f32, Shape{4, 3}});
  Node* e = g.append(op_def("exp"), {x});
  Node* s = g.append(op_def("sum"), {e->result()}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", false}});
  g.set_results({s->result()});
  REQUIRE(jit::unsupported(g) == "");
  CHECK(contains(ptx::unsupported(jit::describe(g)), "reduction"));
  CHECK_THROWS_WITH(ptx::generate({{"k", jit::describe(g), 2}}, "sm_80"), Catch::Contains("cannot run on a GPU"));
}
