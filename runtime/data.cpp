// The IDX reader: gzip through zlib, big-endian headers, every size checked
// against the file before it is trusted.
#include <duet/runtime/data.h>

#include <cstring>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>
#include <zlib.h>

#include <duet/backends/random.h>
#include <duet/runtime/ops.h>

namespace duet::data {
namespace {

constexpr int64_t kPixels = 28 * 28;

std::vector<uint8_t> read_gzip(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw IOError(fmt::format("FashionMNIST: '{}' does not exist; install the Debian package dataset-fashion-mnist "
                              "(apt-get install dataset-fashion-mnist)",
                              path));
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw IOError(fmt::format("FashionMNIST: cannot open '{}'", path));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw IOError(fmt::format("FashionMNIST: '{}' is corrupt ({})", path, msg));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string text = msg ? msg : "";
  gzclose(f);
  if (err != Z_OK && err != Z_STREAM_END) throw IOError(fmt::format("FashionMNIST: '{}' is corrupt ({})", path, text));
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 3]);
}

// Checks an IDX file's magic number, dims and size; returns the item count.
int64_t check_idx(const std::vector<uint8_t>& b, const std::string& path, uint32_t magic, int64_t item_bytes) {
  size_t header = magic == 2051 ? 16 : 8;
  if (b.size() < header) throw IOError(fmt::format("FashionMNIST: '{}' is truncated (no IDX header)", path));
  if (be32(b, 0) != magic)
    throw IOError(fmt::format("FashionMNIST: '{}' is not an IDX file of the expected kind (magic {}, expected {})",
                              path, be32(b, 0), magic));
  int64_t count = be32(b, 4);
  if (magic == 2051 && (be32(b, 8) != 28 || be32(b, 12) != 28))
    throw IOError(fmt::format("FashionMNIST: '{}' holds {}x{} images, expected 28x28", path, be32(b, 8), be32(b, 12)));
  if (static_cast<int64_t>(b.size() - header) != count * item_bytes)
    throw IOError(fmt::format("FashionMNIST: '{}' is truncated or padded: {} bytes of data for {} items", path,
                              b.size() - header, count));
  return count;
}

}  // namespace

FashionMNIST::FashionMNIST(Split split, const std::string& dir) {
  std::string prefix = dir + (split == Split::train ? "/train" : "/t10k");
  std::string images_path = prefix + "-images-idx3-ubyte.gz", labels_path = prefix + "-labels-idx1-ubyte.gz";
  std::vector<uint8_t> images = read_gzip(images_path), labels = read_gzip(labels_path);
  int64_t n_images = check_idx(images, images_path, 2051, kPixels);
  int64_t n_labels = check_idx(labels, labels_path, 2049, 1);
  if (n_images != n_labels)
    throw IOError(fmt::format("FashionMNIST: '{}' has {} images but '{}' has {} labels", images_path, n_images,
                              labels_path, n_labels));
  for (size_t i = 8; i < labels.size(); ++i)
    if (labels[i] > 9) throw IOError(fmt::format("FashionMNIST: '{}' holds label {} (expected 0..9)", labels_path, labels[i]));
  count_ = n_images;
  images_.assign(images.begin() + 16, images.end());
  labels_.assign(labels.begin() + 8, labels.end());
  order_.resize(static_cast<size_t>(count_));
  std::iota(order_.begin(), order_.end(), 0);
}

void FashionMNIST::shuffle(uint64_t seed) {
  std::iota(order_.begin(), order_.end(), 0);
  for (int64_t i = count_ - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(random::hash(seed, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1));
    std::swap(order_[i], order_[j]);
  }
}

std::pair<Tensor, Tensor> FashionMNIST::batch(int64_t index, int64_t batch_size) const {
  if (batch_size <= 0) throw Error(fmt::format("FashionMNIST::batch: batch_size must be > 0, got {}", batch_size));
  // Compared without multiplying, which could overflow for huge arguments.
  if (index < 0 || count_ == 0 || index > (count_ - 1) / batch_size)
    throw Error(fmt::format("FashionMNIST::batch: batch {} of size {} is past the {} examples", index, batch_size, count_));
  int64_t begin = index * batch_size;
  int64_t n = std::min(batch_size, count_ - begin);
  std::vector<float> pixels(static_cast<size_t>(n * kPixels));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = order_[begin + i];
    const uint8_t* img = images_.data() + src * kPixels;
    for (int64_t p = 0; p < kPixels; ++p) pixels[i * kPixels + p] = img[p] * (1.0f / 255.0f);
    labels[i] = labels_[src];
  }
  return {from_vector(pixels, {n, kPixels}), from_vector(labels, {n})};
}

}  // namespace duet::data
