// SPDX-License-Identifier: MIT
// wsss/graph/affinity.hpp — learned semantic affinity W_ij = exp(-d(f_i, f_j)) (AffinityNet, eq. 3)
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

/// The feature distance d of eq. 3.
enum class distance {
  mean_l1,  ///< (1/C) sum_c |f_ic - f_jc|: the public code (psa resnet38_aff), the default
  sum_l1,   ///< sum_c |f_ic - f_jc| = ||f_i - f_j||_1: the paper's eq. 3
};

namespace detail {

/// One pair's affinity from node-major features (n x C rows): y[e] = exp(-s * sum_c |.|).
struct affinity_kernel {
  const float* f;  // n x C, one row per node
  const std::int32_t* from;
  const std::int32_t* to;
  float* y;
  std::int64_t channels;
  float scale;
  WSSS_HD void operator()(std::int64_t e) const {
    const float* a = f + from[e] * channels;
    const float* b = f + to[e] * channels;
    float s = 0.0f;
    for (std::int64_t c = 0; c < channels; ++c) s += std::fabs(a[c] - b[c]);
    y[e] = std::exp(-scale * s);
  }
};

/// Gradient for one channel plane (race-free: a thread owns whole channels).
struct affinity_grad_kernel {
  const float* f;   // C x n plane-major features of one image
  const float* q;   // per pair: gy * a * scale
  const std::int32_t* from;
  const std::int32_t* to;
  float* g;         // C x n gradient, accumulated
  std::int64_t pairs, nodes;
  WSSS_HD void operator()(std::int64_t c) const {
    const float* fc = f + c * nodes;
    float* gc = g + c * nodes;
    for (std::int64_t e = 0; e < pairs; ++e) {
      const float d = fc[from[e]] - fc[to[e]];
      // d|x|/dx taken as sign(x), with sign(0) = 0 (the subgradient PyTorch's abs uses).
      const float sgn = static_cast<float>((d > 0.0f) - (d < 0.0f));
      gc[from[e]] -= q[e] * sgn;
      gc[to[e]] += q[e] * sgn;
    }
  }
};

}  // namespace detail

/// Autodiff op: affinities of the pairs of `pairs` from features f (C x H x W, or N x C x H x W
/// for a batch). Output: E values (or N x E), in the pair list's order; for a CSR graph pass
/// edges_of(g) and feed the result to with_weights(g, .).
/// Backward: dW_e/df_ic = -s W_e sign(f_ic - f_jc), dW_e/df_jc = +s W_e sign(f_ic - f_jc),
/// s = 1/C (mean_l1) or 1 (sum_l1); at f_ic = f_jc the subgradient 0 is used.
struct affinity_op {
  static constexpr std::string_view name = "graph::affinity";
  struct config {
    distance dist = distance::mean_l1;
  };
  struct saved {};

  const pair_list* pairs = nullptr;  ///< must outlive backward
  config cfg{};

  tensor forward(saved&, const tensor& f) const {
    const auto [n_img, c, h, w] = check(f);
    expect_finite(f, name, "features");
    const index_t n = h * w, e = pairs->size();
    tensor y = f.rank() == 4 ? tensor::uninitialized({n_img, e}) : tensor::uninitialized({e});
    tensor rows = tensor::uninitialized({n, c});
    const float scale = cfg.dist == distance::mean_l1 ? 1.0f / static_cast<float>(c) : 1.0f;
    for (index_t b = 0; b < n_img; ++b) {
      const float* fb = f.data() + b * c * n;
      for (index_t k = 0; k < c; ++k)
        for (index_t i = 0; i < n; ++i) rows[i * c + k] = fb[k * n + i];
      backend::for_each_index(omp, e,
                              detail::affinity_kernel{rows.data(), pairs->from.data(), pairs->to.data(),
                                                      y.data() + b * e, c, scale});
    }
    return y;
  }

  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    if (!gxs[0]) return;
    const tensor& f = *xs[0];
    const auto [n_img, c, h, w] = check(f);
    const index_t n = h * w, e = pairs->size();
    const float scale = cfg.dist == distance::mean_l1 ? 1.0f / static_cast<float>(c) : 1.0f;
    tensor q = tensor::uninitialized({e});
    for (index_t b = 0; b < n_img; ++b) {
      for (index_t k = 0; k < e; ++k) q[k] = gy[b * e + k] * y[b * e + k] * scale;
      backend::for_each_index(omp, c,
                              detail::affinity_grad_kernel{f.data() + b * c * n, q.data(), pairs->from.data(),
                                                           pairs->to.data(), gxs[0]->data() + b * c * n, e, n});
    }
  }

 private:
  struct dims {
    index_t n, c, h, w;
  };
  dims check(const tensor& f) const {
    if (!pairs) throw_value(name, "no pair list given");
    if (f.rank() != 3 && f.rank() != 4)
      throw_shape(name, "features must be C x H x W or N x C x H x W, got ", f.shape());
    const dims d = f.rank() == 4 ? dims{f.dim(0), f.dim(1), f.dim(2), f.dim(3)} : dims{1, f.dim(0), f.dim(1), f.dim(2)};
    if (d.h != pairs->height || d.w != pairs->width)
      throw_shape(name, "features are ", d.h, "x", d.w, " but the pairs live on a ", pairs->height, "x",
                  pairs->width, " grid");
    if (d.c == 0) throw_shape(name, "features have no channel");
    return d;
  }
};
static_assert(ad::Op<affinity_op>);

/// Affinities as a plain function (no tape): E values for C x H x W features. Throws
/// value_error on non-finite features.
inline tensor affinities(const tensor& f, const pair_list& pairs, affinity_op::config cfg = {}) {
  affinity_op::saved s;
  return affinity_op{&pairs, cfg}.forward(s, f);
}

/// The graph g weighted by the affinities of eq. 3 computed from features f (C x H x W).
inline csr_graph affinity_graph(const csr_graph& g, const tensor& f, affinity_op::config cfg = {}) {
  const pair_list p = edges_of(g);
  return with_weights(g, affinities(f, p, cfg));
}

}  // namespace wsss::graph
