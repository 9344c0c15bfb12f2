// The inspection API of the stand-in CUDA runtime (NOTE [A stand-in CUDA
// runtime] in fake_cudart.cpp). Tests load libduet_fake_cudart.so (through
// DUET_CUDART) and find these functions with dlsym; the *_fn typedefs are
// their types. Plain C, no CUDA header needed.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  DUET_FAKE_MAX_PARAMS = 256,  // parameters recorded per launch (param_count may be larger)
  DUET_FAKE_NAME_BYTES = 128,  // kernel name, NUL-terminated, truncated if longer
};

// Indices of duet_fake_counters_t::memcpys: cudaMemcpyKind's values (which
// CUDA never changes).
enum {
  DUET_FAKE_HOST_TO_HOST = 0,
  DUET_FAKE_HOST_TO_DEVICE = 1,
  DUET_FAKE_DEVICE_TO_HOST = 2,
  DUET_FAKE_DEVICE_TO_DEVICE = 3,
  DUET_FAKE_DEFAULT = 4,
};

// Counts since the library was loaded or last reset. live_* describe the
// allocations alive now and are never reset.
typedef struct duet_fake_counters_t {
  uint64_t mallocs;           // successful cudaMalloc of more than 0 bytes
  uint64_t frees;             // successful cudaFree of an allocation
  uint64_t live_allocations;  // allocations not yet freed, all devices
  uint64_t live_bytes;        // their requested bytes
  uint64_t peak_bytes;        // the most live_bytes since the last reset
  uint64_t memcpys[5];        // successful copies of at least a byte (1D and 2D) by kind, DUET_FAKE_*
  uint64_t memcpys_2d;        // of which cudaMemcpy2DAsync
  uint64_t memsets;           // successful cudaMemsetAsync of at least a byte
  uint64_t streams_created;   // cudaStreamCreateWithFlags
  uint64_t stream_syncs;      // cudaStreamSynchronize
  uint64_t device_syncs;      // cudaDeviceSynchronize
  uint64_t launches;          // successful cudaLaunchKernel
  uint64_t libraries_loaded;  // successful cudaLibraryLoadData
  uint64_t libraries_unloaded;
  uint64_t errors;            // calls of any function that returned an error
} duet_fake_counters_t;

// The last successful cudaLaunchKernel.
typedef struct duet_fake_launch_t {
  char kernel[DUET_FAKE_NAME_BYTES];  // the .entry's name
  unsigned grid[3];
  unsigned block[3];
  size_t shared_bytes;
  int device;   // current device of the launching thread
  void* stream;  // the cudaStream_t launched on
  int param_count;  // parameters the PTX's .entry declares
  unsigned param_bytes[DUET_FAKE_MAX_PARAMS];  // each one's size (.u64: 8, .f32: 4, .b8 x[24]: 24)
  uint64_t param_values[DUET_FAKE_MAX_PARAMS];  // each argument's first min(size, 8) bytes, zero-extended
} duet_fake_launch_t;

void duet_fake_counters(duet_fake_counters_t* out);
// Fills *out and returns 1, or returns 0 when nothing was launched since the
// last reset.
int duet_fake_last_launch(duet_fake_launch_t* out);
// How many PTX texts cudaLibraryLoadData took since the library was loaded,
// and the i-th of them (nullptr past the end); never reset.
int duet_fake_ptx_count(void);
const char* duet_fake_ptx(int i);
// Zeroes the counts (not live_*) and forgets the last launch.
void duet_fake_reset_counters(void);

typedef void (*duet_fake_counters_fn)(duet_fake_counters_t*);
typedef int (*duet_fake_last_launch_fn)(duet_fake_launch_t*);
typedef void (*duet_fake_reset_counters_fn)(void);
typedef int (*duet_fake_ptx_count_fn)(void);
typedef const char* (*duet_fake_ptx_fn)(int);

#ifdef __cplusplus
}
#endif
