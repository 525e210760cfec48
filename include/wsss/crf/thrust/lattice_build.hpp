// SPDX-License-Identifier: MIT
// wsss/crf/thrust/lattice_build.hpp — the permutohedral lattice built on a Thrust backend
// (CUDA, or Thrust's OpenMP system): elevation per pixel, vertices by a stable sort of their
// keys, blur neighbours by binary search; no hash table, no atomics, the same lattice on every
// launcher. Needs a configured Thrust (nvcc, or wsss::thrust_omp's THRUST_DEVICE_SYSTEM).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include <thrust/scan.h>
#include <thrust/sort.h>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/crf/detail/elevate.hpp"
#include "wsss/crf/detail/lattice_table.hpp"
#include "wsss/crf/device/lattice.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf::device {

namespace build_detail {

/// Lattice keys: the d coordinates, then the image's index in the batch, so that vertices of
/// different images never meet (and no blur neighbour crosses an image).
template <int W>
using key = wsss::crf::detail::packed_key<W>;

/// Per pixel: elevation, ranks and weights (detail::elevate, the host build's body), then the
/// d + 1 vertex keys and barycentric weights; entry e = p (d + 1) + r.
template <int W>
struct elevate_kernel {
  const float* f;  // D x n features of the batch, image-major pixels
  key<W>* keys;
  float* bary;
  std::int32_t* oob;
  std::int64_t n, per_image;
  int d;
  float down;
  float scale[16];
  WSSS_HD void operator()(std::int64_t p) const {
    float c[16], b[17];
    std::int32_t r0[16], rk[16], bad = 0;
    for (int k = 0; k < d; ++k) c[k] = f[k * n + p] * scale[k];
    wsss::crf::detail::elevate<0>(c, d, down, r0, rk, b, bad);
    oob[p] = bad;
    const int dp1 = d + 1;
    std::int32_t coord[17];
    coord[d] = static_cast<std::int32_t>(p / per_image);
    for (int r = 0; r <= d; ++r) {
      for (int i = 0; i < d; ++i) coord[i] = r0[i] + (rk[i] <= d - r ? r : r - dp1);
      keys[p * dp1 + r] = key<W>::pack(coord, d + 1);
      bary[p * dp1 + r] = b[r];
    }
  }
};

/// order[e] = e.
struct iota_kernel {
  std::int32_t* order;
  WSSS_HD void operator()(std::int64_t e) const { order[e] = static_cast<std::int32_t>(e); }
};

/// Pixels per partial OR of the range flags.
inline constexpr std::int64_t summary_chunk = 4096;

/// partial[c] = the OR of the range flags of pixels [c chunk, (c + 1) chunk).
struct any_partial_kernel {
  const std::int32_t* oob;
  std::int32_t* partial;
  std::int64_t n;
  WSSS_HD void operator()(std::int64_t c) const {
    const std::int64_t end = (c + 1) * summary_chunk < n ? (c + 1) * summary_chunk : n;
    std::int32_t any = 0;
    for (std::int64_t p = c * summary_chunk; p < end; ++p) any |= oob[p];
    partial[c] = any;
  }
};

/// summary[0] = whether any pixel left the keys' range, summary[1] = the vertex count (the last
/// entry's number); the partials follow at summary + 2.
struct summary_kernel {
  std::int32_t* summary;
  const std::int32_t* vid;
  std::int64_t chunks, entries;
  WSSS_HD void operator()(std::int64_t) const {
    std::int32_t any = 0;
    for (std::int64_t c = 0; c < chunks; ++c) any |= summary[2 + c];
    summary[0] = any;
    summary[1] = vid[entries - 1];
  }
};

template <int W>
struct key_less {
  WSSS_HD bool operator()(const key<W>& a, const key<W>& b) const { return a < b; }
};

/// 1 where sorted entry e starts a new vertex.
template <int W>
struct start_kernel {
  const key<W>* keys;
  std::int32_t* flag;
  WSSS_HD void operator()(std::int64_t e) const { flag[e] = e == 0 || !(keys[e] == keys[e - 1]) ? 1 : 0; }
};

/// From the sorted entries (their ids and 1-based vertex numbers): the CSR offsets, each
/// vertex's key, each entry's pixel and each pixel's vertex ids.
template <int W>
struct scatter_kernel {
  const key<W>* keys;
  const std::int32_t* order;  // sorted position -> entry
  const std::int32_t* vid;    // sorted position -> vertex (1-based)
  std::int32_t* off;
  key<W>* ukeys;
  std::int32_t* pix;
  std::int32_t* vert;
  int dp1;
  WSSS_HD void operator()(std::int64_t e) const {
    const std::int32_t v = vid[e];
    if (e == 0 || vid[e - 1] != v) {
      off[v - 1] = static_cast<std::int32_t>(e);
      ukeys[v - 1] = keys[e];
    }
    pix[e] = order[e] / dp1;
    vert[order[e]] = v;
  }
};

/// Blur neighbours, one (vertex, axis) per index: the keys -1 everywhere but +d at axis j (and
/// the reverse), found by binary search among the sorted vertex keys (0 = none).
template <int W>
struct neighbour_kernel {
  const key<W>* ukeys;
  std::int32_t* nb;
  std::int64_t m;
  int d;
  WSSS_HD std::int32_t find(const key<W>& k) const {
    std::int64_t lo = 0, hi = m;
    while (lo < hi) {
      const std::int64_t mid = (lo + hi) / 2;
      if (ukeys[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    return lo < m && ukeys[lo] == k ? static_cast<std::int32_t>(lo + 1) : 0;
  }
  WSSS_HD void operator()(std::int64_t i) const {
    const int dp1 = d + 1;
    const std::int64_t v = i / dp1;
    const int j = static_cast<int>(i - v * dp1);
    std::int32_t c[17], n1[17], n2[17];
    ukeys[v].unpack(c, d + 1);
    wsss::crf::detail::blur_neighbours(c, d, j, n1, n2);
    n1[d] = n2[d] = c[d];  // the image
    nb[2 * i] = find(key<W>::pack(n1, d + 1));
    nb[2 * i + 1] = find(key<W>::pack(n2, d + 1));
  }
};

/// The normalisers from n = K 1 (reference: in double, stored as float) and every weight of
/// the filter and its transpose, one pixel per index (its d + 1 entries).
struct weights_kernel {
  const float* ones;  // n = K 1 per pixel
  const float* bary;  // per entry
  float* slice_w;
  float* slice_wt;
  float* pre;  // per pixel
  float* post;
  float alpha;
  int dp1;
  int mode;  // normalization: 0 symmetric, 1 before, 2 after, 3 none
  WSSS_HD void operator()(std::int64_t p) const {
    const double n = static_cast<double>(ones[p]) + 1e-20;
    const float s = static_cast<float>(mode == 0 ? 1.0 / sqrt(n) : 1.0 / n);
    pre[p] = mode == 0 || mode == 1 ? s : 1.0f;
    post[p] = mode == 0 || mode == 2 ? s : 1.0f;
    for (int r = 0; r < dp1; ++r) {
      slice_w[p * dp1 + r] = bary[p * dp1 + r] * alpha * post[p];
      slice_wt[p * dp1 + r] = bary[p * dp1 + r] * alpha * pre[p];
    }
  }
};

/// The splat entries' weights in sorted order: bary x pre (F) and bary x post (F^T).
struct splat_weights_kernel {
  const std::int32_t* order;
  const std::int32_t* pix;
  const float* bary;
  const float* pre;
  const float* post;
  float* splat_w;
  float* splat_wt;
  WSSS_HD void operator()(std::int64_t e) const {
    splat_w[e] = bary[order[e]] * (pre ? pre[pix[e]] : 1.0f);
    splat_wt[e] = bary[order[e]] * (post ? post[pix[e]] : 1.0f);
  }
};

/// The build's scratch, kept between builds (a stream of images of one size allocates once).
template <class Tag, int W>
struct scratch {
  template <class T>
  using array = backend::device_array<T, Tag>;
  array<float> features, bary, ones, pre, post;
  array<key<W>> keys, ukeys;
  array<std::int32_t> order, vid, oob, summary;
};

}  // namespace build_detail

/// Builds l, for rows of k channels, from features D x n (n = images x per_image pixels,
/// image-major) on a Thrust backend: what crf::permutohedral builds for each image, laid side
/// by side as flat_lattice lays them (vertex numbering aside, which changes no sum), with the
/// normalisation's weights and F^T's. One upload (the features).
template <class Tag, int W>
void build_lattice(const Tag& tag, lattice<Tag>& l, build_detail::scratch<Tag, W>& s, const tensor& features,
                   index_t per_image, index_t k, normalization norm) {
  using namespace build_detail;
  constexpr std::string_view comp = "crf::device::build_lattice";
  const int d = static_cast<int>(features.dim(0)), dp1 = d + 1;
  const index_t n = features.dim(1), entries = n * dp1;
  if (d < 1 || d + 1 > 4 * W) throw_shape(comp, "feature dimension ", d, " does not fit ", W, "-word keys");
  if (entries > std::numeric_limits<std::int32_t>::max() || n / per_image > 32767)
    throw_shape(comp, "the batch is too large for 32-bit lattice indices (", n, " pixels); split it");
  auto policy = backend::thrust_system<Tag>::policy(tag);
  const std::vector<float> scale = wsss::crf::detail::lattice_scales(d);
  wsss::crf::detail::check_key_range(features, scale);
  backend::upload(tag, features.span(), s.features);
  backend::resize(tag, s.bary, entries);
  backend::resize(tag, s.keys, entries);
  backend::resize(tag, s.order, entries);
  backend::resize(tag, s.vid, entries);
  backend::resize(tag, s.oob, n);
  // Pass 1: elevation (the host build's scale factors and constants).
  elevate_kernel<W> ek{s.features.data(), s.keys.data(), s.bary.data(), s.oob.data(), n, per_image, d,
                       1.0f / static_cast<float>(dp1), {}};
  for (int i = 0; i < d; ++i) ek.scale[i] = scale[static_cast<std::size_t>(i)];
  backend::for_each_index(tag, n, ek);
  // Pass 2: vertices = distinct keys, by a stable sort (equal keys keep pixel order, which is
  // the splat's sum order) and a scan of the starts.
  backend::for_each_index(tag, entries, iota_kernel{s.order.data()});
  thrust::stable_sort_by_key(policy, s.keys.data(), s.keys.data() + entries, s.order.data(), key_less<W>{});
  backend::for_each_index(tag, entries, start_kernel<W>{s.keys.data(), s.vid.data()});
  thrust::inclusive_scan(policy, s.vid.data(), s.vid.data() + entries, s.vid.data());
  // Whether a pixel left the keys' range, and the vertex count: one download.
  const index_t chunks = (n + summary_chunk - 1) / summary_chunk;
  backend::resize(tag, s.summary, chunks + 2);
  backend::for_each_index(tag, chunks, any_partial_kernel{s.oob.data(), s.summary.data() + 2, n});
  backend::for_each_index(tag, 1, summary_kernel{s.summary.data(), s.vid.data(), chunks, entries});
  std::int32_t summary[2] = {0, 0};
  backend::download(tag, s.summary, std::span<std::int32_t>(summary, 2));
  if (summary[0] != 0)
    throw_value("crf::permutohedral", "features span more than the lattice's int16 keys allow; divide them by a larger standard deviation");
  const std::int32_t m = summary[1];
  l.dp1 = dp1;
  l.n = n;
  l.m = m;
  l.k = 1;
  backend::resize(tag, l.off, m + 1);
  backend::resize(tag, s.ukeys, m);
  backend::resize(tag, l.pix, entries);
  backend::resize(tag, l.vert, entries);
  backend::fill(tag, l.off, static_cast<std::int32_t>(entries));  // off[m] = E; the rest is scattered
  backend::for_each_index(tag, entries,
                          scatter_kernel<W>{s.keys.data(), s.order.data(), s.vid.data(), l.off.data(), s.ukeys.data(),
                                            l.pix.data(), l.vert.data(), dp1});
  backend::resize(tag, l.nb, static_cast<index_t>(m) * dp1 * 2);
  backend::for_each_index(tag, static_cast<index_t>(m) * dp1, neighbour_kernel<W>{s.ukeys.data(), l.nb.data(), m, d});
  // The normaliser n = K 1: the unnormalised filter of ones (one channel).
  const float alpha = wsss::crf::detail::lattice_alpha(d);
  for (auto* a : {&l.splat_w, &l.splat_wt, &l.slice_w, &l.slice_wt}) backend::resize(tag, *a, entries);
  backend::for_each_index(tag, entries, splat_weights_kernel{s.order.data(), l.pix.data(), s.bary.data(), nullptr, nullptr,
                                                             l.splat_w.data(), l.splat_wt.data()});
  for (auto* a : {&s.ones, &s.pre, &s.post}) backend::resize(tag, *a, n);
  backend::fill(tag, s.ones, 1.0f);
  for (auto& v : l.val) {
    backend::resize(tag, v, m + 1);
    backend::fill(tag, v, 0.0f);
  }
  backend::for_each_index(tag, n, weights_kernel{s.ones.data(), s.bary.data(), l.slice_w.data(), l.slice_wt.data(),
                                                 s.pre.data(), s.post.data(), alpha, dp1, 3});
  steps<Tag>::slice(tag, l, l.slice_w, l.filter(tag, s.ones), 1.0f, s.ones);
  // The normalisation's weights, then the buffers for k channels.
  backend::for_each_index(tag, n, weights_kernel{s.ones.data(), s.bary.data(), l.slice_w.data(), l.slice_wt.data(),
                                                 s.pre.data(), s.post.data(), alpha, dp1, static_cast<int>(norm)});
  backend::for_each_index(tag, entries, splat_weights_kernel{s.order.data(), l.pix.data(), s.bary.data(), s.pre.data(),
                                                             s.post.data(), l.splat_w.data(), l.splat_wt.data()});
  l.transposed = true;
  l.k = k;
  for (auto& v : l.val) {
    backend::resize(tag, v, (m + 1) * k);
    backend::fill(tag, v, 0.0f);
  }
}

}  // namespace wsss::crf::device
