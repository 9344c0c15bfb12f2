// libFuzzer harness: the IDX reader behind duet::data::FashionMNIST
// (runtime/data.cpp). Input: a mode byte (bit 0: gzip the files, else write
// them as they are, which gzread reads transparently, so the fuzzer can also
// hand zlib its own damaged gzip streams), a 4-byte little-endian length of
// the images file, the images file, then the labels file. IOErrors are the
// expected answer to a damaged file; a crash, a sanitizer report or any
// other exception is a finding. A set that loads gives batches and shuffles.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <duet/graph/error.h>
#include <duet/runtime/data.h>

#include "fuzz_files.h"

namespace {

void write_gzip(const std::string& path, std::string_view bytes) {
  gzFile f = gzopen(path.c_str(), "wb1");
  if (!f || (!bytes.empty() && gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == 0) ||
      gzclose(f) != Z_OK) {
    std::fprintf(stderr, "fuzz_idx: cannot write %s\n", path.c_str());
    std::abort();  // the harness's own failure
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const bool gzip = data[0] & 1;
  const size_t declared = size_t(data[1]) | size_t(data[2]) << 8 | size_t(data[3]) << 16 | size_t(data[4]) << 24;
  std::string_view rest(reinterpret_cast<const char*>(data) + 5, size - 5);
  const size_t n_images = std::min(declared, rest.size());
  const std::string& dir = duet_fuzz::scratch_dir("idx");
  const std::string images = dir + "/train-images-idx3-ubyte.gz", labels = dir + "/train-labels-idx1-ubyte.gz";
  auto write = gzip ? write_gzip : duet_fuzz::write_file;
  write(images, rest.substr(0, n_images));
  write(labels, rest.substr(n_images));
  try {
    duet::data::FashionMNIST set(duet::data::Split::train, dir);
    (void)set.batch(0, 2);
    set.shuffle(size);
    (void)set.batch(set.num_batches(2) - 1, 2);
  } catch (const duet::Error&) {
  }
  return 0;
}
