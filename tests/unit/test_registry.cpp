// Walks the op registry: every op has a CPU kernel, type inference, and a
// name that resolves; unknown names suggest the closest op.
#include <catch2/catch.hpp>

#include <duet/backends/kernel.h>
#include <duet/duet.h>
#include <duet/graph/op_def.h>

using namespace duet;

TEST_CASE("every registered op has a CPU kernel or is run by the Program engine", "[registry]") {
  const auto& ops = OpRegistry::get().all();
  REQUIRE(ops.size() >= 50);
  for (const OpDef* op : ops) {
    INFO("op " << op->name());
    if (op->has(kStructural)) CHECK(find_kernel(op->id(), Device::Type::cpu) == nullptr);
    else CHECK(find_kernel(op->id(), Device::Type::cpu) != nullptr);
    CHECK(&op_def(op->name()) == op);
    if (op->has(kElementwise)) CHECK(op->scalar_op() != ScalarOp::none);
  }
}

TEST_CASE("the ops of DESIGN.md are registered under their public names", "[registry]") {
  for (const char* name :
       {"add", "sub", "mul", "div", "mod", "neg", "less", "less_equal", "greater", "greater_equal", "equal",
        "not_equal", "logical_not", "logical_and", "logical_or", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid",
        "relu", "gelu", "abs", "square", "pow", "maximum", "minimum", "where", "cast", "matmul", "transpose",
        "reshape", "expand_dims", "squeeze", "broadcast_to", "concat", "slice", "gather", "sum", "mean", "max", "min",
        "argmax", "softmax", "log_softmax", "one_hot", "conv2d", "max_pool2d", "dropout"}) {
    INFO(name);
    CHECK(OpRegistry::get().find(name) != nullptr);
  }
}

TEST_CASE("an unknown op name is an Error naming the closest op", "[registry]") {
  try {
    op_def("matmull");
    FAIL("no error");
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("matmull") != std::string::npos);
    CHECK(msg.find("'matmul'") != std::string::npos);
  }
}

#include <duet/runtime/gradient.h>

TEST_CASE("every op has a gradient rule or says it is not differentiable", "[registry][autodiff]") {
  for (const OpDef* op : OpRegistry::get().all()) {
    INFO("op " << op->name());
    // cond, while and fusion get their gradients from their regions (the
    // control-flow issue); constant and print are not differentiable.
    if (op->has(kStructural) && !op->has(kNotDifferentiable)) continue;
    const bool has_rule = find_gradient(*op) != nullptr;
    CHECK(has_rule != op->has(kNotDifferentiable));
  }
}
