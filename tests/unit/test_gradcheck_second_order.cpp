// Higher-order gradient checks in f64: second derivatives of the elementwise ops through nested tapes, and
// double backward of every op in the gradcheck table, eagerly and traced, against central differences.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <duet/duet.h>
#include <duet/graph/op_def.h>

#include "gradcheck_samples.h"

using namespace duet;
using namespace duet::gradcheck;

namespace {

// ---- second derivatives of the elementwise ops ---------------------------------------------

// For an elementwise op on operands of one shape, element e of dL/dx_i depends on element e of the
// inputs only, so d(dL/dx_i)/dx_j (the tape sums over e) is the diagonal d2L/dx_i[e]dx_j[e].
// Returns those, i-major, with zeros where the first derivative does not depend on x_j.
std::vector<Tensor> tape_second_derivatives(const OpCall& call, const Inputs& xs, const Tensor& w) {
  std::vector<size_t> fl = floating_inputs(xs);
  GradientTape outer(/*persistent=*/true);
  for (size_t k : fl) outer.watch(xs[k]);
  std::vector<Tensor> first;
  {
    GradientTape inner;
    std::vector<Tensor> sources;
    for (size_t k : fl) {
      inner.watch(xs[k]);
      sources.push_back(xs[k]);
    }
    first = inner.gradient(loss(call, xs, w), sources);
  }
  std::vector<Tensor> out;
  for (size_t i = 0; i < fl.size(); ++i)
    for (size_t j = 0; j < fl.size(); ++j) {
      Tensor h = outer.gradient(first[i], xs[fl[j]]);
      out.push_back(h.defined() ? h : zeros_like(xs[fl[j]]));
    }
  return out;
}

// The same diagonal by central differences of the analytic first derivative, moving all of x_j at once.
std::vector<double> numeric_second(const Sample& s, Inputs xs, size_t i, size_t j, const Tensor& w) {
  std::vector<size_t> fl = floating_inputs(xs);
  const std::vector<double> base = host(xs[fl[j]]);
  auto first_at = [&](double step) {
    std::vector<double> v = base;
    for (double& x : v) x += step;
    xs[fl[j]] = f64(v, xs[fl[j]].shape());
    return host(tape_gradients(s.call, xs, w)[i]);
  };
  std::vector<double> up = first_at(s.h), down = first_at(-s.h), out(base.size());
  for (size_t e = 0; e < out.size(); ++e) out[e] = (up[e] - down[e]) / (2 * s.h);
  return out;
}

// The first sample of each elementwise op whose floating operands all have the result's shape.
std::vector<std::pair<std::string, const Sample*>> elementwise_samples() {
  std::vector<std::pair<std::string, const Sample*>> out;
  for (const OpDef* op : OpRegistry::get().all()) {
    if (!op->has(kElementwise) || op->has(kNotDifferentiable) || op->has(kStructural)) continue;
    INFO("elementwise op " << op->name());
    const Sample* found = nullptr;
    auto it = samples().find(op->name());
    if (it != samples().end())
      for (const Sample& s : it->second) {
        Inputs xs = s.make();
        Shape out_shape = s.call(xs).shape();
        bool same = true;
        for (size_t k : floating_inputs(xs)) same = same && xs[k].shape() == out_shape;
        if (same) {
          found = &s;
          break;
        }
      }
    CHECK(found != nullptr);  // every elementwise op needs a same-shape sample
    if (found) out.emplace_back(op->name(), found);
  }
  return out;
}

void check_second_order(bool traced) {
  auto list = elementwise_samples();
  CHECK(list.size() >= 22);
  for (const auto& [name, s] : list) {
    INFO("op " << name << ", sample " << s->label << (traced ? ", traced" : ", eager"));
    Inputs xs = s->make();
    Tensor w = weights_for(*s, xs, 99);
    std::vector<Tensor> h;
    if (traced) {
      OpCall call = s->call;
      auto f = function([call, w](std::vector<Tensor> args) { return tape_second_derivatives(call, args, w); });
      h = f(xs);
      CHECK(f.trace_count() == 1);
    } else {
      h = tape_second_derivatives(s->call, xs, w);
    }
    std::vector<size_t> fl = floating_inputs(xs);
    REQUIRE(h.size() == fl.size() * fl.size());
    for (size_t i = 0; i < fl.size(); ++i)
      for (size_t j = 0; j < fl.size(); ++j) {
        INFO("d/dx" << fl[j] << " of dL/dx" << fl[i]);
        expect_close(h[i * fl.size() + j], numeric_second(*s, xs, i, j, w), xs[fl[j]]);
      }
  }
}

// ---- double backward of every op (PyTorch's gradgradcheck) ---------------------------------

// With L = sum(f(x)^2 w) the output gradient depends on the inputs too, and P = sum_i sum(dL/dx_i v_i) for
// fixed random v_i is a scalar function of the first derivatives; dP/dx_j from nested tapes is checked
// against central differences of P (each P from one eager tape).
Tensor quadratic_loss(const OpCall& call, const Inputs& xs, const Tensor& w) { return sum(square(call(xs)) * w); }

Tensor first_derivative_projection(const OpCall& call, const Inputs& xs, const Tensor& w, const Inputs& vs) {
  GradientTape tape;
  std::vector<Tensor> sources;
  for (size_t k : floating_inputs(xs)) {
    tape.watch(xs[k]);
    sources.push_back(xs[k]);
  }
  std::vector<Tensor> g = tape.gradient(quadratic_loss(call, xs, w), sources);
  Tensor p = scalar(0.0, DType::f64);
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i].defined()) p = p + sum(g[i] * vs[i]);
  return p;
}

std::vector<Tensor> tape_projection_gradients(const OpCall& call, const Inputs& xs, const Tensor& w, const Inputs& vs) {
  GradientTape outer;
  std::vector<Tensor> sources;
  for (size_t k : floating_inputs(xs)) {
    outer.watch(xs[k]);
    sources.push_back(xs[k]);
  }
  std::vector<Tensor> h = outer.gradient(first_derivative_projection(call, xs, w, vs), sources);
  for (size_t i = 0; i < h.size(); ++i)
    if (!h[i].defined()) h[i] = zeros_like(sources[i]);
  return h;
}

void check_double_backward(bool traced) {
  for (const auto& [name, list] : samples())
    for (const Sample& s : list) {
      // Through f32 the first derivative carries f32 rounding: too coarse for differences of it.
      if (name == "cast") continue;
      INFO("op " << name << ", sample " << s.label << (traced ? ", traced" : ", eager"));
      Inputs xs = s.make();
      Tensor w = weights_for(s, xs, 31);
      std::vector<size_t> fl = floating_inputs(xs);
      Inputs vs;
      for (size_t i = 0; i < fl.size(); ++i) vs.push_back(randn(xs[fl[i]].shape(), 41 + i, DType::f64));
      std::vector<Tensor> h;
      if (traced) {
        OpCall call = s.call;
        auto f = function([call, w, vs](std::vector<Tensor> args) { return tape_projection_gradients(call, args, w, vs); });
        h = f(xs);
      } else {
        h = tape_projection_gradients(s.call, xs, w, vs);
      }
      REQUIRE(h.size() == fl.size());
      for (size_t j = 0; j < fl.size(); ++j) {
        INFO("d/dx" << fl[j] << " of sum_i dL/dx_i v_i");
        const std::vector<double> base = host(xs[fl[j]]);
        std::vector<double> numeric(base.size());
        Inputs moved = xs;
        for (size_t e = 0; e < base.size(); ++e) {
          std::vector<double> v = base;
          v[e] = base[e] + s.h;
          moved[fl[j]] = f64(v, xs[fl[j]].shape());
          double up = first_derivative_projection(s.call, moved, w, vs).item<double>();
          v[e] = base[e] - s.h;
          moved[fl[j]] = f64(v, xs[fl[j]].shape());
          double down = first_derivative_projection(s.call, moved, w, vs).item<double>();
          numeric[e] = (up - down) / (2 * s.h);
        }
        expect_close(h[j], numeric, xs[fl[j]]);
      }
    }
}

}  // namespace

TEST_CASE("gradcheck: second derivatives of the elementwise ops through nested tapes, eagerly", "[autodiff]") {
  check_second_order(/*traced=*/false);
}

TEST_CASE("gradcheck: second derivatives of the elementwise ops through nested tapes, traced", "[autodiff]") {
  check_second_order(/*traced=*/true);
}

TEST_CASE("gradcheck: double backward of every op, eagerly", "[autodiff]") { check_double_backward(false); }

TEST_CASE("gradcheck: double backward of every op, traced", "[autodiff]") { check_double_backward(true); }
