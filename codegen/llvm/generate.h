// IR generation for kernels (codegen/llvm/generate.cpp). Internal to
// codegen/llvm: kernels.cpp compiles and caches what this emits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Target/TargetMachine.h>

#include <duet/codegen/llvm/kernels.h>

namespace duet::codegen::jit {

// A module holding one function `name`, void(char* const* ptrs, int64_t n),
// that computes `body` over a run (kernels.h: RunFn). `scalar_input[i]`:
// parameter i repeats one element along the run. avx512: the host has
// AVX-512F (explicit 16-wide vectors and vscalefps; else the scalar loop for
// the loop vectorizer). Throws an Error if the module does not verify.
std::unique_ptr<llvm::Module> generate(llvm::LLVMContext& ctx, const BodySpec& body, const std::vector<bool>& scalar_input,
                                       const std::string& name, bool avx512);

// When generate.cpp was built: part of every kernel's cache key (NOTE
// [Kernel cache]), so kernels from another build of the generator are
// never loaded from disk.
const char* generate_build_stamp();

}  // namespace duet::codegen::jit
