// Compiled elementwise kernels for fusion nodes (DESIGN.md §2.5): LLVM IR
// for the loop over one contiguous run of a fusion's iteration space, the
// O3 pipeline for the host CPU, ORC LLJIT, and a kernel cache in memory and
// on disk. No LLVM type appears here: the rest of duet sees function
// pointers and text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <duet/codegen/kernel_ir.h>

namespace duet::codegen::jit {

// One run: `ptrs` holds a pointer per body parameter (at the run's first
// element, or at the one element a broadcast input repeats) and then one per
// body result (contiguous); `n` elements are computed. For a body that ends
// in a reduction over its innermost axis, a run is one row: the reduction's
// result pointer receives one element, the other results n.
using RunFn = void (*)(char* const* ptrs, int64_t n);

// A kernel: its cache key (the body's ops and dtypes, independent of shapes,
// so one kernel serves every batch size, plus which inputs are scalars and
// the CPU) and the compiled entry point.
struct Kernel {
  std::string key;
  RunFn fn = nullptr;
  // Keeps the code loaded: fn is valid while any copy of this lives
  // (NOTE [Kernel cache] in kernels.cpp).
  std::shared_ptr<const void> owner;
};

// The kernel for `body` with `scalar_input[i]` telling whether parameter i is
// read as one repeated element along the run. Found in memory, else on disk
// under $DUET_CACHE_DIR (default ~/.cache/duet), else generated, optimized
// and compiled (then saved). Thread-safe. Throws an Error when LLVM fails.
Kernel kernel_for(const BodySpec& body, const std::vector<bool>& scalar_input);

// Inspection: the kernel's LLVM IR after optimization, or its assembly.
std::string kernel_llvm_ir(const BodySpec& body, const std::vector<bool>& scalar_input);
std::string kernel_asm(const BodySpec& body, const std::vector<bool>& scalar_input);

// Every kernel of an optimized graph (its compilable fusions, for contiguous
// inputs, its softmax row kernels and fused_matmul epilogues), each after a
// "// kernel of ..." line, as LLVM IR after O3 or as assembly; a fusion that
// does not compile gets a line saying why. For duet-opt --emit and duet-dump.
std::string kernels_listing(const Graph& g, bool assembly);

// Counters since the process started (for tests and duet-bench).
struct Stats {
  int64_t compiled = 0;     // LLVM optimized and compiled a kernel
  int64_t memory_hits = 0;  // found already loaded in this process
  int64_t disk_hits = 0;    // loaded from the disk cache
  int64_t disk_rejected = 0;  // a cache file was corrupt or truncated and was rebuilt
  int64_t evicted = 0;      // let go by the in-memory cache (over its limits)
  int64_t unloaded = 0;     // code removed from the JIT (its last user gone)
  int64_t loaded = 0, loaded_bytes = 0;  // kernels in the JIT now, and their object code
  int64_t cached = 0, cached_bytes = 0;  // of those, the ones the cache holds
};
Stats stats();

// The kernel cache's bounds (NOTE [Kernel cache]). In memory it holds at
// most `entries` kernels and `bytes` of object code, least recently used let
// go first (a kernel a live function still uses stays loaded until that
// function's trace goes). On disk, the folder is trimmed to `disk_bytes`,
// least recently used files first. Environment: DUET_KERNEL_CACHE_ENTRIES,
// DUET_KERNEL_CACHE_MB, DUET_CACHE_DISK_MB.
struct Limits {
  uint64_t entries = 512;
  uint64_t bytes = uint64_t{64} << 20;
  uint64_t disk_bytes = uint64_t{256} << 20;
};
Limits limits();
void set_limits(const Limits& limits);
// Trims the disk cache now; returns how many files it removed.
int64_t trim_disk_cache();

// The CPU the kernels are compiled for: "x86_64-pc-linux-gnu znver4 +avx512f,...".
std::string host_description();

}  // namespace duet::codegen::jit
