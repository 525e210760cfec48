// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/im2col.hpp — im2col / col2im over a column range, and the reusable
// per-thread workspace the convolution kernels unfold into (Chellapilla et al. 2006 lowering).
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>

#include "wsss/core/shape.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::ad::detail {

/// Geometry of one lowering: an image of c x h x w is read by a kh x kw kernel with stride,
/// zero padding and dilation, on an oh x ow output grid. Row r = (ci * kh + i) * kw + j of the
/// column matrix holds, for every output position p = oy * ow + ox, the input value at
/// (ci, oy * sh - ph + i * dh, ox * sw - pw + j * dw), or 0 outside the image.
struct conv_geometry {
  index_t c = 0, h = 0, w = 0;
  index_t kh = 1, kw = 1;
  index_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  index_t oh = 0, ow = 0;

  index_t rows() const noexcept { return c * kh * kw; }
  index_t cols() const noexcept { return oh * ow; }
  index_t image_size() const noexcept { return h * w; }
  /// True when the column matrix is the image itself (1x1, stride 1, no padding, same grid).
  bool is_pointwise() const noexcept {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && oh == h && ow == w;
  }
};

inline index_t floor_div(index_t a, index_t b) noexcept { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline index_t ceil_div(index_t a, index_t b) noexcept { return -floor_div(-a, b); }

/// Walks the columns [p0, p1) of one kernel row (ci, i, j) output-row by output-row and calls
/// seg(col_offset, ox0, ox1, lo, hi, src_row) for every segment: columns [ox0, lo) and [hi, ox1)
/// fall in the padding, columns [lo, hi) read image row src_row (nullptr: the whole segment is
/// padding) at x = ox * sw - pw + j * dw.
template <class Seg>
inline void walk_row(const conv_geometry& g, index_t i, index_t j, index_t p0, index_t p1, const Seg& seg) {
  // Valid ox for this kernel column: 0 <= ox * sw - pw + j * dw < w.
  const index_t off = j * g.dw - g.pw;
  const index_t vlo = std::max<index_t>(0, ceil_div(-off, g.sw));
  const index_t vhi = std::min<index_t>(g.ow, ceil_div(g.w - off, g.sw));
  index_t p = p0;
  while (p < p1) {
    const index_t oy = p / g.ow;
    const index_t ox0 = p - oy * g.ow;
    const index_t ox1 = std::min<index_t>(g.ow, ox0 + (p1 - p));
    const index_t iy = oy * g.sh - g.ph + i * g.dh;
    const bool row_in = iy >= 0 && iy < g.h;
    const index_t lo = row_in ? std::clamp(vlo, ox0, ox1) : ox1;
    const index_t hi = row_in ? std::clamp(vhi, lo, ox1) : ox1;
    seg(p - p0, ox0, ox1, lo, hi, row_in ? iy : index_t{-1}, off);
    p += ox1 - ox0;
  }
}

/// Writes columns [p0, p1) of lowered row r into col + (r - r0) * ld: one row of the column
/// matrix, so any set of rows can be lowered independently (and in parallel).
struct im2col_kernel {
  conv_geometry g;
  const float* img;
  float* col;
  index_t p0, p1, r0, ld;
  void operator()(std::int64_t r) const {
    const index_t pc = ld;
    const index_t ci = r / (g.kh * g.kw);
    const index_t i = (r / g.kw) % g.kh;
    const index_t j = r % g.kw;
    const float* src = img + ci * g.h * g.w;
    float* dst = col + (r - r0) * pc;
    walk_row(g, i, j, p0, p1, [&](index_t o, index_t ox0, index_t ox1, index_t lo, index_t hi, index_t iy, index_t off) {
      float* d = dst + o;
      std::fill(d, d + (lo - ox0), 0.0f);
      d += lo - ox0;
      if (hi > lo) {
        const float* s = src + iy * g.w + lo * g.sw + off;
        if (g.sw == 1) {
          std::memcpy(d, s, static_cast<std::size_t>(hi - lo) * sizeof(float));
        } else {
          for (index_t k = 0; k < hi - lo; ++k) d[k] = s[k * g.sw];
        }
        d += hi - lo;
      }
      std::fill(d, d + (ox1 - hi), 0.0f);
    });
  }
};

/// Lowers rows [l0, l0 + kc) and columns [p0, p0 + n) of img straight into the packed layout of
/// a GEMM's B operand: entry (l, q) goes to dst[(q / nr) * nr * kc + (l - l0) * nr + q % nr], and
/// the last panel's columns past n are zero. One walk per row over all n columns (rather than
/// one per row and panel) keeps the index arithmetic off the copy.
inline void im2col_panels(const conv_geometry& g, const float* img, index_t l0, index_t kc, index_t p0, index_t n,
                          index_t nr, float* dst) {
  for (index_t l = l0; l < l0 + kc; ++l) {
    const index_t ci = l / (g.kh * g.kw), i = (l / g.kw) % g.kh, j = l % g.kw;
    const float* src = img + ci * g.h * g.w;
    float* row = dst + (l - l0) * nr;
    // Writes len entries from column q on: zeros when s is null, else s[0], s[stride], ...
    const auto emit = [&](index_t q, index_t len, const float* s, index_t stride) {
      while (len > 0) {
        const index_t off = q % nr, take = std::min(len, nr - off);
        float* d = row + (q / nr) * nr * kc + off;
        if (!s) {
          std::fill(d, d + take, 0.0f);
        } else if (stride == 1) {
          std::copy(s, s + take, d);
          s += take;
        } else {
          for (index_t k = 0; k < take; ++k) d[k] = s[k * stride];
          s += take * stride;
        }
        q += take;
        len -= take;
      }
    };
    walk_row(g, i, j, p0, p0 + n, [&](index_t o, index_t ox0, index_t ox1, index_t lo, index_t hi, index_t iy, index_t off) {
      emit(o, lo - ox0, nullptr, 0);
      if (hi > lo) emit(o + lo - ox0, hi - lo, src + iy * g.w + lo * g.sw + off, g.sw);
      emit(o + hi - ox0, ox1 - hi, nullptr, 0);
    });
    if (n % nr != 0) emit(n, nr - n % nr, nullptr, 0);
  }
}

/// Adds columns [p0, p1) of the rows of channel ci, held in col from channel c0 on, back into
/// the image (the adjoint of im2col). A channel's rows all touch the same pixels, so a channel
/// is the unit of work no two threads may share.
struct col2im_kernel {
  conv_geometry g;
  const float* col;
  float* img;
  index_t p0, p1, c0;
  void operator()(std::int64_t ci) const {
    const index_t pc = p1 - p0;
    float* dst_img = img + ci * g.h * g.w;
    for (index_t i = 0; i < g.kh; ++i)
      for (index_t j = 0; j < g.kw; ++j) {
        const float* src = col + (((ci - c0) * g.kh + i) * g.kw + j) * pc;
        walk_row(g, i, j, p0, p1, [&](index_t o, index_t ox0, index_t, index_t lo, index_t hi, index_t iy, index_t off) {
          if (hi <= lo) return;
          const float* s = src + o + (lo - ox0);
          float* d = dst_img + iy * g.w + lo * g.sw + off;
          if (g.sw == 1) {
            for (index_t k = 0; k < hi - lo; ++k) d[k] += s[k];
          } else {
            for (index_t k = 0; k < hi - lo; ++k) d[k * g.sw] += s[k];
          }
        });
      }
  }
};

/// Lowers rows [r0, r1) and columns [p0, p1) of img into col ((r1 - r0) x (p1 - p0)), serially:
/// the callers parallelise over larger units.
inline void im2col(const conv_geometry& g, const float* img, float* col, index_t r0, index_t r1, index_t p0, index_t p1) {
  const im2col_kernel k{g, img, col, p0, p1, r0, p1 - p0};
  for (index_t r = r0; r < r1; ++r) k(r);
}
/// img += the adjoint lowering of channels [c0, c1), columns [p0, p1), held in col.
inline void col2im_add(const conv_geometry& g, const float* col, float* img, index_t c0, index_t c1, index_t p0, index_t p1) {
  const col2im_kernel k{g, col, img, p0, p1, c0};
  for (index_t c = c0; c < c1; ++c) k(c);
}

/// Grow-only per-thread scratch, four independent slots per thread; each Owner type gets its own
/// storage, so two users' slots never alias. Reused on every call, so a training loop allocates
/// only while the largest layer has not yet been seen.
template <class Owner>
float* thread_scratch(index_t n, int slot) {
  thread_local std::unique_ptr<float[], wsss::detail::aligned_free> buf[4];
  thread_local index_t cap[4] = {0, 0, 0, 0};
  if (n > cap[slot]) {
    buf[slot].reset(wsss::detail::aligned_alloc_n<float>(n));
    cap[slot] = n;
  }
  return buf[slot].get();
}

struct conv_workspace_owner {};

/// The convolution's scratch (slots: lowering, partial sums, packed GEMM operands).
inline float* conv_workspace(index_t n, int slot = 0) { return thread_scratch<conv_workspace_owner>(n, slot); }

}  // namespace wsss::ad::detail
