// Loading CUDA libraries at run time.
#include <duet/backends/cuda/library.h>

#include <dlfcn.h>

#include <duet/graph/error.h>

namespace duet::cuda {

Library::Library(const std::vector<std::string>& candidates, std::string what) : what_(std::move(what)) {
  for (const std::string& c : candidates) {
    handle_ = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_) return;
    const char* err = dlerror();
    if (why_.empty() && err) why_ = err;
  }
  why_ = what_ + " could not be loaded (" + why_ + ")";
}

void* Library::symbol(const char* name) const {
  if (!handle_) throw DeviceError(why_);
  void* f = dlsym(handle_, name);
  if (!f) throw DeviceError(what_ + " has no function " + name);
  return f;
}

}  // namespace duet::cuda
