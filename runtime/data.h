// Fashion-MNIST from the IDX files of Debian's dataset-fashion-mnist package.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <duet/runtime/tensor.h>

namespace duet::data {

enum class Split { train, test };

class FashionMNIST {
 public:
  static constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
  // Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. A missing,
  // truncated or corrupt file is an IOError naming the path (and, when the
  // files are missing, the Debian package to install).
  explicit FashionMNIST(Split split, const std::string& dir = kDefaultDir);

  int64_t size() const { return count_; }
  // Batch number `index` of `batch_size` (the last may be shorter) in the
  // current order: images f32 [B, 784] scaled to [0, 1], labels i32 [B].
  std::pair<Tensor, Tensor> batch(int64_t index, int64_t batch_size) const;
  int64_t num_batches(int64_t batch_size) const { return (count_ + batch_size - 1) / batch_size; }
  // A new order, a pure function of the seed (Fisher-Yates).
  void shuffle(uint64_t seed);

 private:
  int64_t count_ = 0;
  std::vector<uint8_t> images_;  // count x 784
  std::vector<uint8_t> labels_;
  std::vector<int64_t> order_;
};

}  // namespace duet::data
