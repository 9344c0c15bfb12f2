// Saving a traced function with its variables, and loading it in a process
// that never saw its C++ source (DESIGN.md §1). NOTE [Saved functions] in
// tracer/saved.cpp has the format.
#pragma once

#include <string>
#include <vector>

#include <duet/tracer/function.h>

namespace duet {

// A function read back by load(): the saved graph, optimized and compiled for
// this machine, with variables of its own holding the saved values (a call
// that assigns them, a training step, updates them).
class LoadedFunction {
 public:
  LoadedFunction() = default;
  // Runs on the tensor arguments, flattened in the order the saved function
  // took them (a std::vector<Tensor> argument contributes its elements).
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs) const;
  // The saved graph (traced), after this machine's pass pipeline
  // (optimized), or the Program's steps (lowered).
  std::string ir(Stage stage = Stage::optimized) const;
  const std::string& name() const;
  // What each input must be: dtype and shape, -1 where any size goes.
  const std::vector<TensorSpec>& input_signature() const { return inputs_; }
  // The variables, named as in variables.safetensors.
  const std::vector<Variable>& variables() const { return variables_; }

 private:
  friend LoadedFunction load(const std::string& path);
  ConcreteFunction function_;
  std::vector<TensorSpec> inputs_;
  std::vector<Variable> variables_;
};

// Writes `path` (a directory, created if missing): function.duet, the traced
// graph as IR text, and variables.safetensors, the values of the variables
// it reads or assigns. A function that takes Variable arguments cannot be
// saved (a saved function owns its variables): capture them instead.
void save(const ConcreteFunction& function, const std::string& path);

// Reads a directory written by save. A missing or unreadable file is an
// IOError, a damaged or foreign one a ParseError (or IOError for the
// weights), each naming the file.
LoadedFunction load(const std::string& path);

}  // namespace duet
