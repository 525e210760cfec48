// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/gemm.hpp — the three convolution products of a batch (forward, data
// and weight gradients) as im2col + GEMM (detail/sgemm.hpp) over cache-sized blocks (1x1
// convolutions skip the lowering), one parallel loop each, or Winograd F(4x4, 3x3)
// (detail/winograd.hpp) for 3x3 stride-1 kernels where it wins; layers with few lowered rows
// take the direct kernels (detail/conv_direct.hpp: the data gradient up to 288 rows, the weight
// gradient up to 144, and the forward, which conv2d_forward calls itself since it writes the
// bias too). Conv and deconv use these.
#pragma once

#include <algorithm>

#include <vector>

#include "wsss/autodiff/ops/detail/conv_direct.hpp"
#include "wsss/autodiff/ops/detail/conv_regions.hpp"
#include "wsss/autodiff/ops/detail/im2col.hpp"
#include "wsss/autodiff/ops/detail/sgemm.hpp"
#include "wsss/autodiff/ops/detail/winograd.hpp"
#include "wsss/backend/for_each_index.hpp"  // backend::max_threads

namespace wsss::ad::detail {

/// Floats of one lowered block. About 4 MiB keeps the block in cache while the GEMM streams it,
/// instead of writing the whole unfolded image (237 MiB for VGG16 conv1_2 at 321x321) to memory
/// and reading it back.
inline constexpr index_t conv_chunk_floats = index_t{1} << 20;

/// Work units per thread for the dynamic schedule: enough that a thread slowed by another
/// process does not hold the others back, few enough that each GEMM stays large.
inline constexpr index_t conv_units_per_thread = 4;

/// Fewest lowered rows per unit for splitting a weight gradient by rows (a thinner gw block
/// makes a GEMM too narrow to run at speed).
inline constexpr index_t conv_min_rows_per_unit = 64;

/// Below this many multiply-adds a convolution runs on the calling thread only.
inline constexpr double conv_parallel_macs = 2e6;

inline index_t conv_threads(double macs) {
  return macs < conv_parallel_macs ? 1 : std::max<index_t>(1, backend::max_threads());
}

/// Columns per lowered block of `rows` rows: at most conv_chunk_floats floats and at most
/// cols / (units * threads) columns, at least 128, a multiple of 16, never more than cols.
inline index_t conv_chunk_cols(index_t rows, index_t cols, index_t total_cols, index_t threads) {
  index_t c = conv_chunk_floats / std::max<index_t>(rows, 1);
  c = std::min(c, (total_cols + conv_units_per_thread * threads - 1) / (conv_units_per_thread * threads));
  c = std::max<index_t>(128, (c + 15) / 16 * 16);
  return std::min(c, cols);
}

/// Fewest columns per forward unit: each unit's GEMM repacks the whole weight matrix, so a unit
/// must do at least 2 x 512 flops per weight it packs (fc6's 1024 x 9216 weights are 38 MB).
inline constexpr index_t conv_min_unit_cols = 512;

/// Columns per forward unit: cache-sized (conv_chunk_floats) but at least conv_min_unit_cols,
/// and, when there are few units, spread so that every thread gets the same number.
inline index_t conv_forward_cols(index_t rows, index_t cols, index_t batch, index_t threads) {
  const index_t want = std::max(conv_chunk_floats / std::max<index_t>(rows, 1), conv_min_unit_cols);
  index_t units = (cols * batch + want - 1) / want;
  if (units < conv_units_per_thread * threads) units = (units + threads - 1) / threads * threads;
  const index_t per_img = std::max<index_t>(1, (units + batch - 1) / batch);
  const index_t pc = ((cols + per_img - 1) / per_img + 15) / 16 * 16;
  return std::min(pc, cols);
}

/// The padding-free regions of g when they skip enough of the lowering to be worth it (else empty).
inline std::vector<conv_region> conv_useful_regions(const conv_geometry& g) {
  if (g.is_pointwise()) return {};
  std::vector<conv_region> regions = conv_regions(g);
  if (conv_region_savings(g, regions) < conv_region_min_savings) return {};
  return regions;
}

/// Whether the direct kernels should compute g (conv2d's forward, the weight gradient, and with
/// direct_data_geometry the data gradient): they can (direct_applies), no algorithm is forced
/// (tests force im2col or Winograd), and the padding-free regions would not skip much of the
/// lowering (a large dilation on a small map runs its regions instead). The first layers' 32
/// rows or fewer always take them.
inline bool conv_direct(const conv_geometry& g) {
  if (!direct_applies(g)) return false;
  if (g.rows() <= 32) return true;
  return conv_algorithm_override() == conv_algorithm::automatic && conv_useful_regions(g).empty();
}

/// conv_forward over the padding-free regions (conv_regions.hpp): units are (image, region,
/// column block), largest first, each multiplied into its thread's workspace and scattered into y.
inline void conv_forward_regions(const conv_geometry& g, const std::vector<conv_region>& regions, const float* w,
                                 index_t o, const float* x, index_t batch, float* y, index_t threads) {
  struct unit {
    index_t i, reg, q0, n, work;
  };
  const index_t p = g.cols(), img = g.c * g.image_size();
  index_t chunk = (p * batch + conv_units_per_thread * threads - 1) / (conv_units_per_thread * threads);
  chunk = std::max(conv_min_unit_cols, (chunk + 15) / 16 * 16);
  std::vector<unit> units;
  for (index_t i = 0; i < batch; ++i)
    for (std::size_t k = 0; k < regions.size(); ++k)
      for (index_t q0 = 0; q0 < regions[k].cols(); q0 += chunk) {
        const index_t n = std::min(chunk, regions[k].cols() - q0);
        units.push_back({i, static_cast<index_t>(k), q0, n, n * regions[k].taps()});
      }
  std::stable_sort(units.begin(), units.end(), [](const unit& a, const unit& b) { return a.work > b.work; });
  const std::int64_t count = static_cast<std::int64_t>(units.size());
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1)
  for (std::int64_t k = 0; k < count; ++k) {
    const unit& u = units[static_cast<std::size_t>(k)];
    conv_region_forward(g, regions[static_cast<std::size_t>(u.reg)], w, o, x + u.i * img, u.q0, u.n,
                        y + u.i * o * p, conv_workspace(o * u.n, 0));
  }
}

/// Below this many values a per-channel pass runs on the calling thread: a parallel region
/// costs more than it saves, and far more when the cores are shared.
inline constexpr index_t channel_pass_parallel_values = index_t{1} << 17;

/// Adds b[k] to every value of channel k of an n x c x (hw) tensor.
inline void add_channel_bias(float* y, const float* b, index_t n, index_t c, index_t hw) {
  const std::int64_t rows = n * c;
#pragma omp parallel for schedule(static) if (rows * hw >= channel_pass_parallel_values)
  for (std::int64_t nc = 0; nc < rows; ++nc) {
    const float v = b[nc % c];
    float* row = y + nc * hw;
    for (index_t k = 0; k < hw; ++k) row[k] += v;
  }
}

/// y[i] (o x cols) += w (o x rows) * lower(x[i]) (+ bias per row, if given) for the `batch`
/// images of x; with accumulate false, y = instead and y need not be initialised. Units are
/// column blocks, each lowered into its thread's workspace, multiplied independently and given
/// its bias there (a pass over y after the product read on one core what the other wrote);
/// Winograd's output transforms likewise write each output once with its bias (wino_out).
/// When a large part of the lowering is padding (dilated convolutions on small maps), the
/// product runs over the regions that skip it instead.
inline void conv_forward(const conv_geometry& g, const float* w, index_t o, const float* x, index_t batch, float* y,
                         const float* bias = nullptr, bool accumulate = true) {
  const index_t r = g.rows(), p = g.cols(), img = g.c * g.image_size();
  if (wino_applies(g)) {
    if (const wino_plan wp = wino_forward_plan(g, o); wino_use(g, wp, wino_product::forward, batch))
      return wino_conv_forward(wp, w, x, batch, y, {bias, !accumulate});
  }
  const index_t threads = conv_threads(static_cast<double>(o) * r * p * batch);
  if (const auto regions = conv_useful_regions(g); !regions.empty()) {  // adds into y, then the bias
    if (!accumulate) std::fill_n(y, batch * o * p, 0.0f);
    conv_forward_regions(g, regions, w, o, x, batch, y, threads);
    if (bias) add_channel_bias(y, bias, batch, o, p);
    return;
  }
  const index_t pc = conv_forward_cols(r, p, batch, threads);
  const index_t per_img = (p + pc - 1) / pc;
  const std::int64_t units = batch * per_img;
  // Dynamic schedule: a unit is a whole GEMM, and a core shared with another process must not
  // stall the team (static halves ran up to 3x slower under load on our 2-core machine).
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1)
  for (std::int64_t u = 0; u < units; ++u) {
    const index_t i = u / per_img, p0 = (u % per_img) * pc, n = std::min(pc, p - p0);
    float* yi = y + i * o * p + p0;
    if (g.is_pointwise()) {
      sgemm(o, n, r, {w, r, 1}, {x + i * img + p0, p, 1}, yi, p, accumulate);
    } else {
      sgemm_lowered(o, n, {w, r, 1}, g, x + i * img, p0, yi, p, accumulate);
    }
    if (bias)
      for (index_t k = 0; k < o; ++k)
        for (index_t j = 0; j < n; ++j) yi[k * p + j] += bias[k];
  }
}

/// The data and weight gradients over the regions: units are channel groups (a group's rows of
/// every region scatter into its channels of gx only, and fill its columns of gw only).
inline void conv_backward_regions(const conv_geometry& g, const std::vector<conv_region>& regions, const float* w,
                                  const float* x, index_t o, const float* gy, index_t batch, float* gx, float* gw,
                                  index_t threads) {
  const index_t p = g.cols(), img = g.c * g.image_size();
  const index_t units = std::min<index_t>(g.c, conv_units_per_thread * threads);
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1)
  for (std::int64_t u = 0; u < units; ++u) {
    const index_t c0 = g.c * u / units, c1 = g.c * (u + 1) / units;
    if (c1 == c0) continue;
    for (index_t i = 0; i < batch; ++i)
      for (const conv_region& reg : regions) {
        const index_t m = (c1 - c0) * reg.taps(), q = reg.cols();
        if (gw) conv_region_backward_weight(g, reg, gy + i * o * p, o, x + i * img, c0, c1, 0, q, gw, conv_workspace(o * m, 0));
        if (!gx) continue;
        const index_t chunk = std::max<index_t>(128, conv_chunk_floats / m);
        for (index_t q0 = 0; q0 < q; q0 += chunk) {
          const index_t n = std::min(chunk, q - q0);
          conv_region_backward_data(g, reg, w, o, gy + i * o * p, c0, c1, q0, n, gx + i * img, conv_workspace(m * n, 0));
        }
      }
  }
}

/// gx[i] += lower^T(w^T * gy[i]) with w (o x rows), gy[i] (o x cols). Units are channel groups:
/// a channel's lowered rows all scatter into that channel only, so units never write the same
/// pixel.
inline void conv_backward_data(const conv_geometry& g, const float* w, index_t o, const float* gy, index_t batch, float* gx) {
  if (wino_applies(g)) {
    if (const wino_plan wp = wino_data_plan(g, o); wino_use(g, wp, wino_product::data, batch)) return wino_conv_backward_data(wp, w, gy, batch, gx);
  }
  if (const conv_geometry dg = direct_data_geometry(g, o); dg.c > 0 && conv_direct(dg))
    return direct_conv_backward_data(g, dg, w, o, gy, batch, gx);
  const index_t r = g.rows(), p = g.cols(), img = g.c * g.image_size(), kk = g.kh * g.kw;
  const index_t threads = conv_threads(static_cast<double>(o) * r * p * batch);
  if (const auto regions = conv_useful_regions(g); !regions.empty()) {
    conv_backward_regions(g, regions, w, nullptr, o, gy, batch, gx, nullptr, threads);
    return;
  }
  // A 1x1 layer's units each pack all of gy: one unit per thread (8 packed gy 8 times, and the
  // 1024 -> 1024 layer at 41 x 41 took 46 ms for both gradients instead of 43, AMD EPYC).
  const index_t units = std::min<index_t>(g.c, (g.is_pointwise() ? 1 : conv_units_per_thread) * threads);
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1)
  for (std::int64_t u = 0; u < units; ++u) {
    const index_t c0 = g.c * u / units, c1 = g.c * (u + 1) / units, r0 = c0 * kk, rt = (c1 - c0) * kk;
    if (rt == 0) continue;
    const mat_ref wt{w + r0, 1, r};  // (w's columns r0 .. r0 + rt)^T
    if (g.is_pointwise()) {
      for (index_t i = 0; i < batch; ++i)
        sgemm(rt, p, o, wt, {gy + i * o * p, p, 1}, gx + i * img + r0 * p, p, true);
      continue;
    }
    const index_t pc = conv_chunk_cols(rt, p, p, 1);
    float* col = conv_workspace(rt * pc);
    for (index_t i = 0; i < batch; ++i)
      for (index_t p0 = 0; p0 < p; p0 += pc) {
        const index_t n = std::min(pc, p - p0);
        sgemm(rt, n, o, wt, {gy + i * o * p + p0, p, 1}, col, n, false);
        col2im_add(g, col, gx + i * img, c0, c1, p0, p0 + n);
      }
  }
}

/// gw (o x rows) += sum_i gy[i] (o x cols) * lower(x[i])^T. With enough lowered rows, units are
/// row groups, i.e. column blocks of gw: each lowers only its own rows and owns its block of gw,
/// so nothing is reduced across threads. With few rows (the first layer: 27) those blocks would
/// be too thin for an efficient GEMM, so units are column blocks of the lowering instead, each
/// summing into its own copy of gw by long-k dot products (no packing), and the copies are added
/// at the end.
inline void conv_backward_weight(const conv_geometry& g, const float* x, const float* gy, index_t batch, index_t o, float* gw) {
  if (conv_direct(g) && g.rows() <= direct_max_weight_rows) return direct_conv_backward_weight(g, x, gy, batch, o, gw);
  if (wino_applies(g)) {
    if (const wino_plan wp = wino_forward_plan(g, o); wino_use(g, wp, wino_product::weight, batch)) return wino_conv_backward_weight(wp, x, gy, batch, gw);
  }
  const index_t r = g.rows(), p = g.cols(), img = g.c * g.image_size();
  const index_t threads = conv_threads(static_cast<double>(o) * r * p * batch);
  if (const auto regions = conv_useful_regions(g); !regions.empty()) {
    conv_backward_regions(g, regions, nullptr, x, o, gy, batch, nullptr, gw, threads);
    return;
  }
  const index_t units = (g.is_pointwise() ? 1 : conv_units_per_thread) * threads;  // as in conv_backward_data
  if (threads > 1 && r < conv_min_rows_per_unit * units) {
    const index_t pc = g.is_pointwise() ? std::min(p, std::max<index_t>(128, (p * batch + units - 1) / units))
                                        : conv_chunk_cols(r, p, p * batch, threads);
    const index_t per_img = (p + pc - 1) / pc;
    const std::int64_t blocks = batch * per_img;
    const index_t slots = std::min<index_t>(blocks, units);
    float* partial = conv_workspace(slots * o * r, 1);
    std::fill(partial, partial + slots * o * r, 0.0f);
#pragma omp parallel for schedule(static, 1)
    for (std::int64_t s = 0; s < slots; ++s)
      for (std::int64_t b = s; b < blocks; b += slots) {
        const index_t i = b / per_img, p0 = (b % per_img) * pc, n = std::min(pc, p - p0);
        const float* gyb = gy + i * o * p + p0;
        if (g.is_pointwise()) {
          sgemm_nt_long_k(o, r, n, gyb, p, x + i * img + p0, p, partial + s * o * r, r);
        } else {
          float* col = conv_workspace(r * pc, 0);
          im2col(g, x + i * img, col, 0, r, p0, p0 + n);
          sgemm_nt_long_k(o, r, n, gyb, p, col, n, partial + s * o * r, r);
        }
      }
    for (index_t s = 0; s < slots; ++s)
      for (index_t k = 0; k < o * r; ++k) gw[k] += partial[s * o * r + k];
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1)
  for (std::int64_t u = 0; u < units; ++u) {
    const index_t r0 = r * u / units, rt = r * (u + 1) / units - r0;
    if (rt == 0) continue;
    if (g.is_pointwise()) {
      for (index_t i = 0; i < batch; ++i)
        sgemm(o, rt, p, {gy + i * o * p, p, 1}, {x + i * img + r0 * p, 1, p}, gw + r0, r, true);
      continue;
    }
    const index_t pc = conv_chunk_cols(rt, p, p, 1);
    for (index_t i = 0; i < batch; ++i)
      for (index_t p0 = 0; p0 < p; p0 += pc) {
        const index_t n = std::min(pc, p - p0);
        sgemm_lowered_t(o, rt, n, {gy + i * o * p + p0, p, 1}, g, x + i * img, r0, p0, gw + r0, r, true);
      }
  }
}

/// gb[k] += sum of channel k of an n x c x (hw) tensor, summed in double over 8 independent
/// lanes (one chain of dependent adds ran at a fifth of the speed: 15% of the first layer's step).
inline void sum_channel_grad(const float* gy, float* gb, index_t n, index_t c, index_t hw) {
#pragma omp parallel for schedule(static) if (n * c * hw >= channel_pass_parallel_values)
  for (std::int64_t k = 0; k < c; ++k) {
    double s[8] = {};
    for (index_t i = 0; i < n; ++i) {
      const float* row = gy + (i * c + k) * hw;
      index_t q = 0;
      for (; q + 8 <= hw; q += 8)
        for (int e = 0; e < 8; ++e) s[e] += row[q + e];
      for (; q < hw; ++q) s[q % 8] += row[q];
    }
    gb[k] += static_cast<float>(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
  }
}

}  // namespace wsss::ad::detail
