// A trace as the tracer keeps it: the argument specs, the IR text at each
// stage, the Program, and how variables bind. Internal to the tracer layer
// (the files function_core.h lists, saved.cpp); users see ConcreteFunction.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <duet/codegen/program.h>
#include <duet/tracer/function.h>
#include <duet/tracer/trace_context.h>

namespace duet::detail {

// What one argument must look like for a trace to serve it.
struct ArgSpec {
  ArgValue::Kind kind = ArgValue::Kind::tensor;
  std::vector<TensorType> types;  // tensor, variable: one; list: one per element
  Device device = Device::cpu();
  std::string value;              // by-value arguments, as text
};

bool dims_fit(const Shape& want, const Shape& got);

using BackwardFunction = Function<std::vector<Tensor>(std::vector<Tensor>, std::vector<Tensor>)>;

struct Trace {
  std::string name;
  // The traced backward of this trace, built on its first use under a tape.
  mutable std::mutex backward_mu;
  mutable std::shared_ptr<BackwardFunction> backward;
  std::vector<ArgSpec> spec;
  std::string traced_ir, optimized_ir;
  std::unique_ptr<codegen::Program> program;
  std::vector<VariableBinding> bindings;
  std::vector<Variable> captured;  // the captured variables the trace reads or writes
  std::vector<int> writebacks;  // per write-back result: index into bindings
  int num_user_results = 0;
  int num_tensor_params = 0;
};

// Errors of the compiled call (out of memory) name the function and `loc`.
std::vector<Tensor> run_trace(const Trace& t, std::vector<ArgValue>& args, SrcLoc loc = SrcLoc());

}  // namespace duet::detail
