// Shared by the PTX tests (test_ptx.cpp, test_pass_property.cpp).
#pragma once

#include <string>
#include <vector>

#include <duet/codegen/llvm/ptx.h>

namespace duet_test {

// Generates one module of `kernels` for sm_80 and sm_90 and assembles each
// with ptxas; Catch CHECKs each, and the result says whether all passed.
// Without ptxas at build time: a visible WARN that the check was skipped.
bool ptxas_accepts(const std::vector<duet::codegen::ptx::KernelSpec>& kernels, const std::string& tag);
// The same for one PTX text, for `sm` only.
bool ptxas_accepts_text(const std::string& ptx, const std::string& sm, const std::string& tag);

}  // namespace duet_test
