// A CUDA library loaded with dlopen (never linked: DESIGN.md §2.5), its
// functions looked up by name with the type of their declaration in the
// real header. Internal to backends/cuda; built only with the CUDA backend.
#pragma once

#include <string>
#include <vector>

namespace duet::cuda {

class Library {
 public:
  // Loads the first of `candidates` that loads (absolute paths found at
  // build time first, then sonames); `what` names it in errors.
  Library(const std::vector<std::string>& candidates, std::string what);
  bool loaded() const { return handle_ != nullptr; }
  // Why it did not load ("" if it did).
  const std::string& why() const { return why_; }
  // The function `name`; a DeviceError naming the library and the function
  // when either is missing.
  void* symbol(const char* name) const;

 private:
  void* handle_ = nullptr;
  std::string what_, why_;
};

// f = lib.get<decltype(&cudaMalloc)>("cudaMalloc")
template <class F>
F get(const Library& lib, const char* name) {
  return reinterpret_cast<F>(lib.symbol(name));
}

}  // namespace duet::cuda
