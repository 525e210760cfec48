// SPDX-License-Identifier: MIT
// wsss/crf/exact_filter.hpp — the dense Gaussian filter written out, O(N²): the oracle for the
// permutohedral lattice (Krähenbühl & Koltun 2011, eq. 3) with the same normalisation modes
#pragma once

#include <cmath>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/detail/filter_common.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf {

/// F = P K Q with K_ij = exp(-|f_i - f_j|² / 2) exactly (self term K_ii = 1 included), stored
/// as a dense N x N matrix; for tests and tiny images (N <= max_pixels). Serial on every
/// backend tag (the tagged overloads exist for the GaussianFilter contract).
class exact_filter {
 public:
  static constexpr std::string_view name = "crf::exact_filter";
  static constexpr index_t max_pixels = 4096;

  exact_filter() = default;
  explicit exact_filter(const tensor& features, normalization norm = normalization::symmetric) {
    init(features, norm);
  }

  template <class Tag>
  void init(const Tag&, const tensor& features, normalization norm = normalization::symmetric) {
    init(features, norm);
  }
  void init(const tensor& features, normalization norm = normalization::symmetric) {
    const auto [d, n] = detail::check_features(features, name);
    if (n > max_pixels)
      throw_shape("crf::exact_filter", "the O(N^2) filter takes at most ", max_pixels, " pixels, got ", n);
    n_ = n;
    norm_ = norm;
    k_.assign(static_cast<std::size_t>(n * n), 0.0f);
    ones_response_.assign(static_cast<std::size_t>(n), 0.0f);
    for (index_t i = 0; i < n; ++i) {
      double row = 0;
      for (index_t j = 0; j < n; ++j) {
        double s = 0;
        for (index_t k = 0; k < d; ++k) {
          const double t = static_cast<double>(features[k * n + i]) - features[k * n + j];
          s += t * t;
        }
        const double v = std::exp(-0.5 * s);
        k_[static_cast<std::size_t>(i * n + j)] = static_cast<float>(v);
        row += v;
      }
      ones_response_[static_cast<std::size_t>(i)] = static_cast<float>(row);
    }
    std::vector<float> pre, post;
    detail::set_normalisers(norm, ones_response_, pre, post);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) {
        float& v = k_[static_cast<std::size_t>(i * n + j)];
        if (!post.empty()) v *= post[static_cast<std::size_t>(i)];
        if (!pre.empty()) v *= pre[static_cast<std::size_t>(j)];
      }
  }

  index_t pixels() const noexcept { return n_; }
  normalization norm() const noexcept { return norm_; }
  const std::vector<float>& response_to_ones() const noexcept { return ones_response_; }
  /// Entry (i, j) of the normalised filter F.
  float weight(index_t i, index_t j) const noexcept { return k_[static_cast<std::size_t>(i * n_ + j)]; }

  void reserve(index_t) noexcept {}

  template <class Tag>
  void apply_add(const Tag&, const float* in, float* out, index_t ld, float scale, bool transpose = false) {
    apply_add(in, out, ld, scale, transpose);
  }
  void apply_add(const float* in, float* out, index_t ld, float scale, bool transpose = false) {
    std::vector<double> acc(static_cast<std::size_t>(ld));
    for (index_t i = 0; i < n_; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (index_t j = 0; j < n_; ++j) {
        const double w = transpose ? weight(j, i) : weight(i, j);
        const float* x = in + j * ld;
        for (index_t c = 0; c < ld; ++c) acc[static_cast<std::size_t>(c)] += w * x[c];
      }
      for (index_t c = 0; c < ld; ++c) out[i * ld + c] += static_cast<float>(scale * acc[static_cast<std::size_t>(c)]);
    }
  }

  tensor apply(const tensor& in) { return detail::apply_channel_major(*this, in, false, name); }
  tensor apply_transpose(const tensor& in) { return detail::apply_channel_major(*this, in, true, name); }

 private:
  index_t n_ = 0;
  normalization norm_ = normalization::symmetric;
  std::vector<float> k_, ones_response_;
};

static_assert(GaussianFilter<exact_filter>);

}  // namespace wsss::crf
