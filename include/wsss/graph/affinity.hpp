// SPDX-License-Identifier: MIT
// wsss/graph/affinity.hpp — learned semantic affinity W_ij = exp(-d(f_i, f_j)) (AffinityNet, eq. 3)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

/// The feature distance d of eq. 3.
enum class distance {
  mean_l1,  ///< (1/C) sum_c |f_ic - f_jc|: the public code (psa resnet38_aff), the default
  sum_l1,   ///< sum_c |f_ic - f_jc| = ||f_i - f_j||_1: the paper's eq. 3
};

/// Throws value_error naming `component` unless d is one of the enumerators.
inline void check_distance(distance d, std::string_view component) {
  if (d != distance::mean_l1 && d != distance::sum_l1)
    throw_value(component, "distance must be mean_l1 or sum_l1, got ", static_cast<int>(d));
}

namespace detail {

/// Nodes per index of node_rows_kernel: one 64-byte line of a feature plane.
inline constexpr std::int64_t node_rows_block = 16;

/// Plane-major C x n features -> node-major n x C rows, node_rows_block nodes per index (each
/// plane read a cache line at a time), so that a pair reads two contiguous rows. A batch's
/// feature maps (N x C x n) give N row blocks, image after image.
struct node_rows_kernel {
  const float* f;
  float* rows;
  std::int64_t channels, nodes;
  WSSS_HD void operator()(std::int64_t b) const {
    const std::int64_t per = (nodes + node_rows_block - 1) / node_rows_block, img = b / per;
    const std::int64_t i0 = (b - img * per) * node_rows_block;
    const std::int64_t i1 = i0 + node_rows_block < nodes ? i0 + node_rows_block : nodes;
    const float* fi = f + img * channels * nodes;
    float* ri = rows + img * nodes * channels;
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t i = i0; i < i1; ++i) ri[i * channels + c] = fi[c * nodes + i];
  }
};

/// Partial sums of the L1 distance: channel c goes to sum c % l1_lanes, and the sums are
/// folded in halves at the end (sum k + 16 into k, then k + 8 into k, ..., 1 into 0). The fixed
/// lanes and folds make the order of the float sums part of the definition (the same bits on
/// every backend, and for (i, j) and (j, i), since |a - b| and |b - a| are the same float),
/// and keep the sums in vector registers: one running sum made a chain of C dependent adds
/// (68 ms for psa's 448 x 47 x 63 features at radius 5 on one core).
inline constexpr std::int64_t l1_lanes = 32;

#if defined(__CUDA_ARCH__) || !(defined(__GNUC__) || defined(__clang__))
/// sum_c |a_c - b_c| in the order above (plain arrays: device code, other compilers).
WSSS_HD inline float l1_distance(const float* a, const float* b, std::int64_t channels) {
  float acc[l1_lanes];
  for (std::int64_t k = 0; k < l1_lanes; ++k) acc[k] = 0.0f;
  std::int64_t c = 0;
  for (; c + l1_lanes <= channels; c += l1_lanes)
    for (std::int64_t k = 0; k < l1_lanes; ++k) acc[k] += std::fabs(a[c + k] - b[c + k]);
  for (std::int64_t k = 0; c + k < channels; ++k) acc[k] += std::fabs(a[c + k] - b[c + k]);
  for (std::int64_t half = l1_lanes / 2; half > 0; half /= 2)
    for (std::int64_t k = 0; k < half; ++k) acc[k] += acc[k + half];
  return acc[0];
}
#else
/// sum_c |a_c - b_c| in the order above, the 32 sums in four 8-float vectors (GCC / Clang
/// vector extensions; a float[32] accumulator is left in memory, and its scalar folds then
/// cost as much as the sums: 15 ms instead of 6 in the case above).
inline float l1_distance(const float* a, const float* b, std::int64_t channels) {
  typedef float v8 __attribute__((vector_size(32)));
  static_assert(l1_lanes == 32);
  typedef unsigned u8 __attribute__((vector_size(32)));
  v8 acc[4] = {};
  const u8 magnitude = u8{} + 0x7fffffffu;  // every bit but the sign: |d| = d & magnitude
  std::int64_t c = 0;
  for (; c + l1_lanes <= channels; c += l1_lanes)
    for (int v = 0; v < 4; ++v) {
      v8 x, y;
      __builtin_memcpy(&x, a + c + 8 * v, sizeof x);
      __builtin_memcpy(&y, b + c + 8 * v, sizeof y);
      acc[v] += (v8)((u8)(x - y) & magnitude);
    }
  for (std::int64_t k = 0; c + k < channels; ++k) acc[k / 8][k % 8] += std::fabs(a[c + k] - b[c + k]);
  acc[0] += acc[2];  // lanes k + 16 into k
  acc[1] += acc[3];
  acc[0] += acc[1];  // k + 8 into k
  const float t0 = acc[0][0] + acc[0][4], t1 = acc[0][1] + acc[0][5], t2 = acc[0][2] + acc[0][6],
              t3 = acc[0][3] + acc[0][7];  // k + 4 into k
  return (t0 + t2) + (t1 + t3);            // k + 2 into k, then 1 into 0
}
#endif

/// One pair's affinity from node-major features (n x C rows): y[e] = exp(-s * sum_c |.|).
struct affinity_kernel {
  const float* f;  // n x C, one row per node
  const std::int32_t* from;
  const std::int32_t* to;
  float* y;
  std::int64_t channels;
  float scale;
  WSSS_HD void operator()(std::int64_t e) const {
    y[e] = std::exp(-scale * l1_distance(f + from[e] * channels, f + to[e] * channels, channels));
  }
};

/// One unordered pair's affinity written to both orientations: edge upper[k] and its reverse
/// reverse[k] (the same bits as affinity_kernel on either, see l1_distance).
struct affinity_pair_kernel {
  const float* f;  // n x C, one row per node (a batch: N of them, image after image)
  const std::int32_t* from;
  const std::int32_t* to;
  const index_t* upper;
  const index_t* reverse;
  float* y;  // one weight per edge (a batch: image b's edges at b edges)
  std::int64_t channels;
  float scale;
  std::int64_t pairs, nodes, edges;  // per image: unordered pairs (upper's length), nodes, edges
  WSSS_HD void operator()(std::int64_t k) const {
    const std::int64_t img = k / pairs, local = k - img * pairs;
    const float* fi = f + img * nodes * channels;
    float* yi = y + img * edges;
    const index_t e = upper[local];
    const float a = std::exp(-scale * l1_distance(fi + from[e] * channels, fi + to[e] * channels, channels));
    yi[e] = a;
    yi[reverse[local]] = a;
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

/// s of eq. 3's exponent: 1/C for the mean, 1 for the sum.
inline float affinity_scale(distance d, index_t channels) {
  return d == distance::mean_l1 ? 1.0f / static_cast<float>(channels) : 1.0f;
}

/// Scratch of the forward pass (the node-major copy of one image's features), grow-only.
struct affinity_scratch {
  tensor rows;
};

/// s.rows = the node-major copy of one image's C x n features.
template <class Tag>
void node_rows(const Tag& tag, const float* f, index_t channels, index_t nodes, affinity_scratch& s) {
  if (s.rows.numel() < nodes * channels) s.rows = tensor::uninitialized({nodes * channels});
  backend::for_each_index(tag, (nodes + node_rows_block - 1) / node_rows_block,
                          node_rows_kernel{f, s.rows.data(), channels, nodes});
}

/// y[e] = exp(-s d(f_from[e], f_to[e])) for the pairs, from one image's C x n features.
template <class Tag>
void image_affinities(const Tag& tag, const float* f, index_t channels, index_t nodes, const pair_list& pairs,
                      float scale, float* y, affinity_scratch& s) {
  node_rows(tag, f, channels, nodes, s);
  backend::for_each_index(tag, pairs.size(),
                          affinity_kernel{s.rows.data(), pairs.from.data(), pairs.to.data(), y, channels, scale});
}

/// True when no value is NaN or infinite: the largest magnitude bit pattern is below the
/// exponent of infinity. No early exit, so it vectorises (expect_finite's element loop cost
/// as much as eq. 3 itself on psa's feature maps); callers throw through expect_finite.
inline bool all_finite(const float* p, index_t n) noexcept {
  std::uint32_t m = 0;
  for (index_t i = 0; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, p + i, sizeof b);
    m = std::max(m, b & 0x7fffffffu);
  }
  return m < 0x7f800000u;
}

}  // namespace detail

/// Configuration of the affinity op (and of the learned builders' eq. 3).
struct affinity_config {
  distance dist = distance::mean_l1;
};

/// Autodiff op: affinities of the pairs of `pairs` from features f (C x H x W, or N x C x H x W
/// for a batch), launched on `tag`. Output: E values (or N x E), in the pair list's order (a
/// graph builder's plan.pairs lists its graph's edges in CSR order, so the output is the
/// graph's weight array).
/// Backward: dW_e/df_ic = -s W_e sign(f_ic - f_jc), dW_e/df_jc = +s W_e sign(f_ic - f_jc),
/// s = 1/C (mean_l1) or 1 (sum_l1); at f_ic = f_jc the subgradient 0 is used.
template <backend::Backend Tag = omp_t>
struct basic_affinity_op {
  static constexpr std::string_view name = "graph::affinity";
  using config = affinity_config;
  struct saved {};

  const pair_list* pairs = nullptr;  ///< must outlive backward
  config cfg{};
  Tag tag{};

  tensor forward(saved&, const tensor& f) const {
    const auto [n_img, c, h, w] = check(f);
    expect_finite(f, name, "features");
    const index_t n = h * w, e = pairs->size();
    tensor y = f.rank() == 4 ? tensor::uninitialized({n_img, e}) : tensor::uninitialized({e});
    detail::affinity_scratch s;
    for (index_t b = 0; b < n_img; ++b)
      detail::image_affinities(tag, f.data() + b * c * n, c, n, *pairs, detail::affinity_scale(cfg.dist, c),
                               y.data() + b * e, s);
    return y;
  }

  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    if (!gxs[0]) return;
    const tensor& f = *xs[0];
    const auto [n_img, c, h, w] = check(f);
    const index_t n = h * w, e = pairs->size();
    const float scale = detail::affinity_scale(cfg.dist, c);
    tensor q = tensor::uninitialized({e});
    for (index_t b = 0; b < n_img; ++b) {
      for (index_t k = 0; k < e; ++k) q[k] = gy[b * e + k] * y[b * e + k] * scale;
      backend::for_each_index(tag, c,
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
/// The op on the default backend (OpenMP).
using affinity_op = basic_affinity_op<>;
static_assert(ad::Op<affinity_op>);

/// Affinities as a plain function (no tape): E values for C x H x W features. Throws
/// value_error on non-finite features.
template <backend::Backend Tag = omp_t>
tensor affinities(const tensor& f, const pair_list& pairs, affinity_config cfg = {}, Tag tag = {}) {
  typename basic_affinity_op<Tag>::saved s;
  return basic_affinity_op<Tag>{&pairs, cfg, tag}.forward(s, f);
}

namespace detail {

/// The run of a learned builder: the plan's structure, each edge weighted by eq. 3 from
/// features F x H x W (empty features: structure only). Errors name `component`.
/// Checks a learned builder's features: F x H x W on the plan's grid, finite. False when f is
/// empty (the structure only).
inline bool learned_features(const structure_plan& pl, const tensor& f, std::string_view component, bool batch = false) {
  if (f.empty()) return false;
  if (batch && f.rank() == 4) {
    if (f.dim(0) < 1) throw_shape(component, "a batch of features needs 1 or more images, got ", f.shape());
  } else {
    expect_rank(f, 3, component, "features", batch ? "F x H x W, or N x F x H x W" : "F x H x W");
  }
  const int r = f.rank();
  if (f.dim(r - 2) != pl.graph.height || f.dim(r - 1) != pl.graph.width)
    throw_shape(component, "features are ", f.dim(r - 2), "x", f.dim(r - 1), " but the plan's grid is ", pl.graph.height,
                "x", pl.graph.width);
  if (!all_finite(f.data(), f.numel())) expect_finite(f, component, "features");
  return true;
}

template <class Tag>
void learned_weights(const exec<Tag>& ex, const structure_plan& pl, const tensor& f, distance dist, csr_graph& out,
                     std::string_view component) {
  pl.copy_structure(out);
  if (!learned_features(pl, f, component)) return;
  out.weight.resize(pl.graph.col.size());
  affinity_scratch local;
  affinity_scratch& s = ex.scratch(local);
  const float scale = affinity_scale(dist, f.dim(0));
  if (!pl.paired()) {
    image_affinities(ex.tag, f.data(), f.dim(0), pl.graph.nodes(), pl.pairs, scale, out.weight.data(), s);
    return;
  }
  // Eq. 3 is symmetric: each unordered pair once, written to both of its edges.
  node_rows(ex.tag, f.data(), f.dim(0), pl.graph.nodes(), s);
  const auto pairs = static_cast<index_t>(pl.upper.size());
  backend::for_each_index(ex.tag, pairs,
                          affinity_pair_kernel{s.rows.data(), pl.pairs.from.data(), pl.pairs.to.data(), pl.upper.data(),
                                               pl.reverse.data(), out.weight.data(), f.dim(0), scale, pairs,
                                               pl.graph.nodes(), pl.graph.edges()});
}

}  // namespace detail
}  // namespace wsss::graph
