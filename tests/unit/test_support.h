// Helpers several unit-test files share: temporary directories, element
// views of tensors and variables, and an element-wise closeness check.
#pragma once

#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <duet/duet.h>

namespace duet_test {

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("duet_test_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::vector<float> f32s(const duet::Tensor& t) { return t.to_vector<float>(); }
inline std::vector<double> f64s(const duet::Tensor& t) { return t.to_vector<double>(); }
inline std::vector<float> f32s(const duet::Variable& v) { return v.value().to_vector<float>(); }
inline std::vector<double> f64s(const duet::Variable& v) { return v.value().to_vector<double>(); }

template <class T>
void check_close(const std::vector<T>& got, const std::vector<T>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

}  // namespace duet_test
