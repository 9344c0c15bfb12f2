// The GPU suite (issue 12, docs/cuda.md): every public op on cuda:0, eager and
// traced, against the same op on the CPU; creation under a DeviceScope, copies,
// host reads, variables, gradients, training steps and mixed-device errors.
// Hidden ([.gpu]): ctest's gpu.suite runs `duet_tests "[gpu]"`, which main.cpp
// reports as skipped, with the runtime's reason, on a machine without a GPU.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

using namespace duet;
using duet_test::contains;

namespace {

const Device kGpu = Device::cuda(0);
constexpr double kF32 = 1e-5;     // f32, relative: elementwise ops are the same scalar code on both devices
constexpr double kF32Dot = 1e-4;  // f32 dot products and training: oneDNN and cuBLAS/cuDNN sum in other orders
constexpr double kF64 = 1e-12;

double tol_of(DType dtype, double f32_tol = kF32) { return dtype == DType::f64 ? kF64 : f32_tol; }

std::vector<Tensor> to_gpu(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.to(kGpu));
  return out;
}

// `gpu` is on cuda:0 and equals `cpu`, a CPU tensor: the same dtype and shape;
// integers and b8 exactly, floats within tol * max(1, |cpu|) (NaN matches NaN,
// an infinity only itself). Returns whether they matched.
bool same(const Tensor& gpu, const Tensor& cpu, double tol) {
  CHECK(gpu.defined());
  CHECK(cpu.defined());
  if (!gpu.defined() || !cpu.defined()) return false;
  CHECK(gpu.device() == kGpu);
  CHECK(cpu.device() == Device::cpu());
  CHECK(gpu.dtype() == cpu.dtype());
  CHECK(gpu.shape() == cpu.shape());
  if (gpu.dtype() != cpu.dtype() || !(gpu.shape() == cpu.shape())) return false;
  const Tensor host = gpu.cpu();
  CHECK(host.device() == Device::cpu());
  int64_t bad = 0;
  std::string first;
  auto mismatch = [&](size_t i, auto got, auto want) {
    if (bad++ == 0) first = "element " + std::to_string(i) + ": cuda " + std::to_string(got) + ", cpu " + std::to_string(want);
  };
  if (is_floating(cpu.dtype())) {
    const std::vector<double> g = host.to_vector<double>(), c = cpu.to_vector<double>();
    for (size_t i = 0; i < c.size(); ++i) {
      const bool finite = std::isfinite(g[i]) && std::isfinite(c[i]);
      const bool ok = g[i] == c[i] || (std::isnan(g[i]) && std::isnan(c[i])) ||
                      (finite && std::abs(g[i] - c[i]) <= tol * std::max(1.0, std::abs(c[i])));
      if (!ok) mismatch(i, g[i], c[i]);
    }
  } else {
    const std::vector<int64_t> g = host.to_vector<int64_t>(), c = cpu.to_vector<int64_t>();
    for (size_t i = 0; i < c.size(); ++i)
      if (g[i] != c[i]) mismatch(i, g[i], c[i]);
  }
  INFO(cpu.type().str() << ": " << bad << " of " << cpu.numel() << " elements differ; first " << first);
  CHECK(bad == 0);
  return bad == 0;
}

// ---- every op, eager and traced -----------------------------------------------------

using In = const std::vector<Tensor>&;
using OpFn = std::function<Tensor(In)>;

struct OpCase {
  std::string name;
  std::vector<Tensor> inputs;  // on the CPU
  OpFn run;
  double f32_tol = kF32;
};

// The public ops of DESIGN.md §1 (and the rest of runtime/ops.h), each on
// random inputs of dtype `dt` (f32 or f64) with the shapes that exercise it.
std::vector<OpCase> op_cases(DType dt) {
  const DType other = dt == DType::f32 ? DType::f64 : DType::f32;
  const Tensor x = randn({3, 4, 5}, 1, dt), y = randn({3, 4, 5}, 2, dt);
  const Tensor pos = abs(randn({3, 4, 5}, 3, dt)) + 0.5;  // log, sqrt, divisors, pow's base
  const Tensor row = randn({5}, 4, dt), mat = randn({4, 5}, 5, dt), big = randn({64, 300}, 6, dt);
  std::vector<OpCase> cs;
  auto op = [&](std::string name, std::vector<Tensor> in, OpFn f, double f32_tol = kF32) {
    cs.push_back({std::move(name), std::move(in), std::move(f), f32_tol});
  };

  // elementwise unary
  op("neg", {x}, [](In a) { return neg(a[0]); });
  op("operator -", {x}, [](In a) { return -a[0]; });
  op("abs", {x}, [](In a) { return abs(a[0]); });
  op("square", {x}, [](In a) { return square(a[0]); });
  op("exp", {x}, [](In a) { return exp(a[0]); });
  op("log", {pos}, [](In a) { return log(a[0]); });
  op("sqrt", {pos}, [](In a) { return sqrt(a[0]); });
  op("rsqrt", {pos}, [](In a) { return rsqrt(a[0]); });
  op("tanh", {x}, [](In a) { return tanh(a[0]); });
  op("sigmoid", {x}, [](In a) { return sigmoid(a[0]); });
  op("relu", {x}, [](In a) { return relu(a[0]); });
  op("gelu", {x}, [](In a) { return gelu(a[0]); });
  op("erf", {x}, [](In a) { return erf(a[0]); });
  op("gelu tanh", {x}, [](In a) { return gelu(a[0], "tanh"); });
  op("log1p", {pos}, [](In a) { return log1p(a[0]); });
  op("softplus", {x}, [](In a) { return softplus(a[0]); });
  op("sign", {x}, [](In a) { return sign(a[0]); });
  op("sin", {x}, [](In a) { return sin(a[0]); });
  op("cos", {x}, [](In a) { return cos(a[0]); });
  op("layer_norm", {x, row, row * 0.5}, [](In a) { return layer_norm(a[0], a[1], a[2]); });
  op("rms_norm", {x, row}, [](In a) { return rms_norm(a[0], a[1]); });
  op("methods exp log sqrt tanh sigmoid relu abs square", {x}, [](In a) {
    return a[0].exp() + a[0].abs().log() + a[0].abs().sqrt() + a[0].tanh() + a[0].sigmoid() + a[0].relu() +
           a[0].square();
  });

  // elementwise binary, broadcasting, weakly typed C++ scalars
  op("add", {x, y}, [](In a) { return add(a[0], a[1]); });
  op("sub", {x, y}, [](In a) { return sub(a[0], a[1]); });
  op("mul", {x, y}, [](In a) { return mul(a[0], a[1]); });
  op("div", {x, pos}, [](In a) { return div(a[0], a[1]); });
  op("mod", {x, pos}, [](In a) { return mod(a[0], a[1]); });
  op("pow", {pos, y}, [](In a) { return pow(a[0], a[1]); });
  op("maximum", {x, y}, [](In a) { return maximum(a[0], a[1]); });
  op("minimum", {x, y}, [](In a) { return minimum(a[0], a[1]); });
  op("operators + - * / %", {x, y, pos}, [](In a) { return (a[0] + a[1]) * a[2] - a[1] / a[2] + a[0] % a[2]; });
  op("broadcast [3,4,5] + [5]", {x, row}, [](In a) { return a[0] + a[1]; });
  op("broadcast [5] - [3,4,5]", {row, x}, [](In a) { return a[0] - a[1]; });
  op("broadcast [3,4,5] * [4,5]", {x, mat}, [](In a) { return a[0] * a[1]; });
  op("broadcast maximum [4,5] [3,4,5]", {mat, x}, [](In a) { return maximum(a[0], a[1]); });
  op("scalars x + 2.f, 2 * x, x / 3.0", {x}, [](In a) { return (a[0] + 2.f) * (2 * a[0]) - a[0] / 3.0; });
  op("scalar pow", {pos, x}, [](In a) { return pow(a[0], 2.5f) + pow(2.f, a[1]); });
  op("scalar maximum", {x}, [](In a) { return maximum(a[0], 0.f) + minimum(0.5f, a[0]); });

  // comparisons and logic (-> b8)
  op("less", {x, y}, [](In a) { return less(a[0], a[1]); });
  op("less_equal", {x, y}, [](In a) { return less_equal(a[0], a[1]); });
  op("greater", {x, y}, [](In a) { return greater(a[0], a[1]); });
  op("greater_equal", {x, y}, [](In a) { return greater_equal(a[0], a[1]); });
  op("equal", {x, y}, [](In a) { return equal(a[0], maximum(a[0], a[1])); });
  op("not_equal", {x, y}, [](In a) { return not_equal(a[0], maximum(a[0], a[1])); });
  op("operators < <= > >= == !=", {x, y}, [](In a) {
    return ((a[0] < a[1]) == (a[0] <= a[1])) != ((a[0] > a[1]) != (a[0] >= a[1]));
  });
  op("compare with a scalar and a broadcast row", {x, row}, [](In a) { return (a[0] > 0.f) & (a[0] < a[1]); });
  op("logical_and", {x, y}, [](In a) { return logical_and(a[0] > 0.f, a[1] > 0.f); });
  op("logical_or", {x, y}, [](In a) { return logical_or(a[0] > 0.f, a[1] < 0.f); });
  op("logical_not", {x, y}, [](In a) { return logical_not(a[0] > a[1]); });
  op("operators & | !", {x, y}, [](In a) { return (!(a[0] > a[1]) & (a[1] > 0.f)) | (a[0] < -1.f); });

  // where and cast
  op("where", {x, y}, [](In a) { return where(a[0] > a[1], a[0], a[1]); });
  op("where with scalars", {x, y}, [](In a) { return where(a[0] > 0.f, a[1], 0.f) + where(a[1] > 0.f, 1.f, a[0]); });
  op("where broadcast", {x, row, mat}, [](In a) { return where(a[0] > 0.f, a[1], a[2]); });
  op("cast to i32", {x}, [](In a) { return cast(a[0] * 10.f, DType::i32); });
  op("cast to i64", {x}, [](In a) { return cast(a[0] * 10.f, DType::i64); });
  op("cast to b8", {x}, [](In a) { return cast(cast(a[0] * 2.f, DType::i32), DType::b8); });
  op("cast to the other float", {x}, [other](In a) { return cast(a[0], other); });
  op("cast from i32 and b8", {x}, [dt](In a) {
    return cast(cast(a[0] * 10.f, DType::i32), dt) + cast(a[0] > 0.f, dt) + a[0].cast(DType::i64).cast(dt);
  });
  op("cast saturates", {x}, [](In a) { return cast(a[0] * 1e10, DType::i32); });
  op("cast of NaN is 0", {x}, [](In a) { return cast(log(a[0]), DType::i64); });

  // integer arithmetic (from scaled random floats; y * 2 truncates to zeros, and
  // integer division and remainder by zero give 0 on every device)
  for (DType it : {DType::i32, DType::i64}) {
    const std::string n = std::string(" ") + dtype_name(it);
    op("div mod by zero" + n, {x, y}, [it](In a) {
      Tensor i = cast(a[0] * 10.f, it), j = cast(a[1] * 2.f, it);
      return i / j + i % j * 100;
    });
    op("arithmetic" + n, {x, y}, [it](In a) {
      Tensor i = cast(a[0] * 10.f, it), j = cast(a[1] * 10.f, it);
      return maximum(i * 3 - j, abs(j)) + minimum(-i, j) + square(i);
    });
    op("sum max min" + n, {x}, [it](In a) {
      Tensor i = cast(a[0] * 10.f, it);
      return sum(i, {1}) + max(i, {1}) - min(i, {1});
    });
    op("argmax" + n, {x}, [it](In a) { return argmax(cast(a[0] * 100.f, it), 2); });
  }

  // matmul
  const Tensor a2 = randn({7, 5}, 11, dt), b2 = randn({5, 6}, 12, dt), bias = randn({6}, 13, dt);
  const Tensor a3 = randn({3, 7, 5}, 14, dt), b3 = randn({3, 5, 6}, 15, dt), a4 = randn({2, 1, 7, 5}, 16, dt);
  const Tensor a2t = randn({5, 7}, 17, dt);
  op("matmul 2-D", {a2, b2}, [](In a) { return matmul(a[0], a[1]); }, kF32Dot);
  op("matmul batched", {a3, b3}, [](In a) { return matmul(a[0], a[1]); }, kF32Dot);
  op("matmul broadcast [2,1,7,5] x [3,5,6]", {a4, b3}, [](In a) { return matmul(a[0], a[1]); }, kF32Dot);
  op("matmul 2-D x batched", {a2, b3}, [](In a) { return matmul(a[0], a[1]); }, kF32Dot);
  op("matmul batched x 2-D", {a3, b2}, [](In a) { return a[0].matmul(a[1]); }, kF32Dot);
  op("matmul of a transposed view", {a2t, b2}, [](In a) { return matmul(transpose(a[0]), a[1]); }, kF32Dot);
  op("matmul + bias, relu", {a2, b2, bias}, [](In a) { return relu(matmul(a[0], a[1]) + a[2]); }, kF32Dot);
  op("matmul + bias, gelu", {a2, b2, bias}, [](In a) { return gelu(matmul(a[0], a[1]) + a[2]); }, kF32Dot);

  // shapes, slicing, indexing
  const Tensor xt = randn({3, 5, 4}, 18, dt);
  op("transpose", {x}, [](In a) { return transpose(a[0]); });
  op("transpose perm", {x}, [](In a) { return transpose(a[0], {2, 0, 1}); });
  op("elementwise on a transposed view", {x, xt}, [](In a) { return a[0].transpose({0, 2, 1}) * a[1] + 1.f; });
  op("reshape", {x}, [](In a) { return reshape(a[0], {12, -1}); });
  op("reshape method, to rank 0", {x}, [](In a) { return a[0].reshape({60}) + reshape(sum(a[0]), {}); });
  op("expand_dims", {x}, [](In a) { return expand_dims(a[0], 0) + a[0].expand_dims(-1).transpose({3, 0, 1, 2}); });
  op("squeeze", {x}, [](In a) { return squeeze(reshape(a[0], {3, 1, 4, 5, 1})); });
  op("squeeze axes", {x}, [](In a) { return reshape(a[0], {3, 1, 4, 5}).squeeze({1}); });
  op("broadcast_to", {row}, [](In a) { return broadcast_to(a[0], {3, 4, 5}) + a[0].broadcast_to({3, 1, 5}); });
  op("broadcast_like", {row, x}, [](In a) { return broadcast_like(a[0], a[1]); });
  op("concat axis 0", {x, y}, [](In a) { return concat({a[0], a[1]}, 0); });
  op("concat axis -1, three", {x, y}, [](In a) { return concat({a[0], a[1], a[0]}, -1); });
  op("concat with a slice", {x, y}, [](In a) { return concat({a[0], slice(a[1], 1, 0, 2)}, 1); });
  op("slice", {x}, [](In a) { return slice(a[0], 1, 1, 3); });
  op("slice clamps", {x}, [](In a) { return slice(a[0], 2, 1, 100); });
  op("slice empty, then sum", {x}, [](In a) { return sum(slice(a[0], 0, 2, 2), {0}) + sum(slice(a[0], 0, 2, 2)); });
  op("gather i32 axis 1", {x, tensor({2, 0, 3, 3})}, [](In a) { return gather(a[0], a[1], 1); });
  op("gather i64 axis 0", {x, tensor({1, 0}, DType::i64)}, [](In a) { return gather(a[0], a[1], 0); });
  op("gather 2-D indices", {x, tensor({{0, 4}, {2, 2}})}, [](In a) { return gather(a[0], a[1], 2); });
  op("scatter_add", {x, tensor({2, 0, 3, 3}), y}, [](In a) { return scatter_add(a[0], a[1], a[2], 1); });
  op("one_hot i32", {tensor({0, 5, 2, 1, 4, 3})}, [](In a) { return one_hot(a[0], 6); });
  op("one_hot i64", {tensor({3, 0, 1}, DType::i64)}, [](In a) { return one_hot(a[0], 4); });

  // reductions over each axis set, with and without keepdims
  using Reduce = Tensor (*)(const Tensor&, const Axes&, bool, Loc);
  const std::pair<const char*, Reduce> reductions[] = {
      {"sum", &duet::sum}, {"mean", &duet::mean}, {"max", &duet::max}, {"min", &duet::min}};
  const std::pair<const char*, Axes> axes_sets[] = {{"{}", Axes{}},       {"{0}", Axes{0}},     {"{1}", Axes{1}},
                                                    {"{2}", Axes{2}},     {"{0,2}", Axes{0, 2}}, {"{-1}", Axes{-1}}};
  for (const auto& [rname, reduce] : reductions)
    for (const auto& [aname, axes] : axes_sets)
      for (bool keep : {false, true})
        op(std::string(rname) + " " + aname + (keep ? " keepdims" : ""), {x},
           [reduce, axes, keep](In a) { return reduce(a[0], axes, keep, Loc::current()); });
  op("reduction methods", {x}, [](In a) { return a[0].sum({1}) + a[0].mean({1}) + a[0].max({1}) - a[0].min({1}); });
  op("sum of 300-element rows", {big}, [](In a) { return sum(a[0], {1}); });
  op("sum of 64-element columns", {big}, [](In a) { return sum(a[0], {0}, true); });
  op("mean of 19200", {big}, [](In a) { return mean(a[0]); });
  op("max rows, min columns", {big}, [](In a) { return max(a[0], {1}) + sum(min(a[0], {0})); });
  for (int64_t axis : {0, 1, 2, -1})
    op("argmax axis " + std::to_string(axis), {x}, [axis](In a) { return argmax(a[0], axis); });
  op("argmax of 300-element rows", {big}, [](In a) { return a[0].argmax(1); });

  // softmax
  for (int64_t axis : {-1, 0, 1}) {
    op("softmax axis " + std::to_string(axis), {x}, [axis](In a) { return softmax(a[0], axis); });
    op("log_softmax axis " + std::to_string(axis), {x}, [axis](In a) { return log_softmax(a[0], axis); });
  }
  op("softmax methods", {x}, [](In a) { return a[0].softmax() + a[0].log_softmax(1); });
  op("softmax of 300-element rows", {big}, [](In a) { return softmax(a[0]); });
  op("log_softmax of 64-element columns", {big}, [](In a) { return log_softmax(a[0], 0); });

  // convolution and pooling, with their backward ops
  const Tensor img = randn({2, 3, 9, 9}, 21, dt), w3 = randn({4, 3, 3, 3}, 22, dt), w1 = randn({4, 3, 1, 1}, 23, dt);
  const Tensor dy = randn({2, 4, 7, 7}, 24, dt), dy_s2 = randn({2, 4, 5, 5}, 25, dt), dpool = randn({2, 3, 4, 4}, 26, dt);
  const Tensor cbias = randn({4}, 27, dt);
  op("conv2d", {img, w3}, [](In a) { return conv2d(a[0], a[1]); }, kF32Dot);
  op("conv2d stride 2 padding 1", {img, w3}, [](In a) { return conv2d(a[0], a[1], 2, 1); }, kF32Dot);
  op("conv2d 1x1", {img, w1}, [](In a) { return conv2d(a[0], a[1]); }, kF32Dot);
  op("conv2d padding 2", {img, w3}, [](In a) { return conv2d(a[0], a[1], 1, 2); }, kF32Dot);
  op("conv2d + bias, relu", {img, w3, cbias},
     [](In a) { return relu(conv2d(a[0], a[1]) + reshape(a[2], {1, 4, 1, 1})); }, kF32Dot);
  op("max_pool2d", {img}, [](In a) { return max_pool2d(a[0], 2); });
  op("max_pool2d kernel 3 stride 2", {img}, [](In a) { return max_pool2d(a[0], 3, 2); });
  op("max_pool2d stride 1", {img}, [](In a) { return max_pool2d(a[0], 2, 1); });
  op("conv2d_backward_input", {dy, w3}, [](In a) { return conv2d_backward_input(a[0], a[1], {2, 3, 9, 9}); }, kF32Dot);
  op("conv2d_backward_input stride 2 padding 1", {dy_s2, w3},
     [](In a) { return conv2d_backward_input(a[0], a[1], {2, 3, 9, 9}, 2, 1); }, kF32Dot);
  op("conv2d_backward_filter", {img, dy}, [](In a) { return conv2d_backward_filter(a[0], a[1], {4, 3, 3, 3}); },
     kF32Dot);
  op("conv2d_backward_filter stride 2 padding 1", {img, dy_s2},
     [](In a) { return conv2d_backward_filter(a[0], a[1], {4, 3, 3, 3}, 2, 1); }, kF32Dot);
  op("max_pool2d_backward", {img, dpool}, [](In a) { return max_pool2d_backward(a[0], a[1], 2); });

  // dropout (the mask is a pure function of (seed, index): docs/semantics.md), stop_gradient
  op("dropout rate 0", {x}, [](In a) { return dropout(a[0], 0.0, 3); });
  op("dropout rate 0.5", {x}, [](In a) { return dropout(a[0], 0.5, 7); });
  op("dropout rate 0.25", {big}, [](In a) { return dropout(a[0], 0.25, 7); });
  op("stop_gradient", {x, y}, [](In a) { return stop_gradient(a[0]) * a[1]; });

  // chains that fuse when traced
  op("fused chain, row reduction", {x, y, row}, [](In a) { return sum(relu(a[0] * a[1] + a[2]) * sigmoid(a[0]), {-1}); });
  op("fused chain, column reduction", {x, y}, [](In a) { return mean(exp(-square(a[0])) * tanh(a[1]), {0}); });
  op("layer norm", {x}, [](In a) {
    Tensor centered = a[0] - mean(a[0], -1, true);
    return centered * rsqrt(mean(square(centered), -1, true) + 1e-5);
  });
  op("softmax of a fused input", {x, mat}, [](In a) { return softmax(a[0] * 2.f + a[1], 1); });
  op("siblings", {x, y}, [](In a) { return concat({gelu(a[0]) + a[1], a[0] * a[1] - 1.f}, 0); });
  return cs;
}

// Runs `c` on the CPU eagerly and on cuda:0, eagerly or as a duet::function
// (called twice: the first call traces and compiles, the second runs the
// cached program), and compares. An exception fails this case, not the rest.
void check_case(const OpCase& c, DType dt, bool traced) {
  INFO(c.name << " (" << dtype_name(dt) << (traced ? ", traced)" : ", eager)"));
  const double tol = tol_of(dt, c.f32_tol);
  try {
    const Tensor want = c.run(c.inputs);
    const std::vector<Tensor> in = to_gpu(c.inputs);
    if (!traced) {
      same(c.run(in), want, tol);
      return;
    }
    auto f = function([run = c.run](std::vector<Tensor> xs) { return run(xs); });
    same(f(in), want, tol);
    same(f(in), want, tol);
    CHECK(f.trace_count() == 1);
  } catch (const std::exception& e) {
    FAIL_CHECK("threw: " << e.what());
  }
}

}  // namespace

TEST_CASE("every op on cuda equals the CPU, eagerly", "[.gpu]") {
  for (DType dt : {DType::f32, DType::f64})
    for (const OpCase& c : op_cases(dt)) check_case(c, dt, /*traced=*/false);
}

TEST_CASE("every op on cuda equals the eager CPU when traced", "[.gpu]") {
  for (DType dt : {DType::f32, DType::f64})
    for (const OpCase& c : op_cases(dt)) check_case(c, dt, /*traced=*/true);
}

TEST_CASE("an elementwise chain traced on cuda is one fusion", "[.gpu]") {
  const Tensor x = randn({32, 48}, 1), y = randn({48}, 2);
  auto f = function([](Tensor a, Tensor b) { return sum(tanh(a * b + 1.f) * sigmoid(a), {1}); });
  const Tensor want = sum(tanh(x * y + 1.f) * sigmoid(x), {1});
  same(f(x.to(kGpu), y.to(kGpu)), want, kF32);
  const std::string ir = f.get_concrete_function(x.to(kGpu), y.to(kGpu)).ir(Stage::optimized);
  INFO(ir);
  CHECK(contains(ir, "fusion"));
  CHECK(f.trace_count() == 1);
}

// ---- devices, copies, host reads ------------------------------------------------------

TEST_CASE("creation under a cuda DeviceScope lands on cuda", "[.gpu]") {
  const std::vector<std::pair<std::string, std::function<Tensor()>>> makers = {
      {"zeros", [] { return zeros({2, 3}); }},
      {"zeros f64", [] { return zeros({2, 3}, DType::f64); }},
      {"ones", [] { return ones({4}); }},
      {"ones i64", [] { return ones({4}, DType::i64); }},
      {"full", [] { return full({2, 2}, 7); }},
      {"full i32", [] { return full({3}, 7, DType::i32); }},
      {"randn", [] { return randn({16, 9}, 42); }},
      {"randn f64", [] { return randn({16, 9}, 42, DType::f64); }},
      {"rand", [] { return rand({33}, 1); }},
      {"scalar f32", [] { return scalar(3.5f); }},
      {"scalar i32", [] { return scalar(12); }},
      {"scalar f64", [] { return scalar(2.0, DType::f64); }},
      {"tensor 1-D", [] { return tensor({1.f, 2.f}); }},
      {"tensor 2-D", [] { return tensor({{1.f, 2.f}, {3.f, 4.f}}); }},
      {"tensor i32", [] { return tensor({1, 2, 3}); }},
      {"tensor b8", [] { return tensor({true, false}); }},
      {"from_vector", [] { return from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}); }},
      {"arange", [] { return arange(5); }},
      {"eye", [] { return eye(3); }},
      {"zeros_like, ones_like", [] { return zeros_like(randn({2, 2}, 1)) + ones_like(randn({2, 2}, 2)); }},
  };
  for (const auto& [name, make] : makers) {
    INFO(name);
    try {
      const Tensor want = make();
      CHECK(want.device() == Device::cpu());
      DeviceScope on(kGpu);
      CHECK(current_device() == kGpu);
      same(make(), want, tol_of(want.dtype()));
    } catch (const std::exception& e) {
      FAIL_CHECK("threw: " << e.what());
    }
  }
  {
    DeviceScope on(kGpu);
    Variable v(randn({3, 2}, 5), "v");
    CHECK(v.device() == kGpu);
    CHECK(v.value().device() == kGpu);
    {
      DeviceScope back(Device::cpu());
      CHECK(zeros({2}).device() == Device::cpu());
    }
    CHECK(zeros({2}).device() == kGpu);
  }
  CHECK(current_device() == Device::cpu());
  CHECK(zeros({2}).device() == Device::cpu());
  // *_like follows its argument, whatever the scope says.
  const Tensor g = randn({2, 3}, 1).to(kGpu);
  same(zeros_like(g), zeros({2, 3}), 0);
  same(ones_like(g), ones({2, 3}), 0);
}

TEST_CASE("to(cuda) and cpu() copy every dtype both ways", "[.gpu]") {
  const Tensor x = randn({5, 7}, 3);
  const std::vector<Tensor> values = {x,
                                      cast(x, DType::f64),
                                      cast(x * 10.f, DType::i32),
                                      cast(x * 10.f, DType::i64),
                                      x > 0.f,
                                      scalar(2.5f),
                                      transpose(x),           // a view
                                      slice(x, 0, 1, 1),      // no elements
                                      randn({2, 3, 4, 2}, 8, DType::f64)};
  for (const Tensor& t : values) {
    INFO(t.type().str());
    const Tensor g = t.to(kGpu);
    same(g, t, 0);  // exact: a copy
    same(g.to(kGpu), t, 0);
    const Tensor back = g.to(Device::cpu());
    CHECK(back.device() == Device::cpu());
    CHECK(back.to_vector<double>() == t.to_vector<double>());
  }
}

TEST_CASE("host reads and printing of cuda tensors copy to the host", "[.gpu]") {
  const Tensor x = randn({3, 4}, 5);
  const Tensor g = x.to(kGpu);
  CHECK(g.to_vector<float>() == x.to_vector<float>());
  CHECK(g.to_vector<double>() == x.to_vector<double>());
  CHECK(cast(g * 10.f, DType::i32).to_vector<int32_t>() == cast(x * 10.f, DType::i32).to_vector<int32_t>());
  CHECK(argmax(g, 1).to_vector<int64_t>() == argmax(x, 1).to_vector<int64_t>());
  CHECK((g > 0.f).to_vector<bool>() == (x > 0.f).to_vector<bool>());
  CHECK(sum(g).item<float>() == Approx(sum(x).item<float>()).epsilon(kF32));
  CHECK(slice(slice(g, 0, 1, 2), 1, 2, 3).item<float>() == x.to_vector<float>()[6]);  // one element, rank 2
  CHECK(argmax(reshape(g, {12}), 0).item<int64_t>() == argmax(reshape(x, {12}), 0).item<int64_t>());
  CHECK(static_cast<bool>(max(g) > min(g)));  // a b8 cuda tensor as a C++ bool
  // Printing: the CPU's text, with the device named.
  const Tensor exact = tensor({{1.5f, -2.f}, {0.25f, 3.f}});
  const std::string cpu_text = to_string(exact);
  std::ostringstream os;
  os << exact.to(kGpu);
  CHECK(os.str() == cpu_text.substr(0, cpu_text.size() - 1) + ", device=cuda:0)");
  std::cout << "a cuda tensor prints as " << exact.to(kGpu) << "\n";
}

TEST_CASE("variables on cuda: reads, assigns, snapshots, traced state", "[.gpu]") {
  const Tensor init = randn({4, 3}, 1), delta = randn({4, 3}, 2), x = randn({5, 4}, 3);
  Variable vc(init, "w"), vg(init.to(kGpu), "w");
  CHECK(vg.device() == kGpu);
  const Tensor snapshot = vg.value();
  vg.assign_add(delta.to(kGpu));
  vc.assign_add(delta);
  same(vg.value(), vc.value(), kF32);
  same(snapshot, init, 0);  // later assigns never change a snapshot
  vg.assign_sub(square(delta).to(kGpu));
  vc.assign_sub(square(delta));
  same(vg.value(), vc.value(), kF32);
  same(matmul(x.to(kGpu), vg), matmul(x, vc), kF32Dot);  // a variable reads as its value
  vg.assign(delta.to(kGpu));
  vc.assign(delta);
  same(vg.value(), vc.value(), 0);
  // Captured by a traced function: live state, assigned on every call.
  auto step = [](Variable v, Tensor t) {
    v.assign_add(t * 0.5f);
    return sum(v.value() * t);
  };
  auto traced = function([vg, step](Tensor t) { return step(vg, t); });
  for (int i = 0; i < 3; ++i) {
    const Tensor t = randn({4, 3}, 10 + static_cast<uint64_t>(i));
    same(traced(t.to(kGpu)), step(vc, t), kF32);
    same(vg.value(), vc.value(), kF32);
  }
  CHECK(traced.trace_count() == 1);
}

TEST_CASE("dropout on cuda draws the CPU's mask", "[.gpu]") {
  const Tensor x = randn({64, 33}, 9);
  const Tensor g = x.to(kGpu);
  same(dropout(g, 0.0, 5), x, 0);  // rate 0: the identity
  const Tensor got = dropout(g, 0.3, 5), want = dropout(x, 0.3, 5);
  same(got == 0.f, want == 0.f, 0);  // the same elements dropped: a pure function of (seed, index)
  same(got, want, kF32);
  const double dropped = mean(cast(got == 0.f, DType::f32)).item<double>();
  CHECK(dropped == Approx(0.3).margin(0.05));
  CHECK(sum(cast(dropout(g, 0.3, 5) != dropout(g, 0.3, 6), DType::i32)).item<int>() > 0);
}

TEST_CASE("cond and while_loop on cuda tensors, eager and traced", "[.gpu]") {
  auto branchy = [](Tensor x) { return cond(sum(x) > 0.f, [&] { return x * 2.f; }, [&] { return exp(-x); }); };
  auto loop = [](Tensor x, Tensor n) {
    return while_loop([](const std::vector<Tensor>& v) { return v[1] < 5; },
                      [](const std::vector<Tensor>& v) -> std::vector<Tensor> {
                        return {tanh(v[0]) * 1.5f + 0.1f, v[1] + 1};
                      },
                      {x, n})[0];
  };
  auto traced_branchy = function(branchy);
  auto traced_loop = function(loop);
  const Tensor x = randn({4, 5}, 1), n = scalar(0);
  for (const Tensor& t : {x, -x, x + 1.f}) {  // both branches
    same(branchy(t.to(kGpu)), branchy(t), kF32);
    same(traced_branchy(t.to(kGpu)), branchy(t), kF32);
    same(loop(t.to(kGpu), n.to(kGpu)), loop(t, n), kF32);
    same(traced_loop(t.to(kGpu), n.to(kGpu)), loop(t, n), kF32);
  }
  CHECK(traced_branchy.trace_count() == 1);
  CHECK(traced_loop.trace_count() == 1);
}

// ---- gradients --------------------------------------------------------------------

namespace {

using LossFn = Tensor (*)(const std::vector<Tensor>&);

// p: x [8,5], labels i32 [8], w1 [5,6], b1 [6], w2 [6,3], b2 [3]
Tensor mlp_loss(const std::vector<Tensor>& p) {
  const Tensor h = gelu(matmul(tanh(p[0]), p[2]) + p[3]);
  const Tensor logits = matmul(h, p[4]) + p[5];
  return losses::sparse_softmax_cross_entropy(p[1], logits) + mean(square(sigmoid(h))) * 0.5;
}

// p: x [2,2,8,8], target [2,4], conv1 [3,2,3,3], conv1 bias [3], conv2 [2,3,3,3], dense [8,4], dense bias [4]
Tensor convnet_loss(const std::vector<Tensor>& p) {
  Tensor h = relu(conv2d(p[0], p[2], 1, 1) + reshape(p[3], {1, 3, 1, 1}));  // [2,3,8,8]
  h = max_pool2d(h, 2);                                                    // [2,3,4,4]
  h = tanh(conv2d(h, p[4], 2, 1));                                         // [2,2,2,2]
  const Tensor y = sigmoid(matmul(reshape(h, {2, -1}), p[5]) + p[6]);      // [2,4]
  return losses::mean_squared_error(p[1], y);
}

std::vector<Tensor> mlp_inputs() {
  const DType f64 = DType::f64;
  return {randn({8, 5}, 1, f64), tensor({0, 1, 2, 0, 1, 2, 2, 1}), randn({5, 6}, 2, f64),
          randn({6}, 3, f64),    randn({6, 3}, 4, f64),               randn({3}, 5, f64)};
}
std::vector<Tensor> convnet_inputs() {
  const DType f64 = DType::f64;
  return {randn({2, 2, 8, 8}, 1, f64), rand({2, 4}, 2, f64),    randn({3, 2, 3, 3}, 3, f64), randn({3}, 4, f64),
          randn({2, 3, 3, 3}, 5, f64), randn({8, 4}, 6, f64), randn({4}, 7, f64)};
}

// {loss, d loss / d p[i] for every i but 1 (the labels or target)}: p[0] watched, the rest Variables.
std::vector<Tensor> grads_of_variables(LossFn loss_fn, const std::vector<Tensor>& p) {
  std::vector<Variable> vars;
  for (size_t i = 2; i < p.size(); ++i) vars.emplace_back(p[i], std::string("p").append(std::to_string(i)));
  GradientTape tape(/*persistent=*/true);
  tape.watch(p[0]);
  std::vector<Tensor> args = {p[0], p[1]};
  args.insert(args.end(), vars.begin(), vars.end());  // read under the tape
  const Tensor loss = loss_fn(args);
  std::vector<Tensor> out = {loss, tape.gradient(loss, p[0])};
  for (const Tensor& g : tape.gradient(loss, vars)) out.push_back(g);
  return out;
}

// The same with every source a watched tensor: runs eagerly or inside a trace.
std::vector<Tensor> grads_of_tensors(LossFn loss_fn, const std::vector<Tensor>& p) {
  GradientTape tape;
  std::vector<Tensor> sources;
  for (size_t i = 0; i < p.size(); ++i)
    if (i != 1) {
      tape.watch(p[i]);
      sources.push_back(p[i]);
    }
  const Tensor loss = loss_fn(p);
  std::vector<Tensor> out = tape.gradient(loss, sources);
  out.insert(out.begin(), loss);
  return out;
}

void same_all(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO((i == 0 ? std::string("loss") : "gradient " + std::to_string(i)));
    same(got[i], want[i], tol);
  }
}

}  // namespace

TEST_CASE("gradients of an MLP and a conv net on cuda equal the CPU's (f64)", "[.gpu]") {
  const std::pair<const char*, LossFn> nets[] = {{"mlp", &mlp_loss}, {"convnet", &convnet_loss}};
  for (const auto& [name, loss_fn] : nets) {
    INFO(name);
    const std::vector<Tensor> p = name == std::string("mlp") ? mlp_inputs() : convnet_inputs();
    const std::vector<Tensor> want = grads_of_tensors(loss_fn, p);
    const std::vector<Tensor> pg = to_gpu(p);
    {
      INFO("eager, parameters as Variables");
      same_all(grads_of_variables(loss_fn, pg), want, kF64);
    }
    {
      INFO("eager, watched tensors");
      same_all(grads_of_tensors(loss_fn, pg), want, kF64);
    }
    {
      INFO("the tape inside a traced function");
      auto f = function([loss_fn](std::vector<Tensor> q) { return grads_of_tensors(loss_fn, q); });
      same_all(f(pg), want, kF64);
      same_all(f(pg), want, kF64);
      CHECK(f.trace_count() == 1);
    }
    {
      INFO("a traced forward under an eager tape");
      auto forward = function([loss_fn](std::vector<Tensor> q) { return loss_fn(q); });
      GradientTape tape;
      std::vector<Tensor> sources;
      for (size_t i = 0; i < pg.size(); ++i)
        if (i != 1) {
          tape.watch(pg[i]);
          sources.push_back(pg[i]);
        }
      const Tensor loss = forward(pg);
      std::vector<Tensor> got = tape.gradient(loss, sources);
      got.insert(got.begin(), loss);
      same_all(got, want, kF64);
    }
  }
}

TEST_CASE("custom_gradient and second-order gradients on cuda", "[.gpu]") {
  auto clip = custom_gradient([](const std::vector<Tensor>& x) { return x[0] * 1.0; },
                              [](const std::vector<Tensor>&, const Tensor&, const Tensor& dy) {
                                return std::vector<Tensor>{minimum(maximum(dy, -1.0), 1.0)};
                              });
  auto grads = [&](const Tensor& x) {
    GradientTape outer;
    outer.watch(x);
    GradientTape inner;
    inner.watch(x);
    const Tensor y = sum(clip({x * x * x}) * 3.0);
    const Tensor dx = inner.gradient(y, x);
    return std::vector<Tensor>{y, dx, outer.gradient(sum(dx * dx), x)};
  };
  const Tensor x = randn({6, 7}, 4, DType::f64);
  same_all(grads(x.to(kGpu)), grads(x), kF64);
}

// ---- training -------------------------------------------------------------------------

namespace {

nn::Sequential make_model() {
  return nn::Sequential(nn::Dense(6, 16, nn::Activation::relu, true, 101), nn::Dense(16, 4, nn::Activation::none, true, 102));
}

// Three steps of `model` on (x, labels) with `opt`, eagerly or traced; their losses.
std::vector<Tensor> train(nn::Sequential model, optim::Optimizer& opt, const Tensor& x, const Tensor& labels,
                          bool traced) {
  const std::vector<Variable> vars = model.trainable_variables();
  auto step = [model, &opt, vars](Tensor xs, Tensor ys) mutable {
    GradientTape tape;
    Tensor loss = losses::sparse_softmax_cross_entropy(ys, model(xs));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  };
  auto traced_step = function(step);
  std::vector<Tensor> out;
  for (int i = 0; i < 3; ++i) out.push_back(traced ? traced_step(x, labels) : step(x, labels));
  if (traced) CHECK(traced_step.trace_count() == 1);
  return out;
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>()>;

}  // namespace

TEST_CASE("training steps of a Dense model on cuda equal the CPU's", "[.gpu]") {
  const Tensor x = randn({8, 6}, 31), labels = tensor({0, 1, 2, 3, 3, 2, 1, 0});
  const std::vector<std::pair<std::string, MakeOptimizer>> optimizers = {
      {"SGD", [] { return std::make_unique<optim::SGD>(0.1); }},
      {"SGD with momentum", [] { return std::make_unique<optim::SGD>(0.05, 0.9); }},
      {"Adam", [] { return std::make_unique<optim::Adam>(1e-2); }},
  };
  for (const auto& [name, make_optimizer] : optimizers)
    for (bool traced : {false, true}) {
      INFO(name << (traced ? ", traced" : ", eager"));
      try {
        nn::Sequential cpu_model = make_model();
        const std::vector<Variable> cv = cpu_model.trainable_variables();
        std::vector<Tensor> init;
        for (const Variable& v : cv) init.push_back(v.value());
        auto cpu_opt = make_optimizer();
        const std::vector<Tensor> want = train(cpu_model, *cpu_opt, x, labels, false);

        DeviceScope on(kGpu);  // the layers' variables and the optimizer's slots are made on cuda:0
        nn::Sequential gpu_model = make_model();
        const std::vector<Variable> gv = gpu_model.trainable_variables();
        REQUIRE(gv.size() == cv.size());
        for (size_t i = 0; i < gv.size(); ++i) {
          INFO(gv[i].name());
          CHECK(gv[i].device() == kGpu);
          same(gv[i].value(), init[i], kF32);  // the seeded initialisation repeats on cuda
          gv[i].assign(init[i].to(kGpu));      // and the comparison below does not depend on it
        }
        auto gpu_opt = make_optimizer();
        const std::vector<Tensor> got = train(gpu_model, *gpu_opt, x.to(kGpu), labels.to(kGpu), traced);
        for (size_t i = 0; i < got.size(); ++i) {
          INFO("loss of step " << i);
          same(got[i], want[i], kF32Dot);
        }
        for (size_t i = 0; i < gv.size(); ++i) {
          INFO(gv[i].name() << " after training");
          same(gv[i].value(), cv[i].value(), kF32Dot);
        }
        const std::vector<Variable> cs = cpu_opt->variables(), gs = gpu_opt->variables();
        REQUIRE(gs.size() == cs.size());
        for (size_t i = 0; i < gs.size(); ++i) {
          INFO("slot " << gs[i].name());
          same(gs[i].value(), cs[i].value(), kF32Dot);
        }
      } catch (const std::exception& e) {
        FAIL_CHECK("threw: " << e.what());
      }
    }
}

// A decision written down in docs/cuda.md: like PyTorch's optimizer
// state, the slots follow their variables, so training cuda variables needs
// no DeviceScope around apply_gradients.
TEST_CASE("optimizer slots follow their variables onto cuda", "[.gpu]") {
  const Tensor init = randn({3, 2}, 1);
  auto run = [](const Variable& w) {
    optim::Adam opt(0.01);
    for (int i = 0; i < 2; ++i) {
      GradientTape tape;
      const Tensor loss = sum(square(w) * w);
      opt.apply_gradients({tape.gradient(loss, w)}, {w});
    }
    return opt;
  };
  Variable wc(init, "w"), wg(init.to(kGpu), "w");
  run(wc);
  optim::Adam opt = run(wg);
  same(wg.value(), wc.value(), kF32);
  for (const Variable& s : opt.variables())
    if (s.shape() == init.shape()) CHECK(s.device() == kGpu);
}

// ---- mixed devices ---------------------------------------------------------------------

TEST_CASE("cuda and cpu operands together are a DeviceError naming both devices", "[.gpu]") {
  const Tensor c = randn({2, 3}, 1), g = randn({2, 3}, 2).to(kGpu);
  auto traced_add = function([](Tensor a, Tensor b) { return a + b; });
  const std::vector<std::pair<std::string, std::function<void()>>> cases = {
      {"add", [&] { (void)(g + c); }},
      {"add", [&] { (void)(c + g); }},
      {"mul", [&] { (void)mul(g, c); }},
      {"matmul", [&] { (void)matmul(g, transpose(c)); }},
      {"concat", [&] { (void)concat({g, c}, 0); }},
      {"where", [&] { (void)where(c > 0.f, g, g); }},
      {"gather", [&] { (void)gather(g, tensor({1, 0}), 0); }},
      {"assign", [&] { Variable(g, "v").assign(c); }},
      {"", [&] { (void)traced_add(g, c); }},  // a traced function: the op it names is not fixed
  };
  for (const auto& [op_name, run] : cases) {
    INFO("op " << op_name);
    std::string what;
    bool device_error = false;
    try {
      run();
    } catch (const DeviceError& e) {
      device_error = true;
      what = e.what();
    } catch (const std::exception& e) {
      what = e.what();
    }
    INFO(what);
    CHECK(device_error);
    CHECK(contains(what, op_name));
    CHECK(contains(what, "cuda:0"));
    CHECK(contains(what, "cpu"));
    if (!op_name.empty()) CHECK(contains(what, "test_gpu.cpp"));
  }
}
