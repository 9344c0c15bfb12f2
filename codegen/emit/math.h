// Transcendental functions as LLVM IR the loop vectorizer can widen
// (DESIGN.md §2.5: a call to llvm.exp stays scalar on this LLVM). f32 only;
// f64 calls libm. Shared by both generators (codegen/emit/emitter.h).
#pragma once

#include <llvm/IR/IRBuilder.h>

namespace duet::codegen::emit {

// Each takes and returns an f32 value, or a vector of them (the same
// operations lane by lane); NaN in gives NaN out, and the infinities and
// zeros give what libm gives.
// With avx512 (the host has AVX-512F), a <16 x float> exp scales by 2^n with
// vscalefps: the same bits, fewer instructions.
llvm::Value* emit_exp_f32(llvm::IRBuilder<>& b, llvm::Value* x, bool avx512 = false);
llvm::Value* emit_log_f32(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& b, llvm::Value* x, bool avx512 = false);
llvm::Value* emit_erf_f32(llvm::IRBuilder<>& b, llvm::Value* x, bool avx512 = false);

// When this file's code was built: part of every kernel's cache key, so a
// changed generator never loads kernels an older one saved.
const char* math_build_stamp();

}  // namespace duet::codegen::emit
