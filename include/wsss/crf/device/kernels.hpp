// SPDX-License-Identifier: MIT
// wsss/crf/device/kernels.hpp — the dense CRF's device kernels: lattice splat, blur and slice
// and the mean-field steps, each one WSSS_HD IndexKernel that nvcc runs on the GPU and
// Thrust's OpenMP system (or any host launcher) runs on the CPU
#pragma once

#include <cstdint>

#include "wsss/core/config.hpp"
#include "wsss/core/math.hpp"

namespace wsss::crf::device {

/// Labels a clamp map leaves free (core/label_map.hpp's ignore_label, without the include).
inline constexpr std::uint8_t free_pixel = 255;

/// Softmax of x[0, k) in place (the CPU's softmax_row: the max subtracted, the same exp).
WSSS_HD inline void softmax_inplace(float* x, std::int64_t k) {
  float mx = x[0];
  for (std::int64_t c = 1; c < k; ++c) mx = x[c] > mx ? x[c] : mx;
  float s = 0;
  for (std::int64_t c = 0; c < k; ++c) {
    x[c] = wsss::detail::exp_nonpositive(x[c] - mx);
    s += x[c];
  }
  for (std::int64_t c = 0; c < k; ++c) x[c] /= s;
}

/// Splat as a gather, one (vertex, channel) per index: val[v + 1][c] = Σ_e w[e] q[pix[e]][c]
/// over the vertex's entries e in [off[v], off[v + 1]) (pixel order). Each output has one
/// writer, so no atomics, and the sum order is fixed: the same bits on every launcher.
struct splat_kernel {
  const std::int32_t* off;  // M + 1
  const std::int32_t* pix;  // entries' pixels
  const float* w;           // entries' weights: barycentric weight x input normaliser
  const float* q;           // N x k
  float* val;               // (M + 1) x k; row 0 (the missing neighbour) is never written
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t v = i / k, c = i - v * k;
    float acc = 0;
    for (std::int32_t e = off[v]; e < off[v + 1]; ++e) acc += w[e] * q[pix[e] * k + c];
    val[(v + 1) * k + c] = acc;
  }
};

/// One blur pass along axis j, one (vertex, channel) per index:
/// dst[v] = src[v] + (src[n1] + src[n2]) / 2, the neighbours from nb (M x (d + 1) x 2, 0 = none).
struct blur_kernel {
  const std::int32_t* nb;
  const float* src;
  float* dst;
  std::int64_t k;
  int dp1, j;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t v = i / k, c = i - v * k;
    const std::int32_t* n = nb + (v * dp1 + j) * 2;
    dst[(v + 1) * k + c] = src[(v + 1) * k + c] + 0.5f * (src[n[0] * k + c] + src[n[1] * k + c]);
  }
};

/// One lattice as the slice reads it: pixel p's d + 1 vertices and weights (barycentric x
/// alpha x output normaliser), the blurred rows, and the kernel's weight.
struct slice_view {
  const std::int32_t* vert;  // N x dp1
  const float* w;            // N x dp1
  const float* val;          // (M + 1) x k
  int dp1;
  float weight;
  /// weight · (F q)[p][c].
  WSSS_HD float at(std::int64_t p, std::int64_t c, std::int64_t k) const {
    float acc = 0;
    for (int r = 0; r < dp1; ++r) acc += w[p * dp1 + r] * val[vert[p * dp1 + r] * k + c];
    return weight * acc;
  }
};

/// Filter output, one (pixel, channel) per index: out[p][c] = weight · (F q)[p][c].
struct slice_kernel {
  slice_view f;
  float* out;
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t p = i / k, c = i - p * k;
    out[i] = f.at(p, c, k);
  }
};

/// Mean field's start, one pixel per index: -U to pixel-major rows (the unaries are
/// B x K x H x W, `n` pixels per image) and Q0 = softmax(-U), one-hot where clamped.
struct init_kernel {
  const float* unary;
  const std::uint8_t* clamp;  // N, or null
  float* negu;                // N x k
  float* q;                   // N x k
  std::int64_t n, k;
  WSSS_HD void operator()(std::int64_t p) const {
    const std::int64_t img = p / n, l = p - img * n;
    float* qp = q + p * k;
    for (std::int64_t c = 0; c < k; ++c) qp[c] = negu[p * k + c] = -unary[(img * k + c) * n + l];
    if (clamp && clamp[p] != free_pixel) {
      for (std::int64_t c = 0; c < k; ++c) qp[c] = c == clamp[p] ? 1.0f : 0.0f;
      return;
    }
    softmax_inplace(qp, k);
  }
};

/// One parallel Potts update, one pixel per index, after both lattices were splatted and
/// blurred from the previous Q: q[p] = softmax(-U[p] + w_s F_s Q[p] + w_a F_a Q[p]) (the
/// reference's order of sums); clamped pixels keep their one-hot row. Q is overwritten in
/// place: the blurred rows already hold everything the update reads of it.
struct update_kernel {
  const float* negu;
  const std::uint8_t* clamp;
  slice_view s, a;
  float* q;
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t p) const {
    if (clamp && clamp[p] != free_pixel) return;
    float* qp = q + p * k;
    for (std::int64_t c = 0; c < k; ++c) {
      float row = negu[p * k + c];
      row += s.at(p, c, k);
      row += a.at(p, c, k);
      qp[c] = row;
    }
    softmax_inplace(qp, k);
  }
};

/// The update with a learned compatibility mu (K x K, CRF-RNN), one pixel per index:
/// m = w_s F_s Q + w_a F_a Q (written to msg: the backward pass reads it), a = -U - mu m (the
/// host's learned::subtract, same order of sums), q = softmax(a); clamped pixels keep their row.
struct compat_update_kernel {
  const float* negu;
  const std::uint8_t* clamp;
  slice_view s, a;
  const float* mu;
  float* msg;
  float* q;
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t p) const {
    float* mp = msg + p * k;
    for (std::int64_t c = 0; c < k; ++c) {
      float m = 0;
      m += s.at(p, c, k);
      m += a.at(p, c, k);
      mp[c] = m;
    }
    if (clamp && clamp[p] != free_pixel) return;
    float* qp = q + p * k;
    for (std::int64_t l = 0; l < k; ++l) {
      float dot = 0;
      for (std::int64_t j = 0; j < k; ++j) dot += mu[l * k + j] * mp[j];
      qp[l] = negu[p * k + l] - dot;
    }
    softmax_inplace(qp, k);
  }
};

/// g_m = -mu^T g_a, one pixel per index (a = -U - mu m).
struct compat_backward_kernel {
  const float* mu;
  const float* ga;
  float* gm;
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t p) const {
    for (std::int64_t j = 0; j < k; ++j) {
      float acc = 0;
      for (std::int64_t l = 0; l < k; ++l) acc += mu[l * k + j] * ga[p * k + l];
      gm[p * k + j] = -acc;
    }
  }
};

/// Pixels per partial sum of g_mu (a fixed split: the same bits on every launcher).
inline constexpr std::int64_t compat_chunk = 4096;

/// Partial sums of g_mu = -Σ_p g_a[p] m[p]^T over chunks of compat_chunk pixels, one
/// (chunk, l, j) per index.
struct compat_grad_partial_kernel {
  const float* ga;
  const float* msg;
  double* partial;  // chunks x k x k
  std::int64_t pixels, k;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t kk = k * k, chunk = i / kk, e = i - chunk * kk, l = e / k, j = e - l * k;
    const std::int64_t end = (chunk + 1) * compat_chunk < pixels ? (chunk + 1) * compat_chunk : pixels;
    double acc = 0;
    for (std::int64_t p = chunk * compat_chunk; p < end; ++p) acc += static_cast<double>(ga[p * k + l]) * msg[p * k + j];
    partial[i] = -acc;
  }
};

/// total[e] += the partials of entry e in chunk order (partial: chunks x width), one entry per
/// index: the totals of compat_grad_partial_kernel (width k k) and dot2_partial_kernel (width 2).
struct chunk_total_kernel {
  const double* partial;
  double* total;
  std::int64_t chunks, width;
  WSSS_HD void operator()(std::int64_t e) const {
    double acc = 0;
    for (std::int64_t c = 0; c < chunks; ++c) acc += partial[c * width + e];
    total[e] += acc;
  }
};

/// Q to the caller's layout, one output element per index: out (B x K x H x W) from the
/// pixel-major rows.
struct output_kernel {
  const float* q;
  float* out;
  std::int64_t n, k;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t l = i % n, c = (i / n) % k, img = i / (n * k);
    out[i] = q[(img * n + l) * k + c];
  }
};

/// The inverse of output_kernel, one element per index: rows (N x k) from the caller's layout
/// (B x K x H x W).
struct input_kernel {
  const float* in;
  float* rows;
  std::int64_t n, k;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t p = i / k, c = i - p * k, img = p / n, l = p - img * n;
    rows[i] = in[(img * k + c) * n + l];
  }
};

/// dst[i] = src[i] (a device-side copy of rows).
struct copy_kernel {
  const float* src;
  float* dst;
  WSSS_HD void operator()(std::int64_t i) const { dst[i] = src[i]; }
};

/// The softmax's backward and the unaries' gradient, one pixel per index:
/// g_a = Q ⊙ (g_Q - <Q, g_Q>) (zero where clamped: a fixed pixel passes no gradient), and
/// g_U -= g_a (U enters a = -U + ...).
struct softmax_backward_kernel {
  const float* q;
  const float* gq;
  const std::uint8_t* clamp;
  float* ga;
  float* gu;
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t p) const {
    const float* qp = q + p * k;
    const float* gp = gq + p * k;
    float* o = ga + p * k;
    if (clamp && clamp[p] != free_pixel) {
      for (std::int64_t c = 0; c < k; ++c) o[c] = 0.0f;
      return;
    }
    double dot = 0;
    for (std::int64_t c = 0; c < k; ++c) dot += static_cast<double>(qp[c]) * gp[c];
    for (std::int64_t c = 0; c < k; ++c) {
      o[c] = qp[c] * static_cast<float>(gp[c] - dot);
      gu[p * k + c] -= o[c];
    }
  }
};

/// g_Q = w_s r_s + w_a r_a, one element per index.
struct combine_kernel {
  const float* rs;
  const float* ra;
  float ws, wa;
  float* gq;
  WSSS_HD void operator()(std::int64_t i) const { gq[i] = ws * rs[i] + wa * ra[i]; }
};

/// Elements per partial sum of dot2 (a fixed split: the same bits on every launcher).
inline constexpr std::int64_t dot_chunk = 4096;

/// Partial sums of <r_s, q> and <r_a, q> over chunks of dot_chunk elements, one chunk per
/// index (partial[2 chunk], partial[2 chunk + 1]).
struct dot2_partial_kernel {
  const float* rs;
  const float* ra;
  const float* q;
  double* partial;
  std::int64_t size;
  WSSS_HD void operator()(std::int64_t chunk) const {
    const std::int64_t end = (chunk + 1) * dot_chunk < size ? (chunk + 1) * dot_chunk : size;
    double s = 0, a = 0;
    for (std::int64_t e = chunk * dot_chunk; e < end; ++e) {
      s += static_cast<double>(rs[e]) * q[e];
      a += static_cast<double>(ra[e]) * q[e];
    }
    partial[2 * chunk] = s;
    partial[2 * chunk + 1] = a;
  }
};

/// The label of each pixel: the first maximum of its row of Q.
struct argmax_kernel {
  const float* q;
  std::uint8_t* labels;
  std::int64_t k;
  WSSS_HD void operator()(std::int64_t p) const {
    const float* qp = q + p * k;
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < k; ++c)
      if (qp[c] > qp[best]) best = c;
    labels[p] = static_cast<std::uint8_t>(best);
  }
};

}  // namespace wsss::crf::device
