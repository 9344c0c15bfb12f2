// For the harnesses that read files (fuzz_saved, fuzz_idx): a scratch
// directory of this process, one input split into several files.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace duet_fuzz {

// $TMPDIR/duet-fuzz-<name>-<pid> (/dev/shm when TMPDIR is unset: a file
// system in memory, as libFuzzer runs thousands of inputs a second), empty,
// removed when the process exits normally. Per process, so that libFuzzer's
// -jobs and -fork children never share one.
inline const std::string& scratch_dir(const char* name) {
  // Never destroyed: the exit handler reads it after static destructors ran.
  static const std::string* dir = [name] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path root = tmp && *tmp ? tmp : "/dev/shm";
    std::filesystem::path d = root / ("duet-fuzz-" + std::string(name) + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(""), ec); });
    return new std::string(d.string());
  }();
  return *dir;
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();  // the harness's own failure, not a finding in duet
  }
}

// The input before and after the first `delimiter`; `found` says whether
// there was one (when not, `after` is empty).
struct Split {
  std::string_view before, after;
  bool found = false;
};
inline Split split_at(std::string_view input, std::string_view delimiter) {
  size_t at = input.find(delimiter);
  if (at == std::string_view::npos) return {input, {}, false};
  return {input.substr(0, at), input.substr(at + delimiter.size()), true};
}

}  // namespace duet_fuzz
