// The kernel cache on disk (NOTE [Kernel cache] in kernels.cpp): one object
// file per kernel under $DUET_CACHE_DIR, checked on read, written
// atomically, and trimmed to a size bound. Internal to codegen.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace duet::codegen::jit {

class DiskCache {
 public:
  // `dir` empty: no disk cache. `max_bytes`: the bound trim() keeps to.
  DiskCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  // The object saved under `name` for `key`; false when there is none or the
  // file is damaged or holds another key (counted in *rejected). A hit marks
  // the file used now, so trimming removes the least recently used first.
  bool read(const std::string& key, const std::string& name, std::string* object, int64_t* rejected) const;
  // Saves it (a unique temporary file, then a rename); trims every 32 writes.
  void write(const std::string& key, const std::string& name, const std::string& object);
  // Removes the least recently used kernel files until the folder holds at
  // most max_bytes of them, and stale temporary files. Returns files removed.
  int64_t trim();

  const std::string& dir() const { return dir_; }
  uint64_t max_bytes() const { return max_bytes_; }
  void set_max_bytes(uint64_t b) { max_bytes_ = b; }

 private:
  std::string path(const std::string& name) const { return dir_ + "/" + name + ".o"; }
  std::string dir_;
  uint64_t max_bytes_;
  int writes_ = 0;
};

uint64_t fnv1a(const std::string& s);

}  // namespace duet::codegen::jit
