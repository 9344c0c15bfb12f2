// data::FashionMNIST: the real IDX files, batches, shuffling, and IOErrors on damaged files.
#include <catch2/catch.hpp>
#include <duet/duet.h>

#include "test_support.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace duet;
using namespace duet_test;
namespace fs = std::filesystem;

namespace {


// The test split is loaded once per process (tests that need the training split load their own).
const data::FashionMNIST& test_split() {
  static const data::FashionMNIST test(data::Split::test);
  return test;
}

std::array<int64_t, 10> label_counts(const data::FashionMNIST& d, int64_t batch_size) {
  std::array<int64_t, 10> counts{};
  for (int64_t b = 0; b < d.num_batches(batch_size); ++b)
    for (int32_t l : d.batch(b, batch_size).second.to_vector<int32_t>()) ++counts.at(static_cast<size_t>(l));
  return counts;
}


std::vector<uint8_t> be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

// An IDX file's bytes: images (magic 2051, n x 28 x 28) or labels (2049, n).
std::vector<uint8_t> idx_images(uint32_t magic, uint32_t n, size_t pixels) {
  std::vector<uint8_t> b;
  for (uint32_t v : {magic, n, 28u, 28u}) {
    auto w = be32(v);
    b.insert(b.end(), w.begin(), w.end());
  }
  for (size_t i = 0; i < pixels; ++i) b.push_back(uint8_t(i * 37));
  return b;
}
std::vector<uint8_t> idx_labels(uint32_t magic, uint32_t n, size_t count) {
  std::vector<uint8_t> b;
  for (uint32_t v : {magic, n}) {
    auto w = be32(v);
    b.insert(b.end(), w.begin(), w.end());
  }
  for (size_t i = 0; i < count; ++i) b.push_back(uint8_t(i % 10));
  return b;
}

uint32_t crc32_of(const std::vector<uint8_t>& bytes) {
  uint32_t crc = 0xffffffffu;
  for (uint8_t b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A gzip file of stored (uncompressed) deflate blocks (RFC 1951 / 1952): the
// test links without zlib, and every byte of the result is known.
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  size_t at = 0;
  do {
    size_t n = std::min<size_t>(65535, data.size() - at);
    bool last = at + n == data.size();
    out.push_back(last ? 1 : 0);
    for (uint16_t v : {uint16_t(n), uint16_t(~n)}) {
      out.push_back(uint8_t(v));
      out.push_back(uint8_t(v >> 8));
    }
    out.insert(out.end(), data.begin() + long(at), data.begin() + long(at + n));
    at += n;
  } while (at < data.size());
  for (uint32_t v : {crc32_of(data), uint32_t(data.size())})
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
  return out;
}

void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}
void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) { write_raw(path, gzip_bytes(bytes)); }
std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

// A well-formed test split of 3 images in `dir`; returns the two paths.
std::pair<std::string, std::string> write_valid(const TempDir& dir) {
  std::string images = dir.file("t10k-images-idx3-ubyte.gz"), labels = dir.file("t10k-labels-idx1-ubyte.gz");
  write_gz(images, idx_images(2051, 3, 3 * 784));
  write_gz(labels, idx_labels(2049, 3, 3));
  return {images, labels};
}

// The message of the IOError that constructing the test split from `dir` throws.
std::string load_error(const std::string& dir) {
  try {
    data::FashionMNIST d(data::Split::test, dir);
  } catch (const IOError& e) {
    UNSCOPED_INFO(e.what());
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("not an IOError: " << e.what());
    return "";
  }
  FAIL_CHECK("no error from " << dir);
  return "";
}

}  // namespace

TEST_CASE("data FashionMNIST has 60000 training and 10000 test examples", "[data]") {
  data::FashionMNIST train(data::Split::train);
  CHECK(train.size() == 60000);
  CHECK(test_split().size() == 10000);
  CHECK(train.num_batches(128) == 469);
  // Fashion-MNIST is balanced: 6000 of each class in training, 1000 in test.
  std::array<int64_t, 10> train_counts = label_counts(train, 5000), test_counts = label_counts(test_split(), 5000);
  for (size_t c = 0; c < 10; ++c) {
    INFO("class " << c);
    CHECK(train_counts[c] == 6000);
    CHECK(test_counts[c] == 1000);
  }
}

TEST_CASE("data FashionMNIST batches are f32 B x 784 in 0..1 and i32 labels in 0..9", "[data]") {
  const data::FashionMNIST& test = test_split();
  auto [x, y] = test.batch(3, 64);
  CHECK(x.dtype() == DType::f32);
  CHECK(x.shape() == Shape({64, 784}));
  CHECK(y.dtype() == DType::i32);
  CHECK(y.shape() == Shape({64}));
  std::vector<float> px = x.to_vector<float>();
  CHECK(*std::min_element(px.begin(), px.end()) == 0.f);
  CHECK(*std::max_element(px.begin(), px.end()) == 1.f);  // 255 / 255: scaled, not raw bytes
  for (float p : px) {
    float scaled = p * 255.f;
    if (!(p >= 0.f && p <= 1.f) || std::abs(scaled - std::round(scaled)) > 1e-3f) {
      FAIL_CHECK("pixel " << p << " is not a byte / 255");
      break;
    }
  }
  for (int32_t l : y.to_vector<int32_t>()) CHECK((l >= 0 && l <= 9));
  // Batch 3 of 64 starts at example 192: the first example of batch 192 of size 1.
  auto [x1, y1] = test.batch(192, 1);
  CHECK(x1.to_vector<float>() == std::vector<float>(px.begin(), px.begin() + 784));
  CHECK(y1.to_vector<int32_t>()[0] == y.to_vector<int32_t>()[0]);
  // The first test labels of Fashion-MNIST: ankle boot, pullover, trouser, trouser, shirt.
  CHECK(test.batch(0, 5).second.to_vector<int32_t>() == std::vector<int32_t>{9, 2, 1, 1, 6});
}

TEST_CASE("data FashionMNIST the last batch is shorter and a batch past the end is an Error", "[data]") {
  const data::FashionMNIST& test = test_split();
  CHECK(test.num_batches(64) == 157);  // 156 * 64 = 9984, 16 left
  auto [x, y] = test.batch(156, 64);
  CHECK(x.shape() == Shape({16, 784}));
  CHECK(y.shape() == Shape({16}));
  CHECK(test.batch(0, 10000).first.shape() == Shape({10000, 784}));
  CHECK_THROWS_AS(test.batch(157, 64), Error);
  CHECK_THROWS_AS(test.batch(1, 10000), Error);
  CHECK_THROWS_AS(test.batch(-1, 64), Error);
  CHECK_THROWS_AS(test.batch(0, 0), Error);
  // index * batch_size overflows int64 (2^64 + 8 wraps to 8): still past the end.
  CHECK_THROWS_AS(test.batch((int64_t(1) << 61) + 1, 8), Error);
}

TEST_CASE("data FashionMNIST shuffle is a repeatable permutation of the examples", "[data]") {
  data::FashionMNIST a(data::Split::test), b(data::Split::test);
  std::array<int64_t, 10> before = label_counts(a, 1000);
  std::vector<float> unshuffled = a.batch(0, 32).first.to_vector<float>();
  a.shuffle(7);
  b.shuffle(7);
  CHECK(label_counts(a, 1000) == before);  // every label kept over an epoch
  auto [xa, ya] = a.batch(5, 100);
  auto [xb, yb] = b.batch(5, 100);
  CHECK(xa.to_vector<float>() == xb.to_vector<float>());
  CHECK(ya.to_vector<int32_t>() == yb.to_vector<int32_t>());
  CHECK(a.batch(0, 32).first.to_vector<float>() != unshuffled);
  // Every example appears exactly once: the sum of each image's pixels, sorted, is the same multiset.
  auto image_sums = [](const data::FashionMNIST& d) {
    std::vector<float> sums = sum(d.batch(0, d.size()).first, {1}).to_vector<float>();
    std::sort(sums.begin(), sums.end());
    return sums;
  };
  data::FashionMNIST plain(data::Split::test);
  CHECK(image_sums(a) == image_sums(plain));
  // Another seed, another order; the same seed again, the same order (not a shuffle of a shuffle).
  b.shuffle(8);
  CHECK(b.batch(0, 100).second.to_vector<int32_t>() != a.batch(0, 100).second.to_vector<int32_t>());
  b.shuffle(7);
  CHECK(b.batch(0, 100).first.to_vector<float>() == a.batch(0, 100).first.to_vector<float>());
}

TEST_CASE("data FashionMNIST reads a well-formed split from another directory", "[data]") {
  TempDir dir("valid");
  write_valid(dir);
  data::FashionMNIST d(data::Split::test, dir.path.string());
  CHECK(d.size() == 3);
  CHECK(d.batch(0, 3).second.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2});
  CHECK(d.batch(0, 3).first.to_vector<float>()[1] == Approx(37 / 255.0));
}

TEST_CASE("data FashionMNIST a missing directory is an IOError naming the path and the package", "[data]") {
  std::string dir = (fs::temp_directory_path() / "duet_no_such_fashion_mnist_dir").string();
  std::string msg = load_error(dir);
  CHECK(contains(msg, dir));
  CHECK(contains(msg, "dataset-fashion-mnist"));
  // One file of the two missing: the message names that one.
  TempDir half("half");
  write_gz(half.file("t10k-images-idx3-ubyte.gz"), idx_images(2051, 3, 3 * 784));
  msg = load_error(half.path.string());
  CHECK(contains(msg, half.file("t10k-labels-idx1-ubyte.gz")));
}

TEST_CASE("data FashionMNIST damaged files are IOErrors naming the path", "[data]") {
  TempDir dir("damaged");
  auto [images, labels] = write_valid(dir);
  std::string d = dir.path.string();

  SECTION("images shorter than their header says") {
    write_gz(images, idx_images(2051, 3, 2 * 784 + 100));
    CHECK(contains(load_error(d), images));
  }
  SECTION("labels longer than their header says") {
    write_gz(labels, idx_labels(2049, 3, 4));
    CHECK(contains(load_error(d), labels));
  }
  SECTION("a header cut short") {
    write_gz(images, {0, 0, 8, 3, 0, 0});
    CHECK(contains(load_error(d), images));
  }
  SECTION("an empty file") {
    write_gz(labels, {});
    CHECK(contains(load_error(d), labels));
  }
  SECTION("a count so large the size check must not overflow") {
    write_gz(images, idx_images(2051, 0xffffffffu, 784));
    CHECK(contains(load_error(d), images));
  }
  SECTION("a wrong magic number: the labels file where the images belong") {
    write_gz(images, idx_labels(2049, 3, 3 * 784 + 8));  // long enough for an images header
    std::string msg = load_error(d);
    CHECK(contains(msg, images));
    CHECK(contains(msg, "magic"));
  }
  SECTION("images that are not 28 x 28") {
    std::vector<uint8_t> b = idx_images(2051, 3, 3 * 784);
    b[11] = 27;
    b.resize(16 + 3 * 27 * 28);
    write_gz(images, b);
    CHECK(contains(load_error(d), images));
  }
  SECTION("a label outside 0..9") {
    std::vector<uint8_t> b = idx_labels(2049, 3, 3);
    b.back() = 10;
    write_gz(labels, b);
    CHECK(contains(load_error(d), labels));
  }
  SECTION("image and label counts that differ") {
    write_gz(labels, idx_labels(2049, 2, 2));
    CHECK(contains(load_error(d), labels));
  }
  SECTION("a gzip stream cut in half") {
    std::vector<uint8_t> gz = read_raw(images);
    REQUIRE(gz.size() > 40);
    gz.resize(gz.size() / 2);
    write_raw(images, gz);
    CHECK(contains(load_error(d), images));
  }
  SECTION("a gzip header followed by garbage") {
    std::vector<uint8_t> gz = read_raw(labels);
    for (size_t i = 10; i < gz.size(); ++i) gz[i] = uint8_t(0xA5 ^ i);
    write_raw(labels, gz);
    CHECK(contains(load_error(d), labels));
  }
  SECTION("a gzip file whose checksum does not match") {
    std::vector<uint8_t> gz = read_raw(labels);
    gz[gz.size() - 6] ^= 0xff;  // the CRC32 in the trailer
    write_raw(labels, gz);
    CHECK(contains(load_error(d), labels));
  }
  SECTION("a file that is not gzip at all") {
    write_raw(images, std::vector<uint8_t>(5000, 'x'));
    CHECK(contains(load_error(d), images));
  }
  SECTION("a directory where a file should be") {
    fs::remove(labels);
    fs::create_directory(labels);
    CHECK(contains(load_error(d), labels));
  }
}
