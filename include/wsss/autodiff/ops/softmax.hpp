// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/softmax.hpp — softmax and log-softmax along one axis (the class axis of
// N x C x H x W scores), max-shifted so that no exponent overflows
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "wsss/autodiff/ops/common.hpp"

namespace wsss::ad {

namespace detail {

/// y = softmax or log-softmax of x along `axis`, x viewed as outer x C x inner. Each outer
/// slice keeps its inner positions contiguous, so the loops over C stream whole rows.
struct softmax_op {
  static constexpr std::string_view name = "softmax";
  int axis = 1;
  bool log = false;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    const int ax = normalize_axis(axis, x.rank(), log ? "ad::log_softmax" : "ad::softmax");
    const axis_split sp = split_at(x.shape(), ax);
    tensor y = tensor::uninitialized(x.shape());
    const index_t c = sp.mid, inner = sp.inner;
    if (x.numel() == 0) return y;
#pragma omp parallel if (x.numel() > parallel_grain)
    {
      std::vector<float> m(static_cast<std::size_t>(inner)), s(static_cast<std::size_t>(inner));
#pragma omp for schedule(static)
      for (index_t o = 0; o < sp.outer; ++o) {
        const float* in = x.data() + o * c * inner;
        float* out = y.data() + o * c * inner;
        std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
        std::fill(s.begin(), s.end(), 0.0f);
        for (index_t k = 0; k < c; ++k)
          for (index_t i = 0; i < inner; ++i) m[static_cast<std::size_t>(i)] = std::max(m[static_cast<std::size_t>(i)], in[k * inner + i]);
        for (index_t k = 0; k < c; ++k)
          for (index_t i = 0; i < inner; ++i) {
            const float e = std::exp(in[k * inner + i] - m[static_cast<std::size_t>(i)]);
            s[static_cast<std::size_t>(i)] += e;
            out[k * inner + i] = e;
          }
        if (log) {
          for (index_t i = 0; i < inner; ++i) s[static_cast<std::size_t>(i)] = m[static_cast<std::size_t>(i)] + std::log(s[static_cast<std::size_t>(i)]);
          for (index_t k = 0; k < c; ++k)
            for (index_t i = 0; i < inner; ++i) out[k * inner + i] = in[k * inner + i] - s[static_cast<std::size_t>(i)];
        } else {
          for (index_t i = 0; i < inner; ++i) s[static_cast<std::size_t>(i)] = 1.0f / s[static_cast<std::size_t>(i)];
          for (index_t k = 0; k < c; ++k)
            for (index_t i = 0; i < inner; ++i) out[k * inner + i] *= s[static_cast<std::size_t>(i)];
        }
      }
    }
    return y;
  }

  // softmax:     dx = y (gy - sum_k gy_k y_k)
  // log-softmax: dx = gy - e^y sum_k gy_k
  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const int ax = normalize_axis(axis, y.rank(), "ad::softmax");
    const axis_split sp = split_at(y.shape(), ax);
    const index_t c = sp.mid, inner = sp.inner;
    if (y.numel() == 0) return;
#pragma omp parallel if (y.numel() > parallel_grain)
    {
      std::vector<float> s(static_cast<std::size_t>(inner));
#pragma omp for schedule(static)
      for (index_t o = 0; o < sp.outer; ++o) {
        const float* yy = y.data() + o * c * inner;
        const float* g = gy.data() + o * c * inner;
        float* d = gx[0]->data() + o * c * inner;
        std::fill(s.begin(), s.end(), 0.0f);
        if (log) {
          for (index_t k = 0; k < c; ++k)
            for (index_t i = 0; i < inner; ++i) s[static_cast<std::size_t>(i)] += g[k * inner + i];
          for (index_t k = 0; k < c; ++k)
            for (index_t i = 0; i < inner; ++i) d[k * inner + i] += g[k * inner + i] - std::exp(yy[k * inner + i]) * s[static_cast<std::size_t>(i)];
        } else {
          for (index_t k = 0; k < c; ++k)
            for (index_t i = 0; i < inner; ++i) s[static_cast<std::size_t>(i)] += g[k * inner + i] * yy[k * inner + i];
          for (index_t k = 0; k < c; ++k)
            for (index_t i = 0; i < inner; ++i) d[k * inner + i] += yy[k * inner + i] * (g[k * inner + i] - s[static_cast<std::size_t>(i)]);
        }
      }
    }
  }
};
static_assert(Op<softmax_op>);

}  // namespace detail

/// y_k = e^{x_k - m} / sum_j e^{x_j - m} along `axis` (m = the max along it; default: the
/// class axis of N x C x H x W).
inline var softmax(var x, int axis = 1) {
  return apply(detail::tape_of(x, "ad::softmax"), detail::softmax_op{axis, false}, x);
}
/// y_k = x_k - m - log sum_j e^{x_j - m} along `axis`: exact log-probabilities even where
/// softmax underflows to 0.
inline var log_softmax(var x, int axis = 1) {
  return apply(detail::tape_of(x, "ad::log_softmax"), detail::softmax_op{axis, true}, x);
}

}  // namespace wsss::ad
