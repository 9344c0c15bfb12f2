// Checkpoints of variables as safetensors files (DESIGN.md §1).
#pragma once

#include <string>
#include <vector>

#include <duet/runtime/variable.h>

namespace duet {

// Writes the variables' current values, keyed by their names (made unique
// in order: "dense/kernel", "dense/kernel_1", ...). The file is written to a
// temporary name and renamed, so a crash never leaves half a checkpoint.
void save_checkpoint(const std::string& path, const std::vector<Variable>& variables);

// Reads a checkpoint written for the same list of variables. Everything is
// checked before anything is assigned: a missing file, a damaged one, a
// missing name or a dtype/shape mismatch is an IOError (or Error) and leaves
// every variable as it was.
void restore_checkpoint(const std::string& path, const std::vector<Variable>& variables);

}  // namespace duet
