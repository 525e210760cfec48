// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/gemm.hpp — the three convolution products on one image, as im2col +
// Eigen GEMM over column chunks (1x1 convolutions skip the lowering): forward, data and weight
// gradients. Convolution and deconvolution are both written with these three.
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "wsss/autodiff/ops/detail/im2col.hpp"

namespace wsss::ad::detail {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_strided = Eigen::Map<const row_matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using strided = Eigen::Map<row_matrix, Eigen::Unaligned, Eigen::OuterStride<>>;

/// Floats of lowered columns unfolded at a time. A chunk of about 4 MiB keeps the lowered block
/// in the last-level cache while the GEMM streams it, instead of writing the whole unfolded
/// image (237 MiB for VGG16 conv1_2 at 321x321) to memory and reading it back.
inline constexpr index_t conv_chunk_floats = index_t{1} << 20;

/// Columns per chunk for a lowering with `rows` rows over `cols` columns (multiple of 16).
inline index_t conv_chunk_cols(index_t rows, index_t cols) {
  const index_t c = std::max<index_t>(256, (conv_chunk_floats / std::max<index_t>(rows, 1)) / 16 * 16);
  return std::min(c, cols);
}

/// y (o x cols) += w (o x rows) * lower(img).
inline void conv_forward_image(const conv_geometry& g, const float* w, index_t o, const float* img, float* y) {
  const index_t r = g.rows(), p = g.cols();
  const const_strided wm(w, o, r, Eigen::OuterStride<>(r));
  if (g.is_pointwise()) {
    strided(y, o, p, Eigen::OuterStride<>(p)).noalias() += wm * const_strided(img, r, p, Eigen::OuterStride<>(p));
    return;
  }
  const index_t pc = conv_chunk_cols(r, p);
  float* col = conv_workspace(r * pc);
  for (index_t p0 = 0; p0 < p; p0 += pc) {
    const index_t n = std::min(pc, p - p0);
    im2col(g, img, col, p0, p0 + n);
    strided(y + p0, o, n, Eigen::OuterStride<>(p)).noalias() += wm * const_strided(col, r, n, Eigen::OuterStride<>(n));
  }
}

/// gimg += lower^T(w^T * gy), with w (o x rows) and gy (o x cols).
inline void conv_backward_data_image(const conv_geometry& g, const float* w, index_t o, const float* gy, float* gimg) {
  const index_t r = g.rows(), p = g.cols();
  const const_strided wm(w, o, r, Eigen::OuterStride<>(r));
  if (g.is_pointwise()) {
    strided(gimg, r, p, Eigen::OuterStride<>(p)).noalias() += wm.transpose() * const_strided(gy, o, p, Eigen::OuterStride<>(p));
    return;
  }
  const index_t pc = conv_chunk_cols(r, p);
  float* col = conv_workspace(r * pc);
  for (index_t p0 = 0; p0 < p; p0 += pc) {
    const index_t n = std::min(pc, p - p0);
    strided(col, r, n, Eigen::OuterStride<>(n)).noalias() = wm.transpose() * const_strided(gy + p0, o, n, Eigen::OuterStride<>(p));
    col2im_add(g, col, gimg, p0, p0 + n);
  }
}

/// gw (o x rows) += gy (o x cols) * lower(img)^T.
inline void conv_backward_weight_image(const conv_geometry& g, const float* img, const float* gy, index_t o, float* gw) {
  const index_t r = g.rows(), p = g.cols();
  strided gwm(gw, o, r, Eigen::OuterStride<>(r));
  if (g.is_pointwise()) {
    gwm.noalias() += const_strided(gy, o, p, Eigen::OuterStride<>(p)) * const_strided(img, r, p, Eigen::OuterStride<>(p)).transpose();
    return;
  }
  const index_t pc = conv_chunk_cols(r, p);
  float* col = conv_workspace(r * pc);
  for (index_t p0 = 0; p0 < p; p0 += pc) {
    const index_t n = std::min(pc, p - p0);
    im2col(g, img, col, p0, p0 + n);
    gwm.noalias() += const_strided(gy + p0, o, n, Eigen::OuterStride<>(p)) * const_strided(col, r, n, Eigen::OuterStride<>(n)).transpose();
  }
}

/// Adds b[k] to every value of channel k of an n x c x (hw) tensor.
inline void add_channel_bias(float* y, const float* b, index_t n, index_t c, index_t hw) {
  backend::for_each_index(wsss::omp, n * c, [=](std::int64_t nc) {
    const float v = b[nc % c];
    float* row = y + nc * hw;
    for (index_t k = 0; k < hw; ++k) row[k] += v;
  });
}

/// gb[k] += sum of channel k of an n x c x (hw) tensor (summed in double).
inline void sum_channel_grad(const float* gy, float* gb, index_t n, index_t c, index_t hw) {
  backend::for_each_index(wsss::omp, c, [=](std::int64_t k) {
    double s = 0;
    for (index_t i = 0; i < n; ++i) {
      const float* row = gy + (i * c + k) * hw;
      for (index_t q = 0; q < hw; ++q) s += row[q];
    }
    gb[k] += static_cast<float>(s);
  });
}

}  // namespace wsss::ad::detail
