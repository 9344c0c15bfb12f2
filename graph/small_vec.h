// SmallVec<T, N>: a vector whose first N elements live inline, so the eager
// dispatch road does not touch the heap for ops with few operands or results.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace duet {

template <class T, size_t N>
class SmallVec {
 public:
  SmallVec() = default;
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  void push_back(T v) {
    if (n_ < N) inline_[n_] = std::move(v);
    else heap_.push_back(std::move(v));
    ++n_;
  }
  T& operator[](size_t i) { return i < N ? inline_[i] : heap_[i - N]; }
  const T& operator[](size_t i) const { return i < N ? inline_[i] : heap_[i - N]; }
  void clear() { n_ = 0; heap_.clear(); }

 private:
  std::array<T, N> inline_{};
  std::vector<T> heap_;
  size_t n_ = 0;
};

}  // namespace duet
