// LLVM's O3 pipeline and code emission, for the host (codegen/llvm) and for
// NVPTX (codegen/gpu) alike.
#pragma once

#include <string>

#include <llvm/IR/Module.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Target/TargetMachine.h>

namespace duet::codegen::emit {

// The O3 pipeline for tm's target, in place.
void optimize_o3(llvm::Module& m, llvm::TargetMachine& tm);
// m as an object file or as assembly (PTX for NVPTX), by tm's code generator.
std::string emit_file(llvm::Module& m, llvm::TargetMachine& tm, llvm::CodeGenFileType type);

}  // namespace duet::codegen::emit
