// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/conv_direct.hpp — direct convolution for layers with few lowered
// rows (the first layer of every network: 3 channels x 3 x 3 = 27 taps; up to 16 channels of
// 3 x 3), forward, weight gradient and (as a forward on gy) data gradient. With 27 taps im2col +
// GEMM is all overhead: the lowering is 9x the image, the GEMM packs it, and its k of 27 is too
// short to amortise loading C. Here each image is copied once
// into a zero-padded plane, and every output row is a sum of 27 shifted rows of it: a register
// block of output channels x pixels accumulates tap by tap, and is written once, bias included.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "wsss/autodiff/ops/detail/im2col.hpp"
#include "wsss/autodiff/ops/detail/sgemm.hpp"  // simd4/8/16
#include "wsss/backend/for_each_index.hpp"     // backend::max_threads
#include "wsss/core/isa.hpp"

namespace wsss::ad::detail {

/// At most this many lowered rows (channels x taps) for the direct kernels: the weights of a
/// block of output channels stay in registers' reach (L1), and the GEMM would waste its k. 144
/// is 16 channels of 3 x 3: against im2col + GEMM (AMD EPYC, 2 threads, 2026-12-07, two rounds)
/// 8 -> 8 at 224 forward 0.80-1.01 -> 0.51-0.64 ms, fwd + bwd 3.1-4.2 -> 2.5-3.0; 16 -> 16 at
/// 112 forward 0.66-0.91 -> 0.55-0.56, fwd + bwd 2.2-2.6 -> 2.0-2.1. 288 (32 channels) once the
/// row's last block stopped computing padding (direct_forward_row_split): 32 -> 32 at 56 on one
/// thread, forward 0.82 -> 0.63 ms, fwd + bwd 2.45-2.52 -> 2.00-2.02 with the data gradient
/// direct too, but 3.03-3.06 with the weight gradient direct as well, hence
/// direct_max_weight_rows.
inline constexpr index_t direct_max_rows = 288;
/// At most this many lowered rows for the direct weight gradient (measured: direct_max_rows).
inline constexpr index_t direct_max_weight_rows = 144;

/// Whether the direct kernels can compute g: stride 1, few lowered rows, not a 1x1 on the same
/// grid (conv_direct in gemm.hpp says whether they should).
inline bool direct_applies(const conv_geometry& g) {
  return g.sh == 1 && g.sw == 1 && g.rows() <= direct_max_rows && !g.is_pointwise();
}

/// The data gradient of stride-1 g (o output channels) as a forward convolution: gy (o
/// channels of oh x ow) with the kernel flipped and transposed, padding d (k - 1) - pad, back
/// to the h x w grid. Its rows are o kh kw. Empty (c == 0) where g is strided or its padding
/// exceeds d (k - 1) on an axis.
inline conv_geometry direct_data_geometry(const conv_geometry& g, index_t o) {
  conv_geometry d;
  const index_t ph = g.dh * (g.kh - 1) - g.ph, pw = g.dw * (g.kw - 1) - g.pw;
  if (g.sh != 1 || g.sw != 1 || ph < 0 || pw < 0) return d;
  d.c = o;
  d.h = g.oh;
  d.w = g.ow;
  d.kh = g.kh;
  d.kw = g.kw;
  d.ph = ph;
  d.pw = pw;
  d.dh = g.dh;
  d.dw = g.dw;
  d.oh = g.h;
  d.ow = g.w;
  return d;
}

struct direct_plane_owner {};

/// The padded rows that output rows [y0, y1) read, of one image zero-padded so that every tap
/// of every output (and of the vector blocks that run past the last column, up to `ow_round`)
/// reads inside: per channel hp rows of wp, from padded row row0 = y0 on, in the executing
/// thread's grow-only scratch. Each thread pads, reads and writes only the rows of its own
/// slice: when the hypervisor puts the two vCPUs on distant cores, every cache line that one
/// thread writes and the other reads crosses between them, and one plane shared by both threads
/// made 16 -> 16 at 112 forward 0.45-0.66 ms instead of 0.29-0.32 (AMD EPYC, 2 threads,
/// 2026-12-07; the same runs' FMA loop scaled 2.0x). tap[t] is the offset of lowered row t's
/// first read from the output pixel's own offset (yy - row0) wp + xx.
struct direct_plane {
  index_t row0 = 0, hp = 0, wp = 0;
  std::vector<index_t> tap;
  float* data = nullptr;

  direct_plane(const conv_geometry& g, index_t ow_round, index_t y0, index_t y1)
      : row0(y0), hp(y1 - y0 + (g.kh - 1) * g.dh), wp(ow_round + (g.kw - 1) * g.dw),
        data(thread_scratch<direct_plane_owner>(g.c * hp * wp, 0)) {
    for (index_t ci = 0; ci < g.c; ++ci)
      for (index_t i = 0; i < g.kh; ++i)
        for (index_t j = 0; j < g.kw; ++j) tap.push_back(ci * hp * wp + i * g.dh * wp + j * g.dw);
  }
  /// The rows from image x (c x h x w): each row's columns copied in at pw (those no output
  /// reads left out), the rest zeroed, every element written once.
  void fill(const conv_geometry& g, const float* x) {
    const index_t n = std::clamp<index_t>(wp - g.pw, 0, g.w);
    for (index_t ci = 0; ci < g.c; ++ci)
      for (index_t py = 0; py < hp; ++py) {
        float* row = data + (ci * hp + py) * wp;
        const index_t y = row0 + py - g.ph;
        if (y < 0 || y >= g.h) {
          std::fill_n(row, wp, 0.0f);
          continue;
        }
        std::fill_n(row, std::min(g.pw, wp), 0.0f);
        std::copy_n(x + (ci * g.h + y) * g.w, n, row + g.pw);
        if (g.pw + n < wp) std::fill_n(row + g.pw + n, wp - g.pw - n, 0.0f);
      }
  }
  /// Where output row yy's reads start.
  const float* row(index_t yy) const { return data + (yy - row0) * wp; }
};

/// Output rows [y0, y1) of slice `s` of `slices` equal ones (a thread's share).
struct direct_slice {
  index_t y0, y1;
  direct_slice(index_t rows, index_t s, index_t slices) : y0(rows * s / slices), y1(rows * (s + 1) / slices) {}
};

/// What a row kernel reads and writes: weights wt packed as [block of ob channels][row t][ob],
/// bias (or null) padded to the blocks, output rows of `ow` pixels.
struct direct_args {
  const conv_geometry* g;
  const direct_plane* plane;
  const float* wt;
  const float* bias;
  index_t o;
  bool accumulate = false;  ///< y += the convolution (the data gradient) instead of y =
};

/// Output row yy of channels [o0, o0 + OB) (channels past o are computed into `spare`): NV
/// vectors of pixels x OB channels accumulate over the lowered rows, starting from the bias, and
/// are stored (or added to y: a.accumulate).
/// Every loop over the register block is unrolled by pragma: at -O2 GCC 12 kept the block in
/// memory (16 -> 16 at 112 forward 1.16-1.40 ms, with the pragmas 0.43-0.48; -O3 unrolled it
/// either way).
template <class V, int OB, int NV>
[[gnu::always_inline]] inline void direct_forward_row_body(const direct_args& a, index_t yy, index_t o0, float* y,
                                                           float* spare, index_t x_begin, index_t x_end) {
  constexpr index_t w = sizeof(V) / sizeof(float), nb = NV * w;
  const conv_geometry& g = *a.g;
  const index_t r = g.rows(), p = g.cols();
  const float* wt = a.wt + o0 * r;
  const float* src = a.plane->row(yy);
  const index_t* tap = a.plane->tap.data();
  float* out[OB];
  bool add[OB];
  for (int k = 0; k < OB; ++k) {
    out[k] = o0 + k < a.o ? y + (o0 + k) * p + yy * g.ow : spare;
    add[k] = a.accumulate && o0 + k < a.o;
  }
  for (index_t x0 = x_begin; x0 < x_end; x0 += nb) {
    V acc[OB][NV];
#pragma GCC unroll 16
    for (int k = 0; k < OB; ++k)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[k][v] = V{} + (a.bias ? a.bias[o0 + k] : 0.0f);
    for (index_t t = 0; t < r; ++t) {
      V xv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) std::memcpy(&xv[v], src + tap[t] + x0 + v * w, sizeof(V));
      const float* wv = wt + t * OB;
#pragma GCC unroll 8
      for (int k = 0; k < OB; ++k)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[k][v] += wv[k] * xv[v];
    }
    const index_t n = std::min(nb, x_end - x0);
#pragma GCC unroll 16
    for (int k = 0; k < OB; ++k) {
      if (n == nb) {
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
          if (add[k]) {
            V old;
            std::memcpy(&old, out[k] + x0 + v * w, sizeof(V));
            acc[k][v] = old + acc[k][v];
          }
          std::memcpy(out[k] + x0 + v * w, &acc[k][v], sizeof(V));
        }
      } else {
        alignas(64) float tmp[nb];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) std::memcpy(tmp + v * w, &acc[k][v], sizeof(V));
        for (index_t e = 0; e < n; ++e) out[k][x0 + e] = add[k] ? out[k][x0 + e] + tmp[e] : tmp[e];
      }
    }
  }
}

/// The row in blocks of NV vectors, the rest of the row in a block of as few vectors as cover it
/// (112 = 2 x 48 + 16: a third 48-pixel block multiplied 32 padding pixels; 16 -> 16 at 112
/// forward on one thread 0.73 -> 0.58 ms, AMD EPYC Zen 4, 2026-12-07). A rest of at most half a
/// vector runs on half-width vectors (H): Zen 4 issues two 256-bit FMAs per cycle against one
/// 512-bit, so 56 = 48 + 8 no longer multiplies 8 padding pixels per row.
template <class V, int OB, int NV, class H = V>
[[gnu::always_inline]] inline void direct_forward_row_split(const direct_args& a, index_t yy, index_t o0, float* y,
                                                            float* spare) {
  constexpr index_t w = sizeof(V) / sizeof(float), hw = sizeof(H) / sizeof(float);
  const index_t ow = a.g->ow, full = ow / (NV * w) * (NV * w), rest = ow - full;
  direct_forward_row_body<V, OB, NV>(a, yy, o0, y, spare, 0, full);
  if (rest == 0) return;
  if (rest <= hw) direct_forward_row_body<H, OB, 1>(a, yy, o0, y, spare, full, ow);
  else if (rest <= w) direct_forward_row_body<V, OB, 1>(a, yy, o0, y, spare, full, ow);
  else if (rest <= 2 * w) direct_forward_row_body<V, OB, 2>(a, yy, o0, y, spare, full, ow);
  else direct_forward_row_body<V, OB, NV>(a, yy, o0, y, spare, full, ow);
}

/// acc[k][u] += gy rows k at [at, at + w) times the image at x + off[u] (one vector each). The
/// OB gy vectors stay in registers and each image vector is loaded once, used OB times: the
/// register budget is OB TB accumulators + OB + 1.
template <class V, int OB, int TB>
[[gnu::always_inline]] inline void direct_weight_step(V (&acc)[OB][TB], const float* const (&gy)[OB], index_t at,
                                                      const float* x, const index_t (&off)[TB]) {
  V gv[OB];
#pragma GCC unroll 16
  for (int k = 0; k < OB; ++k) std::memcpy(&gv[k], gy[k] + at, sizeof(V));
#pragma GCC unroll 8
  for (int u = 0; u < TB; ++u) {
    V xv;
    std::memcpy(&xv, x + off[u], sizeof(V));
#pragma GCC unroll 16
    for (int k = 0; k < OB; ++k) acc[k][u] += gv[k] * xv;
  }
}

/// The gy rows a weight-gradient block reads: band row yy of its channel k (k < count) at
/// p + k cs + yy ld, of `cols` columns. A band copy (direct_weight_band_copy) has cols a whole
/// number of vectors (zeros past ow); gy itself has cols = ow.
struct direct_gy_rows {
  const float* p;
  index_t cs, ld, cols, count;
};

/// The lane sums of gw's block (channels of gy, taps t0 on): acc[k][u] (k < OB, u < TB) += the
/// dot products, over the band's rows [0, rows), of gy's row of channel k (k < count; the rest
/// repeat the last, dropped at the end) with the padded image shifted by tap t0 + u, image row
/// y0 + row. Tail: a last partial vector of a row reads gy through a zero-filled copy (what the
/// image holds past the row is multiplied by 0); without it gy.cols must be whole vectors (the
/// loop with that branch compiled slower even where it never ran: 16 -> 16 at 112, 112 = 7 x 16,
/// 0.48 ms against 0.41 on two threads). The sums stay vectors (`lanes`, OB x TB vectors per
/// block) until the end, where they are added in double. A call covers a whole band: calls of 1,
/// 2 or 4 rows (gy kept in L1) were 23%, 10% and 3% slower on AMD EPYC.
template <class V, int OB, int TB, bool Tail>
[[gnu::always_inline]] inline void direct_weight_block_body(const direct_args& a, const direct_gy_rows& gy, index_t y0,
                                                            index_t rows, index_t t0, float* lanes) {
  constexpr index_t w = sizeof(V) / sizeof(float);
  const index_t r = a.g->rows();
  const index_t* tap = a.plane->tap.data();
  index_t off[TB];
  for (int u = 0; u < TB; ++u) off[u] = tap[std::min(t0 + u, r - 1)];  // edge taps repeat, dropped at the end
  const float* gyo[OB];
  for (int k = 0; k < OB; ++k) gyo[k] = gy.p + std::min<index_t>(k, gy.count - 1) * gy.cs;
  V acc[OB][TB];
  std::memcpy(acc, lanes, sizeof(acc));
  for (index_t yy = 0; yy < rows; ++yy) {
    const float* src = a.plane->row(y0 + yy);
    const float* row[OB];
    for (int k = 0; k < OB; ++k) row[k] = gyo[k] + yy * gy.ld;
    index_t x0 = 0;
    for (; x0 + w <= gy.cols; x0 += w) direct_weight_step<V, OB, TB>(acc, row, x0, src + x0, off);
    if (Tail && x0 < gy.cols) {
      alignas(64) float tail[OB][w] = {};
      const float* trow[OB];
      for (int k = 0; k < OB; ++k) {
        std::copy_n(row[k] + x0, gy.cols - x0, tail[k]);
        trow[k] = tail[k];
      }
      direct_weight_step<V, OB, TB>(acc, trow, 0, src + x0, off);
    }
  }
  std::memcpy(lanes, acc, sizeof(acc));
}

/// Rows [y0, y1) of gy's first `count` channels (oh x ow each) copied into band as rows of ld
/// floats, zero past ow, so that no row of the weight gradient ends in a partial vector: that
/// copy per block and row (above) had 32 -> 32 at 56 (56 = 3 x 16 + 8) take 1.9 ms on one
/// thread (0.84 with the band; Winograd's 0.71-0.77 still wins there), against the forward's
/// 0.6. One block's channels at a time, so the copy stays in L2 while the block's taps sweep it
/// (all of 3 -> 64 at 321's channels, 1.4 MB a band, made its gradient 3.7 -> 4.4 ms on two
/// threads).
inline direct_gy_rows direct_weight_band_copy(const float* gy, index_t count, index_t oh, index_t ow, index_t y0,
                                              index_t y1, index_t ld, float* band) {
  for (index_t k = 0; k < count; ++k)
    for (index_t yy = y0; yy < y1; ++yy) {
      float* dst = band + (k * (y1 - y0) + yy - y0) * ld;
      std::copy_n(gy + (k * oh + yy) * ow, ow, dst);
      std::fill(dst + ow, dst + ld, 0.0f);
    }
  return {band, (y1 - y0) * ld, ld, ld, count};
}

// The variants (core/isa.hpp). Forward: AVX-512 8 channels x 48 pixels (24 zmm accumulators),
// AVX2 and generic 4 channels x 3 vectors (12).
// 8 x 48, 6 x 48 and 4 x 48 took 2.4-2.8 ms alike on 3 -> 64 at 321 x 321 (AMD EPYC, 2 threads,
// best of 40, ±15% between runs): writing the 26 MB output bounds it, not the block.
inline constexpr int direct_ob_avx512 = 8, direct_ob_narrow = 4;
// Weight-gradient blocks (channels x taps), chosen on AMD EPYC (Zen 4), 3 -> 64 at 321 x 321,
// 2 threads, best of 40: AVX-512 5 x 5 3.0 ms (25 zmm accumulators + 5 + 1; 8 x 3 3.9, 5 x 6
// 3.9, 6 x 5 4.0, 6 x 4 4.2, 3 x 9 4.6), AVX2 2 x 6 4.0 ms (12 + 2 + 1 of 16 ymm; 3 x 4 4.4,
// 2 x 5 4.2), generic 3 x 4 (12 + 3 + 1 of 16 xmm).
inline constexpr int direct_wob_avx512 = 5, direct_wtb_avx512 = 5, direct_wob_avx2 = 2, direct_wtb_avx2 = 6,
                     direct_wob_generic = 3, direct_wtb_generic = 4;
WSSS_TARGET_AVX512 inline void direct_forward_row_avx512(const direct_args& a, index_t yy, index_t o0, float* y, float* spare) {
  direct_forward_row_split<simd16, direct_ob_avx512, 3, simd8>(a, yy, o0, y, spare);
}
WSSS_TARGET_AVX2 inline void direct_forward_row_avx2(const direct_args& a, index_t yy, index_t o0, float* y, float* spare) {
  direct_forward_row_split<simd8, direct_ob_narrow, 3>(a, yy, o0, y, spare);
}
inline void direct_forward_row_generic(const direct_args& a, index_t yy, index_t o0, float* y, float* spare) {
  direct_forward_row_split<simd4, direct_ob_narrow, 3>(a, yy, o0, y, spare);
}
template <bool Tail>
WSSS_TARGET_AVX512 inline void direct_weight_block_avx512(const direct_args& a, const direct_gy_rows& gy, index_t y0,
                                                          index_t rows, index_t t0, float* lanes) {
  direct_weight_block_body<simd16, direct_wob_avx512, direct_wtb_avx512, Tail>(a, gy, y0, rows, t0, lanes);
}
template <bool Tail>
WSSS_TARGET_AVX2 inline void direct_weight_block_avx2(const direct_args& a, const direct_gy_rows& gy, index_t y0,
                                                      index_t rows, index_t t0, float* lanes) {
  direct_weight_block_body<simd8, direct_wob_avx2, direct_wtb_avx2, Tail>(a, gy, y0, rows, t0, lanes);
}
template <bool Tail>
inline void direct_weight_block_generic(const direct_args& a, const direct_gy_rows& gy, index_t y0, index_t rows,
                                        index_t t0, float* lanes) {
  direct_weight_block_body<simd4, direct_wob_generic, direct_wtb_generic, Tail>(a, gy, y0, rows, t0, lanes);
}

/// The block geometry of an instruction set: floats per vector, channels per forward block
/// (3 vectors of pixels), channels x taps per weight-gradient block.
struct direct_shape {
  index_t lanes, ob, wob, wtb;
  index_t pixels() const { return 3 * lanes; }
};
inline direct_shape direct_shape_of(isa s) {
  return pick_isa(s, direct_shape{16, direct_ob_avx512, direct_wob_avx512, direct_wtb_avx512},
                  direct_shape{8, direct_ob_narrow, direct_wob_avx2, direct_wtb_avx2},
                  direct_shape{4, direct_ob_narrow, direct_wob_generic, direct_wtb_generic});
}

/// Output rows per weight-gradient call: a band whose padded input and gy rows stay in L2
/// while every block sweeps it.
inline constexpr index_t direct_weight_band = 16;

/// Threads for the direct kernels: one slice of rows each, at least 4 rows per slice.
inline index_t direct_slices(const conv_geometry& g) {
  return std::max<index_t>(1, std::min<index_t>(backend::max_threads(), g.oh / 4));
}

/// y (batch x o x oh x ow) = conv(x, w) + bias (bias may be null); y need not be initialised.
/// accumulate: y += conv(x, w) instead. Each thread takes one slice of rows of every image
/// (static: the same rows of y every call), pads the input rows it reads and computes them.
inline void direct_conv_forward(const conv_geometry& g, const float* w, index_t o, const float* x, index_t batch,
                                const float* bias, float* y, bool accumulate = false) {
  const isa s = active_isa();  // once: the weight packing and the row kernel must agree
  const direct_shape sh = direct_shape_of(s);
  const auto row = pick_isa(s, direct_forward_row_avx512, direct_forward_row_avx2, direct_forward_row_generic);
  const index_t r = g.rows(), blocks = (o + sh.ob - 1) / sh.ob, op = blocks * sh.ob;
  std::vector<float> wt(static_cast<std::size_t>(op * r), 0.0f), b(static_cast<std::size_t>(op), 0.0f);
  for (index_t oo = 0; oo < o; ++oo) {
    for (index_t t = 0; t < r; ++t) wt[static_cast<std::size_t>((oo / sh.ob * r + t) * sh.ob + oo % sh.ob)] = w[oo * r + t];
    if (bias) b[static_cast<std::size_t>(oo)] = bias[oo];
  }
  const index_t ow_round = (g.ow + sh.pixels() - 1) / sh.pixels() * sh.pixels(), slices = direct_slices(g);
#pragma omp parallel for schedule(static, 1) num_threads(static_cast<int>(slices)) if (slices > 1)
  for (std::int64_t sl = 0; sl < slices; ++sl) {
    const direct_slice rows(g.oh, sl, slices);
    direct_plane plane(g, ow_round, rows.y0, rows.y1);
    const direct_args args{&g, &plane, wt.data(), b.data(), o, accumulate};
    float* spare = conv_workspace(g.ow + sh.pixels(), 0);
    for (index_t i = 0; i < batch; ++i) {
      plane.fill(g, x + i * g.c * g.image_size());
      float* yi = y + i * o * g.cols();
      for (index_t yy = rows.y0; yy < rows.y1; ++yy)
        for (index_t o0 = 0; o0 < o; o0 += sh.ob) row(args, yy, o0, yi, spare);
    }
  }
}

/// gx (batch x c x h x w) += the data gradient of stride-1 g from gy (batch x o x oh x ow) and w
/// (o x c x kh x kw), dg = direct_data_geometry(g, o): the forward kernel on gy with w flipped
/// and transposed (c x o x kh x kw), adding into gx.
inline void direct_conv_backward_data(const conv_geometry& g, const conv_geometry& dg, const float* w, index_t o,
                                      const float* gy, index_t batch, float* gx) {
  const index_t kk = g.kh * g.kw;
  std::vector<float> wt(static_cast<std::size_t>(g.c * o * kk));
  for (index_t oo = 0; oo < o; ++oo)
    for (index_t ci = 0; ci < g.c; ++ci)
      for (index_t t = 0; t < kk; ++t) wt[static_cast<std::size_t>((ci * o + oo) * kk + kk - 1 - t)] = w[(oo * g.c + ci) * kk + t];
  direct_conv_forward(dg, wt.data(), g.c, gy, batch, nullptr, gx, true);
}

/// gw (o x rows) += sum over images of gy (o x oh x ow) times the shifted padded image, tap by
/// tap. Each thread takes one slice of rows of every image and sums into its own vector lanes,
/// then into one double per weight; the slices' doubles are added in slice order.
inline void direct_conv_backward_weight(const conv_geometry& g, const float* x, const float* gy, index_t batch, index_t o,
                                        float* gw) {
  const isa s = active_isa();
  const direct_shape sh = direct_shape_of(s);
  const index_t r = g.rows(), ob = (o + sh.wob - 1) / sh.wob, tg = (r + sh.wtb - 1) / sh.wtb;
  const index_t per_block = sh.wob * sh.wtb * sh.lanes, per_slice = ob * tg * per_block;
  const index_t ow_round = (g.ow + sh.lanes - 1) / sh.lanes * sh.lanes;  // the last vector reads past the row
  const index_t slices = direct_slices(g);
  // Rows of whole vectors are read in place. Others are copied into bands where many tap blocks
  // share the copy: 16 -> 16 at 100 (29 blocks) 0.65-0.76 ms with the tail, 0.39-0.41 copied; 16
  // -> 16 at 60 0.30-0.33 -> 0.14-0.16; 8 -> 8 at 250 (15) 0.65-0.72 -> 0.53-0.57. Where few do,
  // the tail costs less than the copy: 3 -> 64 at 321 (6 blocks) 3.2-3.55 in place, 3.4-3.65
  // copied (AMD EPYC, 2 threads, 2026-12-07, three alternating rounds; the same bits each way).
  const bool whole = g.ow % sh.lanes == 0, copy = !whole && tg >= 10;
  const auto block = whole || copy ? pick_isa(s, direct_weight_block_avx512<false>, direct_weight_block_avx2<false>,
                                              direct_weight_block_generic<false>)
                                   : pick_isa(s, direct_weight_block_avx512<true>, direct_weight_block_avx2<true>,
                                              direct_weight_block_generic<true>);
  std::vector<double> sums(static_cast<std::size_t>(slices * o * r));
#pragma omp parallel for schedule(static, 1) num_threads(static_cast<int>(slices)) if (slices > 1)
  for (std::int64_t sl = 0; sl < slices; ++sl) {
    const direct_slice rows(g.oh, sl, slices);
    direct_plane plane(g, ow_round, rows.y0, rows.y1);
    const direct_args args{&g, &plane, nullptr, nullptr, o};
    float* const lanes = thread_scratch<direct_plane_owner>(per_slice, 1);
    float* const band = copy ? thread_scratch<direct_plane_owner>(sh.wob * direct_weight_band * ow_round, 2) : nullptr;
    std::fill_n(lanes, per_slice, 0.0f);
    for (index_t i = 0; i < batch; ++i) {
      plane.fill(g, x + i * g.c * g.image_size());
      for (index_t y0 = rows.y0; y0 < rows.y1; y0 += direct_weight_band) {
        const index_t y1 = std::min(rows.y1, y0 + direct_weight_band);
        for (index_t b = 0; b < ob; ++b) {
          const index_t count = std::min(sh.wob, o - b * sh.wob);
          const float* gyb = gy + (i * o + b * sh.wob) * g.cols();
          const direct_gy_rows rows_of = copy ? direct_weight_band_copy(gyb, count, g.oh, g.ow, y0, y1, ow_round, band)
                                              : direct_gy_rows{gyb + y0 * g.ow, g.cols(), g.ow, g.ow, count};
          for (index_t t = 0; t < tg; ++t) block(args, rows_of, y0, y1 - y0, t * sh.wtb, lanes + (b * tg + t) * per_block);
        }
      }
    }
    double* mine = sums.data() + sl * o * r;
    for (index_t b = 0; b < ob; ++b)
      for (index_t t = 0; t < tg; ++t)
        for (index_t k = 0; k < sh.wob && b * sh.wob + k < o; ++k)
          for (index_t u = 0; u < sh.wtb && t * sh.wtb + u < r; ++u) {
            const float* v = lanes + (b * tg + t) * per_block + (k * sh.wtb + u) * sh.lanes;
            double sum = 0;
            for (index_t e = 0; e < sh.lanes; ++e) sum += v[e];
            mine[(b * sh.wob + k) * r + t * sh.wtb + u] = sum;
          }
  }
  for (index_t j = 0; j < o * r; ++j) {
    double sum = 0;
    for (index_t sl = 0; sl < slices; ++sl) sum += sums[static_cast<std::size_t>(sl * o * r + j)];
    gw[j] += static_cast<float>(sum);
  }
}

}  // namespace wsss::ad::detail
