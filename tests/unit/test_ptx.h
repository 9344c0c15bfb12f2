// Shared by the PTX tests (test_ptx.cpp, test_pass_property.cpp).
#pragma once

#include <string>
#include <vector>

#include <duet/codegen/gpu/ptx.h>

namespace duet_test {

// Generates one module of `kernels` for sm_80 and for sm_90 and CHECKs that
// each names its target and every kernel's entry; returns the two texts.
std::vector<std::string> ptx_generates(const std::vector<duet::codegen::ptx::KernelSpec>& kernels);
// The same, then assembles each text with ptxas; Catch CHECKs each, and the
// result says whether all passed. Only [ptxas] cases call these (NOTE [Skips
// that show] in main.cpp): without ptxas at build time they FAIL.
bool ptxas_accepts(const std::vector<duet::codegen::ptx::KernelSpec>& kernels, const std::string& tag);
// The assembly alone, of one PTX text, for `sm` only.
bool ptxas_accepts_text(const std::string& ptx, const std::string& sm, const std::string& tag);

}  // namespace duet_test
