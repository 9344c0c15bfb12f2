// Finite-difference gradient checks in f64 for every differentiable op (a walk of the op registry against
// the table in gradcheck_samples.h), eagerly and with the tape inside a traced function.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <duet/duet.h>
#include <duet/graph/op_def.h>
#include <duet/runtime/gradient.h>

#include "gradcheck_samples.h"

using namespace duet;
using namespace duet::gradcheck;

namespace {

std::vector<Tensor> traced_gradients(const OpCall& call, const Inputs& xs, const Tensor& w) {
  auto f = function([call, w](std::vector<Tensor> args) {
    std::vector<Tensor> g = tape_gradients(call, args, w);
    std::vector<size_t> fl = floating_inputs(args);
    for (size_t i = 0; i < g.size(); ++i)  // a function returns defined tensors: "none" as zeros
      if (!g[i].defined()) g[i] = zeros_like(args[fl[i]]);
    return g;
  });
  std::vector<Tensor> g = f(xs);
  CHECK(f.trace_count() == 1);
  return g;
}

// dL/dx_k[j] for every element j, by central differences of eager losses.
std::vector<double> numeric_gradient(const Sample& s, Inputs xs, size_t k, const Tensor& w) {
  const std::vector<double> base = host(xs[k]);
  const Shape shape = xs[k].shape();
  std::vector<double> out(base.size());
  for (size_t j = 0; j < base.size(); ++j) {
    std::vector<double> v = base;
    v[j] = base[j] + s.h;
    xs[k] = f64(v, shape);
    double up = loss(s.call, xs, w).item<double>();
    v[j] = base[j] - s.h;
    xs[k] = f64(v, shape);
    double down = loss(s.call, xs, w).item<double>();
    out[j] = (up - down) / (2 * s.h);
  }
  return out;
}

void check_first_order(bool traced) {
  size_t checked = 0;
  for (const auto& [name, list] : samples())
    for (const Sample& s : list) {
      INFO("op " << name << ", sample " << s.label << (traced ? ", traced" : ", eager"));
      Inputs xs = s.make();
      Tensor w = weights_for(s, xs, 7 + checked);
      std::vector<Tensor> g = traced ? traced_gradients(s.call, xs, w) : tape_gradients(s.call, xs, w);
      std::vector<size_t> fl = floating_inputs(xs);
      REQUIRE(g.size() == fl.size());
      for (size_t i = 0; i < fl.size(); ++i) {
        INFO("input " << fl[i] << " " << xs[fl[i]].type().str());
        expect_close(g[i], numeric_gradient(s, xs, fl[i], w), xs[fl[i]]);
      }
      ++checked;
    }
  CHECK(checked >= 80);
}

}  // namespace

TEST_CASE("gradcheck: every differentiable op has a gradient rule and a sample in the gradcheck table",
          "[autodiff]") {
  int differentiable = 0;
  for (const OpDef* op : OpRegistry::get().all()) {
    INFO("op " << op->name());
    if (op->has(kStructural)) continue;  // constant, print, cond, while, fusion: not kernels
    CHECK((find_gradient(*op) != nullptr || op->has(kNotDifferentiable)));
    if (op->has(kNotDifferentiable)) continue;
    ++differentiable;
    CHECK(samples().count(op->name()) == 1);  // a new differentiable op needs a sample here
  }
  CHECK(differentiable >= 40);
  for (const auto& [name, list] : samples()) {
    INFO("table entry " << name);
    const OpDef* op = OpRegistry::get().find(name);
    REQUIRE(op != nullptr);
    CHECK_FALSE(op->has(kNotDifferentiable));
    CHECK_FALSE(list.empty());
  }
}

TEST_CASE("gradcheck: eager gradients of every differentiable op match central differences in f64", "[autodiff]") {
  check_first_order(/*traced=*/false);
}

TEST_CASE("gradcheck: gradients taken inside a traced function match central differences in f64", "[autodiff]") {
  check_first_order(/*traced=*/true);
}
