// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/conv_regions.hpp — the forward convolution split into output
// rectangles on which the set of kernel taps that read inside the image is constant, so that the
// lowered rows made only of zero padding (a third of fc6's, DeepLab eq. 1 with rate 12 at 41x41)
// are neither lowered nor multiplied.
#pragma once

#include <algorithm>
#include <vector>

#include "wsss/autodiff/ops/detail/im2col.hpp"
#include "wsss/autodiff/ops/detail/sgemm.hpp"

namespace wsss::ad::detail {

/// An output rectangle [y0, y1) x [x0, x1) and the kernel rows ti[0 .. ni) and columns
/// tj[0 .. nj) whose taps read inside the image at every position of it.
struct conv_region {
  index_t y0, y1, x0, x1;
  std::vector<index_t> ti, tj;

  index_t cols() const noexcept { return (y1 - y0) * (x1 - x0); }
  index_t taps() const noexcept { return static_cast<index_t>(ti.size() * tj.size()); }

  /// Walks region columns [q0, q1) (row-major over the rectangle) as runs along output rows:
  /// f(q - q0, oy, ox, run) for the run of `run` outputs starting at (oy, ox).
  template <class F>
  void runs(index_t q0, index_t q1, const F& f) const {
    const index_t width = x1 - x0;
    for (index_t q = q0; q < q1;) {
      const index_t oy = y0 + q / width, ox = x0 + q % width, run = std::min(q1 - q, x1 - ox);
      f(q - q0, oy, ox, run);
      q += run;
    }
  }
};

/// Along one axis (input n, kernel k, stride s, padding p, dilation d, output out), tap t reads
/// inside the input exactly for the outputs [lo_t, hi_t). Returns the segments between all those
/// bounds, each with the taps valid on all of it (a segment with none is left out).
struct axis_segment {
  index_t lo, hi;
  std::vector<index_t> taps;
};
inline std::vector<axis_segment> conv_axis_segments(index_t n, index_t k, index_t s, index_t p, index_t d, index_t out) {
  std::vector<index_t> lo(k), hi(k), cuts{0, out};
  for (index_t t = 0; t < k; ++t) {
    const index_t off = t * d - p;
    lo[t] = std::clamp<index_t>(ceil_div(-off, s), 0, out);
    hi[t] = std::clamp<index_t>(ceil_div(n - off, s), lo[t], out);
    cuts.push_back(lo[t]);
    cuts.push_back(hi[t]);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<axis_segment> segs;
  for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
    axis_segment sg{cuts[c], cuts[c + 1], {}};
    for (index_t t = 0; t < k; ++t)
      if (lo[t] <= sg.lo && sg.hi <= hi[t]) sg.taps.push_back(t);
    if (!sg.taps.empty()) segs.push_back(std::move(sg));
  }
  return segs;
}

/// The regions of g's output grid (products of the row and column segments).
inline std::vector<conv_region> conv_regions(const conv_geometry& g) {
  std::vector<conv_region> out;
  for (const axis_segment& r : conv_axis_segments(g.h, g.kh, g.sh, g.ph, g.dh, g.oh))
    for (const axis_segment& c : conv_axis_segments(g.w, g.kw, g.sw, g.pw, g.dw, g.ow))
      out.push_back({r.lo, r.hi, c.lo, c.hi, r.taps, c.taps});
  return out;
}

/// Fraction of the lowered matrix the regions skip (entries made only of padding).
inline double conv_region_savings(const conv_geometry& g, const std::vector<conv_region>& regions) {
  double kept = 0;
  for (const conv_region& r : regions) kept += static_cast<double>(r.cols()) * r.taps();
  return 1.0 - kept / (static_cast<double>(g.cols()) * g.kh * g.kw);
}

/// Use the regions when they skip at least this fraction of the products: below it, the extra
/// small GEMMs and the scatter of their results cost more than the zeros they skip.
inline constexpr double conv_region_min_savings = 0.2;

/// Row l of a region's lowered matrix is channel l / taps, tap (ti[t / nj], tj[t % nj]) with
/// t = l % taps; its column (y0 + q / width, x0 + q % width) reads one pixel inside the image.
/// weight_col(l) is that row's column in the O x (C KH KW) weight matrix.
struct region_lowering {
  const conv_geometry& g;
  const conv_region& reg;
  const float* img;

  index_t weight_col(index_t l) const {
    const index_t nt = reg.taps(), nj = static_cast<index_t>(reg.tj.size());
    const index_t ci = l / nt, t = l % nt;
    return (ci * g.kh + reg.ti[static_cast<std::size_t>(t / nj)]) * g.kw + reg.tj[static_cast<std::size_t>(t % nj)];
  }

  /// Kernel row, column and channel of region row l.
  struct tap {
    index_t ci, i, j;
  };
  tap tap_of(index_t l) const {
    const index_t wc = weight_col(l);
    return {wc / (g.kh * g.kw), (wc / g.kw) % g.kh, wc % g.kw};
  }

  /// dst[(l - l0) * ld + (q - q0)] = entry (l, q) for l in [l0, l1), q in [q0, q1).
  void lower(index_t l0, index_t l1, index_t q0, index_t q1, float* dst, index_t ld) const {
    for (index_t l = l0; l < l1; ++l) {
      const tap t = tap_of(l);
      const index_t base = t.ci * g.h * g.w + (t.i * g.dh - g.ph) * g.w + t.j * g.dw - g.pw;
      float* d = dst + (l - l0) * ld;
      reg.runs(q0, q1, [&](index_t o, index_t oy, index_t ox, index_t run) {
        const float* s = img + (base + oy * g.sh * g.w + ox * g.sw);
        if (g.sw == 1) {
          std::copy(s, s + run, d + o);
        } else {
          for (index_t k = 0; k < run; ++k) d[o + k] = s[k * g.sw];
        }
      });
    }
  }

  /// The adjoint of lower on an image `out` (same geometry as img): adds src[(l - l0) * ld + q - q0]
  /// at the pixel entry (l, q) reads.
  void scatter(index_t l0, index_t l1, index_t q0, index_t q1, const float* src, index_t ld, float* out) const {
    for (index_t l = l0; l < l1; ++l) {
      const tap t = tap_of(l);
      const index_t base = t.ci * g.h * g.w + (t.i * g.dh - g.ph) * g.w + t.j * g.dw - g.pw;
      const float* s = src + (l - l0) * ld;
      reg.runs(q0, q1, [&](index_t o, index_t oy, index_t ox, index_t run) {
        float* d = out + (base + oy * g.sh * g.w + ox * g.sw);
        for (index_t k = 0; k < run; ++k) d[k * g.sw] += s[o + k];
      });
    }
  }
};

/// dst[(c - c0) * ld + q - q0] = plane c's values at region columns [q0, q1), c in [c0, c1), of
/// an output-grid tensor (planes of g.cols()).
inline void gather_region(const conv_geometry& g, const conv_region& reg, const float* planes, index_t c0, index_t c1,
                          index_t q0, index_t q1, float* dst, index_t ld) {
  for (index_t c = c0; c < c1; ++c) {
    const float* src = planes + c * g.cols();
    float* d = dst + (c - c0) * ld;
    reg.runs(q0, q1, [&](index_t o, index_t oy, index_t ox, index_t run) { std::copy_n(src + oy * g.ow + ox, run, d + o); });
  }
}

/// y (o x g.cols(), ld g.cols()) += w (o x g.rows()) times the lowering of img restricted to
/// region columns [q0, q0 + n): the product of the region's nonzero rows only, into the
/// workspace tile `tmp` (o x n), then added into y at the region's positions.
inline void conv_region_forward(const conv_geometry& g, const conv_region& reg, const float* w, index_t o,
                                const float* img, index_t q0, index_t n, float* y, float* tmp) {
  const region_lowering low{g, reg, img};
  const index_t k = g.c * reg.taps(), r = g.rows();
  sgemm_blocked(
      o, n, k,
      [&](index_t i0, index_t mc, index_t l0, index_t kc, float* ap) {
        index_t cols[sgemm_kc];
        for (index_t l = 0; l < kc; ++l) cols[l] = low.weight_col(l0 + l);
        for (index_t ir = 0; ir < mc; ir += sgemm_mr) {
          const index_t rows = std::min(sgemm_mr, mc - ir);
          float* dst = ap + ir * kc;
          for (index_t rr = 0; rr < rows; ++rr) {
            const float* src = w + (i0 + ir + rr) * r;
            for (index_t l = 0; l < kc; ++l) dst[l * sgemm_mr + rr] = src[cols[l]];
          }
          for (index_t rr = rows; rr < sgemm_mr; ++rr)
            for (index_t l = 0; l < kc; ++l) dst[l * sgemm_mr + rr] = 0.0f;
        }
      },
      [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) {
        for (index_t jr = 0; jr < nc; jr += sgemm_nr) {
          const index_t cols = std::min(sgemm_nr, nc - jr);
          float* dst = bp + jr * kc;
          low.lower(l0, l0 + kc, q0 + j0 + jr, q0 + j0 + jr + cols, dst, sgemm_nr);
          if (cols < sgemm_nr)
            for (index_t l = 0; l < kc; ++l) std::fill(dst + l * sgemm_nr + cols, dst + (l + 1) * sgemm_nr, 0.0f);
        }
      },
      tmp, n, false);
  const index_t p = g.cols();
  for (index_t i = 0; i < o; ++i) {
    const float* t = tmp + i * n;
    float* yi = y + i * p;
    reg.runs(q0, q0 + n, [&](index_t q, index_t oy, index_t ox, index_t run) {
      float* d = yi + oy * g.ow + ox;
      for (index_t k = 0; k < run; ++k) d[k] += t[q + k];
    });
  }
}

/// gx_img += the adjoint lowering of (w^T gy) restricted to the region's rows of channels
/// [c0, c1) and region columns [q0, q0 + n): the data gradient without the rows of padding.
/// gy_img is one image's o x g.cols() output gradient; tmp holds (c1 - c0) taps x n floats.
inline void conv_region_backward_data(const conv_geometry& g, const conv_region& reg, const float* w, index_t o,
                                      const float* gy_img, index_t c0, index_t c1, index_t q0, index_t n,
                                      float* gx_img, float* tmp) {
  const region_lowering low{g, reg, gx_img};
  const index_t nt = reg.taps(), lb = c0 * nt, m = (c1 - c0) * nt, r = g.rows();
  sgemm_blocked(
      m, n, o,
      [&](index_t i0, index_t mc, index_t l0, index_t kc, float* ap) {
        for (index_t ir = 0; ir < mc; ir += sgemm_mr) {
          const index_t rows = std::min(sgemm_mr, mc - ir);
          index_t wc[sgemm_mr];
          for (index_t rr = 0; rr < rows; ++rr) wc[rr] = low.weight_col(lb + i0 + ir + rr);
          float* dst = ap + ir * kc;
          for (index_t l = 0; l < kc; ++l) {
            const float* src = w + (l0 + l) * r;
            for (index_t rr = 0; rr < rows; ++rr) dst[l * sgemm_mr + rr] = src[wc[rr]];
            for (index_t rr = rows; rr < sgemm_mr; ++rr) dst[l * sgemm_mr + rr] = 0.0f;
          }
        }
      },
      [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) {
        for (index_t jr = 0; jr < nc; jr += sgemm_nr) {
          const index_t cols = std::min(sgemm_nr, nc - jr);
          float* dst = bp + jr * kc;
          gather_region(g, reg, gy_img, l0, l0 + kc, q0 + j0 + jr, q0 + j0 + jr + cols, dst, sgemm_nr);
          if (cols < sgemm_nr)
            for (index_t l = 0; l < kc; ++l) std::fill(dst + l * sgemm_nr + cols, dst + (l + 1) * sgemm_nr, 0.0f);
        }
      },
      tmp, n, false);
  low.scatter(lb, lb + m, q0, q0 + n, tmp, n, gx_img);
}

/// gw[:, the region's weight columns of channels [c0, c1)] += gy (o x region columns
/// [q0, q0 + n)) times the transposed region lowering of img. When the region has every tap those
/// columns are the contiguous block c0 KH KW ..., and the product accumulates into gw directly;
/// otherwise into tmp (o x (c1 - c0) taps), then added column by column.
inline void conv_region_backward_weight(const conv_geometry& g, const conv_region& reg, const float* gy_img, index_t o,
                                        const float* img, index_t c0, index_t c1, index_t q0, index_t n, float* gw,
                                        float* tmp) {
  const region_lowering low{g, reg, img};
  const index_t nt = reg.taps(), lb = c0 * nt, m = (c1 - c0) * nt, r = g.rows();
  const bool direct = nt == g.kh * g.kw;
  float* c = direct ? gw + lb : tmp;
  const index_t ldc = direct ? r : m;
  sgemm_blocked(
      o, m, n,
      [&](index_t i0, index_t mc, index_t l0, index_t kc, float* ap) {
        for (index_t ir = 0; ir < mc; ir += sgemm_mr) {
          const index_t rows = std::min(sgemm_mr, mc - ir);
          float* dst = ap + ir * kc;
          for (index_t rr = 0; rr < rows; ++rr) {
            const float* src = gy_img + (i0 + ir + rr) * g.cols();
            reg.runs(q0 + l0, q0 + l0 + kc, [&](index_t q, index_t oy, index_t ox, index_t run) {
              const float* s2 = src + oy * g.ow + ox;
              for (index_t k = 0; k < run; ++k) dst[(q + k) * sgemm_mr + rr] = s2[k];
            });
          }
          for (index_t rr = rows; rr < sgemm_mr; ++rr)
            for (index_t l = 0; l < kc; ++l) dst[l * sgemm_mr + rr] = 0.0f;
        }
      },
      [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) {
        alignas(64) float tile[sgemm_nr * sgemm_kc];
        for (index_t jr = 0; jr < nc; jr += sgemm_nr) {
          const index_t cols = std::min(sgemm_nr, nc - jr);
          low.lower(lb + j0 + jr, lb + j0 + jr + cols, q0 + l0, q0 + l0 + kc, tile, kc);
          sgemm_pack_b({tile, 1, kc}, 0, kc, 0, cols, bp + jr * kc);  // the tile is lowered rows x kc
        }
      },
      c, ldc, direct);
  if (direct) return;
  std::vector<index_t> wc(static_cast<std::size_t>(m));
  for (index_t l = 0; l < m; ++l) wc[static_cast<std::size_t>(l)] = low.weight_col(lb + l);
  for (index_t i = 0; i < o; ++i)
    for (index_t l = 0; l < m; ++l) gw[i * r + wc[static_cast<std::size_t>(l)]] += tmp[i * m + l];
}

}  // namespace wsss::ad::detail
