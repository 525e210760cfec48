// SPDX-License-Identifier: MIT
// wsss/core/shape.hpp — a small fixed-capacity shape (rank <= 8) with checked access
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

#include "wsss/core/error.hpp"

namespace wsss {

using index_t = std::int64_t;

namespace detail {
/// out = a * b; false (and out unspecified) when the product leaves T. The one overflow check
/// behind every size product (shapes, images, label maps, tensor storage, IDX dims).
template <class T>
[[nodiscard]] constexpr bool checked_mul(T a, T b, T& out) noexcept {
  return !__builtin_mul_overflow(a, b, &out);
}
}  // namespace detail

/// Extents of a dense row-major tensor, outermost first (N, C, H, W for images).
class shape {
 public:
  static constexpr int max_rank = 8;

  shape() = default;
  shape(std::initializer_list<index_t> dims) {
    if (dims.size() > max_rank) throw_shape("shape", "rank ", dims.size(), " exceeds ", max_rank);
    for (index_t d : dims) push_back(d);
  }
  template <class It>
  shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<index_t>(*first));
  }

  int rank() const noexcept { return rank_; }
  index_t operator[](int i) const noexcept { return dims_[static_cast<std::size_t>(i)]; }
  index_t& operator[](int i) noexcept { return dims_[static_cast<std::size_t>(i)]; }
  /// Extent of axis i; negative i counts from the end (-1 is the last axis).
  index_t dim(int i) const {
    const int j = i < 0 ? i + rank_ : i;
    if (j < 0 || j >= rank_) throw_shape("shape", "axis ", i, " out of range for rank ", rank_, " shape ", str());
    return dims_[static_cast<std::size_t>(j)];
  }
  index_t numel() const noexcept {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  /// Appends an extent. The product of the non-zero extents must fit index_t, so numel() and
  /// every partial product of extents (strides, plane sizes) are exact.
  void push_back(index_t d) {
    if (rank_ == max_rank) throw_shape("shape", "rank exceeds ", max_rank);
    if (d < 0) throw_shape("shape", "negative extent ", d);
    index_t product = 1;
    for (int i = 0; i < rank_; ++i)
      if (dims_[static_cast<std::size_t>(i)] != 0) product *= dims_[static_cast<std::size_t>(i)];
    if (d != 0 && !detail::checked_mul(product, d, product))
      throw_shape("shape", "extents ", rank_ ? str() + "x" : std::string(), d, " overflow the 64-bit element count");
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
  const index_t* begin() const noexcept { return dims_.data(); }
  const index_t* end() const noexcept { return dims_.data() + rank_; }

  friend bool operator==(const shape& a, const shape& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
  }

  /// "2x3x5x7" (or "scalar" for rank 0), for error messages.
  std::string str() const {
    if (rank_ == 0) return "scalar";
    std::string s;
    for (int i = 0; i < rank_; ++i) {
      if (i) s += 'x';
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s;
  }
  friend std::ostream& operator<<(std::ostream& os, const shape& s) { return os << s.str(); }

 private:
  std::array<index_t, max_rank> dims_{};
  int rank_ = 0;
};

}  // namespace wsss
