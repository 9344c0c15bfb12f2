// duet-difftest's random programs: a seeded generator of small tensor
// programs over duet's public API, an interpreter that runs one (eagerly, or
// inside duet::function, which traces it), and the C++ source that
// reproduces it. NOTE [Random programs] in generate.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <duet/duet.h>

namespace difftest {

using Dims = std::vector<int64_t>;

enum class Kind {
  unary,      // op(a)
  binary,     // op(a, b)
  binary_k,   // op(a, k): a number operand
  where,      // where(greater(a, b), a, b)
  reduce,     // op(a, axes, keepdims)
  matmul,     // matmul(a, b)
  transpose,  // transpose(a, perm)
  reshape,    // reshape(a, shape)
  expand,     // expand_dims(a, axis)
  squeeze,    // squeeze(a, {axis})
  read,       // variable value
  assign,     // op is "assign" or "assign_add"; no result
  cond,       // cond(greater(sum(a), k), then, else)
  loop,       // while_loop: n times x = block(x)
};

// A block: a straight line of instructions ending in one result (a cond
// branch, a loop body). `param` is the loop body's parameter (its loop
// variable), or -1.
struct Instr;
struct Block {
  int param = -1;
  std::vector<Instr> code;
  int result = -1;
};

struct Instr {
  Kind kind = Kind::unary;
  std::string op;
  std::vector<int> in;       // value ids
  double k = 0;              // binary_k's number, cond's threshold
  Dims ints;                 // axes, perm, shape, or {axis}
  bool keepdims = false;
  int var = -1;              // read / assign
  int result = -1;           // value id (-1 for assign)
  std::vector<Block> blocks; // cond: then, else; loop: body
  int64_t trips = 0;         // loop: iterations
};

struct Program {
  uint64_t seed = 0;
  duet::DType dtype = duet::DType::f32;
  std::vector<Dims> inputs, variables;
  std::vector<int> input_ids;  // the value id of each input
  std::vector<std::vector<double>> input_data, variable_data;  // exact in dtype
  std::vector<Instr> code;
  std::vector<int> outputs;
  int num_values = 0;  // ids in order of creation: inputs and results
  std::vector<Dims> shapes;  // per value id
};

// The program of `seed`: f64 for odd seeds, f32 for even ones.
Program generate(uint64_t seed);

// Its inputs and a fresh set of variables (the initial values).
std::vector<duet::Tensor> make_inputs(const Program& p);
std::vector<duet::Variable> make_variables(const Program& p);

// Runs it on `inputs` (eagerly, or traced when called inside a function),
// reading and assigning `vars`; returns the outputs.
std::vector<duet::Tensor> run(const Program& p, const std::vector<duet::Tensor>& inputs,
                              const std::vector<duet::Variable>& vars);

// A C++ program that builds the same inputs and variables, runs the program
// eagerly and through duet::function, and prints both.
std::string to_cpp(const Program& p);

// One line: how many ops of each kind.
std::string summary(const Program& p);

}  // namespace difftest
