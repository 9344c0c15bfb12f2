// The CPU caching allocator behind Storage (NOTE [Storage and the caching
// allocator]): 64-byte aligned blocks, reused instead of returned to the OS.
#pragma once

#include <cstddef>

namespace duet::cpu {

void* alloc(size_t bytes, size_t* block_bytes);  // block_bytes: the size to free with
void free(void* p, size_t block_bytes);
// Bytes held in caches, for tests and benchmarks.
size_t cached_bytes();
// Returns every cached block to the OS.
void empty_cache();

}  // namespace duet::cpu
