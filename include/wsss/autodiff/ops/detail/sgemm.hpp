// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/sgemm.hpp — the single-threaded float GEMM under the convolutions:
// C (+)= A B on strided operands, packed and cache-blocked in the manner of Goto & van de Geijn
// (2008) / BLIS. The packed layout is the same on every CPU; the micro-kernel that consumes it
// is chosen at run time (core/isa.hpp): AVX-512, AVX2 + FMA, or generic 128-bit vector code.
#pragma once

#include <algorithm>
#include <cstring>

#include "wsss/autodiff/ops/detail/im2col.hpp"
#include "wsss/core/isa.hpp"

namespace wsss::ad::detail {

/// A strided matrix operand: element (i, j) is p[i * rs + j * cs].
struct mat_ref {
  const float* p;
  index_t rs, cs;
};

// Register tile 12 x 32 (AVX-512: 24 zmm accumulators, two B vectors, one broadcast). Blocks: k
// split into equal blocks of at most sgemm_kc (a multiple of 4, so every packed A panel starts
// on a cache line), an mc x kc block of A (up to 240 KiB) in L2, kc x nc of B in L3.
inline constexpr index_t sgemm_mr = 12, sgemm_nr = 32, sgemm_kc = 512, sgemm_mc = 120, sgemm_nc = 1536;
// kc: each k block is one more pass of loads and stores over C, which the kernel cannot hide;
// a 512 block's 64 KiB B panel overflows L1 and costs less than those passes. One thread, AMD
// EPYC Zen 4, 2026-12-07, GFLOP/s against OpenBLAS 0.3.21's SkylakeX kernel in the same run,
// kc 192 fixed -> equal blocks of at most 512 (with the transposing packs below): 1024 x 1024 x
// 840 87 -> 101 (102), 512 x 4608 x 840 94 -> 101 (102), 256 x 2304 x 1568 65 -> 96 (98);
// 64 x 576 x 910 and 128 x 1152 x 6272 alike. Maxima 256 and 384 lay between; mc 48 as 120.

/// Steps of k the micro-kernel prefetches its packed panels ahead (8 and 16 measured alike).
inline constexpr index_t sgemm_prefetch_k = 8;

using simd4 = float __attribute__((vector_size(16)));

/// dst[j * ldd + i] = src[i * lds + j] for i, j < 4: a 4 x 4 transpose in registers.
inline void transpose4x4(const float* src, index_t lds, float* dst, index_t ldd) {
  simd4 a, b, c, d;
  std::memcpy(&a, src, sizeof a);
  std::memcpy(&b, src + lds, sizeof b);
  std::memcpy(&c, src + 2 * lds, sizeof c);
  std::memcpy(&d, src + 3 * lds, sizeof d);
  const simd4 col[4] = {
      {a[0], b[0], c[0], d[0]}, {a[1], b[1], c[1], d[1]}, {a[2], b[2], c[2], d[2]}, {a[3], b[3], c[3], d[3]}};
  for (int j = 0; j < 4; ++j) std::memcpy(dst + j * ldd, &col[j], sizeof(simd4));
}

/// dst[l * ldd + q] = src[q * lds + l] for q < 4 and l in [l0, l1): four rows transposed, 4 x 4
/// at a time, the last l % 4 columns one by one. Both packers' transposing path.
inline void transpose4_rows(const float* src, index_t lds, float* dst, index_t ldd, index_t l0, index_t l1) {
  index_t l = l0;
  for (; l + 4 <= l1; l += 4) transpose4x4(src + l, lds, dst + l * ldd, ldd);
  for (; l < l1; ++l)
    for (index_t q = 0; q < 4; ++q) dst[l * ldd + q] = src[q * lds + l];
}

/// Packs A[i0 : i0 + mc, l0 : l0 + kc] into mr-row panels, column by column (zero-padded rows).
/// Rows of A with k contiguous go in 4 x 4 transposes: a float at a time, packing A took 6% of
/// one thread's 512 x 4608 x 1681, now 2.6% (cycle counters, AMD EPYC Zen 4, 2026-12-07).
inline void sgemm_pack_a(mat_ref a, index_t i0, index_t mc, index_t l0, index_t kc, float* ap) {
  constexpr index_t mr = sgemm_mr;
  for (index_t ir = 0; ir < mc; ir += mr) {
    const index_t rows = std::min(mr, mc - ir);
    float* dst = ap + ir * kc;
    if (a.cs == 1) {
      const float* src = a.p + (i0 + ir) * a.rs + l0;
      index_t r = 0;
      for (; r + 4 <= rows; r += 4) transpose4_rows(src + r * a.rs, a.rs, dst + r, mr, 0, kc);
      for (; r < rows; ++r)
        for (index_t l = 0; l < kc; ++l) dst[l * mr + r] = src[r * a.rs + l];
    } else {
      for (index_t l = 0; l < kc; ++l) {
        const float* src = a.p + (l0 + l) * a.cs + (i0 + ir) * a.rs;
        for (index_t r = 0; r < rows; ++r) dst[l * mr + r] = src[r * a.rs];
      }
    }
    for (index_t r = rows; r < mr; ++r)
      for (index_t l = 0; l < kc; ++l) dst[l * mr + r] = 0.0f;
  }
}

/// Packs B[l0 : l0 + kc, j0 : j0 + nc] into nr-column panels, row by row (zero-padded columns).
inline void sgemm_pack_b(mat_ref b, index_t l0, index_t kc, index_t j0, index_t nc, float* bp) {
  constexpr index_t nr = sgemm_nr;
  for (index_t jr = 0; jr < nc; jr += nr) {
    const index_t cols = std::min(nr, nc - jr);
    float* dst = bp + jr * kc;
    if (b.cs == 1) {
      // Each row of a panel is its own page-strided stream the hardware does not prefetch: the
      // next panel's row is asked for now (64 x 576 x 12880: 139 -> 148 GFLOP/s on 2 threads).
      for (index_t l = 0; l < kc; ++l) {
        const float* src = b.p + (l0 + l) * b.rs + j0 + jr;
        if (jr + 2 * nr <= nc) {
          __builtin_prefetch(src + nr);
          __builtin_prefetch(src + nr + 16);
        }
        std::memcpy(dst + l * nr, src, static_cast<std::size_t>(cols) * sizeof(float));
        std::fill(dst + l * nr + cols, dst + (l + 1) * nr, 0.0f);
      }
    } else {
      const float* src = b.p + (j0 + jr) * b.cs + l0 * b.rs;
      index_t j = 0;
      // Columns of B contiguous: 4 x 4 transposes, 64 rows of the panel (8 KiB) at a time, so its
      // lines stay in L1 between the column groups (a 512-row panel is 64 KiB).
      if (b.rs == 1)
        for (index_t lb = 0; lb < kc; lb += 64)
          for (j = 0; j + 4 <= cols; j += 4)
            transpose4_rows(src + j * b.cs, b.cs, dst + j, nr, lb, std::min(kc, lb + 64));
      for (; j < cols; ++j)
        for (index_t l = 0; l < kc; ++l) dst[l * nr + j] = src[j * b.cs + l * b.rs];
      for (index_t l = 0; l < kc; ++l) std::fill(dst + l * nr + cols, dst + (l + 1) * nr, 0.0f);
    }
  }
}

using simd8 = float __attribute__((vector_size(32)));
using simd16 = float __attribute__((vector_size(64)));

/// C[0 : rows, 0 : cols] (+)= rows [0, R) of a packed A panel (rows <= R) times columns [0, C W)
/// of a packed B panel (cols <= C W), over kc; V holds W floats. R x C vector accumulators: the
/// caller's target attribute decides the registers (zmm, ymm or xmm), so one body serves every
/// instruction set. Always inlined, so that it compiles under each caller's target.
template <class V, int R, int C>
[[gnu::always_inline]] inline void sgemm_tile(index_t kc, const float* ap, const float* bp, float* c, index_t ldc,
                                              bool accumulate, index_t rows, index_t cols) {
  constexpr index_t w = sizeof(V) / sizeof(float), width = C * w;
  V acc[R][C] = {};
  // C's lines are fetched while the k loop runs, not when the tile is stored; the panels are
  // prefetched sgemm_prefetch_k steps ahead. Both together: 85 -> 91 GFLOP/s on one thread for
  // 1024 x 1024 x 1681, 89 -> 97 for 512 x 4608 x 1681 (AMD EPYC Zen 4, min of 3 interleaved rounds).
  for (index_t r = 0; r < rows; ++r) {
    __builtin_prefetch(c + r * ldc, 1);
    __builtin_prefetch(c + r * ldc + cols - 1, 1);
  }
#pragma GCC unroll 4
  for (index_t l = 0; l < kc; ++l) {
    __builtin_prefetch(bp + (l + sgemm_prefetch_k) * sgemm_nr);
    __builtin_prefetch(bp + (l + sgemm_prefetch_k) * sgemm_nr + 16);
    __builtin_prefetch(ap + (l + sgemm_prefetch_k) * sgemm_mr);
    V b[C];
    for (int j = 0; j < C; ++j) std::memcpy(&b[j], bp + l * sgemm_nr + j * w, sizeof(V));
    const float* a = ap + l * sgemm_mr;
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < C; ++j) acc[r][j] += a[r] * b[j];
  }
  if (rows == R && cols == width) {
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < C; ++j) {
        float* cr = c + r * ldc + j * w;
        V v = acc[r][j];
        if (accumulate) {
          V old;
          std::memcpy(&old, cr, sizeof(V));
          v += old;
        }
        std::memcpy(cr, &v, sizeof(V));
      }
    return;
  }
  alignas(64) float tile[R * width];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < C; ++j) std::memcpy(tile + r * width + j * w, &acc[r][j], sizeof(V));
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + tile[r * width + j];
}

/// The mr x nr tile as R x (C W) sub-tiles, for register files too small for the whole tile:
/// each sub-tile re-reads its slices of the A and B panels from L1.
template <class V, int R, int C>
[[gnu::always_inline]] inline void sgemm_subtiles(index_t kc, const float* ap, const float* bp, float* c, index_t ldc,
                                                  bool accumulate, index_t rows, index_t cols) {
  constexpr index_t width = C * static_cast<index_t>(sizeof(V) / sizeof(float));
  for (index_t r0 = 0; r0 < rows; r0 += R)
    for (index_t j0 = 0; j0 < cols; j0 += width)
      sgemm_tile<V, R, C>(kc, ap + r0, bp + j0, c + r0 * ldc + j0, ldc, accumulate, std::min<index_t>(R, rows - r0),
                          std::min(width, cols - j0));
}

/// The micro-kernels: C[0 : rows, 0 : cols] (+)= packed A panel x packed B panel over kc (rows
/// <= 12, cols <= 32). AVX-512 computes only the rows it needs in steps of 4 (the edge panel of a
/// 64-row product is 4 rows, and a full 12-row tile would spend a third of its multiplies on
/// the zero padding); AVX2 runs 6 x 16 sub-tiles (12 ymm accumulators), the generic one 6 x 8
/// (12 xmm, or NEON q registers).
WSSS_TARGET_AVX512 inline void sgemm_kernel_avx512(index_t kc, const float* ap, const float* bp, float* c, index_t ldc,
                                                   bool accumulate, index_t rows, index_t cols) {
  if (rows <= 4) sgemm_tile<simd16, 4, 2>(kc, ap, bp, c, ldc, accumulate, rows, cols);
  else if (rows <= 8) sgemm_tile<simd16, 8, 2>(kc, ap, bp, c, ldc, accumulate, rows, cols);
  else sgemm_tile<simd16, 12, 2>(kc, ap, bp, c, ldc, accumulate, rows, cols);
}
WSSS_TARGET_AVX2 inline void sgemm_kernel_avx2(index_t kc, const float* ap, const float* bp, float* c, index_t ldc,
                                               bool accumulate, index_t rows, index_t cols) {
  sgemm_subtiles<simd8, 6, 2>(kc, ap, bp, c, ldc, accumulate, rows, cols);
}
inline void sgemm_kernel_generic(index_t kc, const float* ap, const float* bp, float* c, index_t ldc, bool accumulate,
                                 index_t rows, index_t cols) {
  sgemm_subtiles<simd4, 6, 2>(kc, ap, bp, c, ldc, accumulate, rows, cols);
}

using sgemm_kernel_fn = void (*)(index_t, const float*, const float*, float*, index_t, bool, index_t, index_t);

/// The micro-kernel of the active instruction set (core/isa.hpp).
inline sgemm_kernel_fn sgemm_kernel_for(isa s) {
  return pick_isa<sgemm_kernel_fn>(s, sgemm_kernel_avx512, sgemm_kernel_avx2, sgemm_kernel_generic);
}
inline sgemm_kernel_fn sgemm_kernel() { return sgemm_kernel_for(active_isa()); }

/// Which GEMM the kernels run now, for benchmark and report headers.
inline const char* sgemm_path() {
  return pick_isa(active_isa(), "packed 12x32, AVX-512 micro-kernel", "packed 12x32, AVX2 6x16 sub-tiles",
                  "packed 12x32, generic 128-bit 6x8 sub-tiles");
}

/// The k block of sgemm_blocked for a product over k: k in equal blocks of at most sgemm_kc,
/// rounded up to a multiple of 4 (the last block takes the rest). A function of k alone, so the
/// sums' order, and so the bits, do not depend on the threads or the column split.
constexpr index_t sgemm_k_block(index_t k) {
  if (k <= 0) return sgemm_kc;
  const index_t blocks = (k + sgemm_kc - 1) / sgemm_kc;
  return ((k + blocks - 1) / blocks + 3) / 4 * 4;
}

/// The blocked loop nest; pack_a(i0, mc, l0, kc, ap) packs A[i0 : i0 + mc, l0 : l0 + kc] as
/// sgemm_pack_a does and pack_b(l0, kc, j0, nc, bp) packs B[l0 : l0 + kc, j0 : j0 + nc].
template <class PackA, class PackB>
inline void sgemm_blocked(index_t m, index_t n, index_t k, const PackA& pack_a, const PackB& pack_b, float* c,
                          index_t ldc, bool accumulate) {
  if (k == 0) {
    if (!accumulate)
      for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  const sgemm_kernel_fn kernel = sgemm_kernel();
  const index_t kstep = sgemm_k_block(k);
  float* bp = conv_workspace(sgemm_kc * (sgemm_nc + sgemm_nr), 2);
  float* ap = conv_workspace((sgemm_mc + sgemm_mr) * sgemm_kc, 3);
  for (index_t jc = 0; jc < n; jc += sgemm_nc) {
    const index_t nc = std::min(sgemm_nc, n - jc);
    for (index_t pc = 0; pc < k; pc += kstep) {
      const index_t kc = std::min(kstep, k - pc);
      const bool acc = accumulate || pc > 0;
      pack_b(pc, kc, jc, nc, bp);
      for (index_t ic = 0; ic < m; ic += sgemm_mc) {
        const index_t mc = std::min(sgemm_mc, m - ic);
        pack_a(ic, mc, pc, kc, ap);
        for (index_t jr = 0; jr < nc; jr += sgemm_nr)
          for (index_t ir = 0; ir < mc; ir += sgemm_mr)
            kernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, acc, std::min(sgemm_mr, mc - ir),
                   std::min(sgemm_nr, nc - jr));
      }
    }
  }
}

/// pack_a for sgemm_blocked on a whole strided operand.
inline auto sgemm_packer(mat_ref a) {
  return [a](index_t i0, index_t mc, index_t l0, index_t kc, float* ap) { sgemm_pack_a(a, i0, mc, l0, kc, ap); };
}

/// C (m x n, leading dimension ldc) = A B, or += A B when `accumulate`; A is m x k, B is k x n.
/// Single-threaded: the convolution kernels call it from their own parallel loops.
inline void sgemm(index_t m, index_t n, index_t k, mat_ref a, mat_ref b, float* c, index_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  sgemm_blocked(m, n, k, sgemm_packer(a), [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) { sgemm_pack_b(b, l0, kc, j0, nc, bp); },
                c, ldc, accumulate);
}

/// The body of sgemm_nt_long_k: MB x NB blocks of V-wide dot products along k (edge rows repeat
/// the last row and are dropped), over k blocks that keep both operands in L2.
template <class V, int MB, int NB>
[[gnu::always_inline]] inline void sgemm_nt_long_k_body(index_t m, index_t n, index_t k, const float* a, index_t lda,
                                                        const float* b, index_t ldb, float* c, index_t ldc) {
  constexpr index_t w = sizeof(V) / sizeof(float), kb = 1024;
  for (index_t l0 = 0; l0 < k; l0 += kb) {
    const index_t l1 = std::min(k, l0 + kb), lv = l0 + (l1 - l0) / w * w;
    for (index_t i0 = 0; i0 < m; i0 += MB)
      for (index_t j0 = 0; j0 < n; j0 += NB) {
        const float* ar[MB];
        const float* br[NB];
        for (index_t i = 0; i < MB; ++i) ar[i] = a + std::min(i0 + i, m - 1) * lda;
        for (index_t j = 0; j < NB; ++j) br[j] = b + std::min(j0 + j, n - 1) * ldb;
        V acc[MB][NB] = {};
        for (index_t l = l0; l < lv; l += w) {
          V av[MB], bv[NB];
          for (index_t i = 0; i < MB; ++i) std::memcpy(&av[i], ar[i] + l, sizeof(V));
          for (index_t j = 0; j < NB; ++j) std::memcpy(&bv[j], br[j] + l, sizeof(V));
          for (index_t i = 0; i < MB; ++i)
            for (index_t j = 0; j < NB; ++j) acc[i][j] += av[i] * bv[j];
        }
        for (index_t i = 0; i < std::min<index_t>(MB, m - i0); ++i)
          for (index_t j = 0; j < std::min<index_t>(NB, n - j0); ++j) {
            float s = 0;
            for (index_t e = 0; e < w; ++e) s += acc[i][j][e];
            for (index_t l = lv; l < l1; ++l) s += ar[i][l] * br[j][l];
            c[(i0 + i) * ldc + j0 + j] += s;
          }
      }
  }
}
WSSS_TARGET_AVX512 inline void sgemm_nt_long_k_avx512(index_t m, index_t n, index_t k, const float* a, index_t lda,
                                                      const float* b, index_t ldb, float* c, index_t ldc) {
  sgemm_nt_long_k_body<simd16, 4, 4>(m, n, k, a, lda, b, ldb, c, ldc);
}
WSSS_TARGET_AVX2 inline void sgemm_nt_long_k_avx2(index_t m, index_t n, index_t k, const float* a, index_t lda,
                                                  const float* b, index_t ldb, float* c, index_t ldc) {
  sgemm_nt_long_k_body<simd8, 4, 2>(m, n, k, a, lda, b, ldb, c, ldc);
}
inline void sgemm_nt_long_k_generic(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b,
                                    index_t ldb, float* c, index_t ldc) {
  sgemm_nt_long_k_body<simd4, 4, 2>(m, n, k, a, lda, b, ldb, c, ldc);
}

/// C (m x n, ldc) += A B^T for A (m x k) and B (n x k), both with k contiguous: the long-k,
/// small-m-n product of a thin weight gradient (the first layer: 64 x 27 over 10^5 pixels), where
/// packing would cost as much as the multiplies.
inline void sgemm_nt_long_k(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb,
                            float* c, index_t ldc) {
  pick_isa(active_isa(), sgemm_nt_long_k_avx512, sgemm_nt_long_k_avx2, sgemm_nt_long_k_generic)(m, n, k, a, lda, b, ldb, c,
                                                                                             ldc);
}

/// C (m x n) (+)= A (m x g.rows()) times columns [p0, p0 + n) of the lowering of img, written
/// straight into the packed B panels (no column buffer: im2col and packing are one pass).
inline void sgemm_lowered(index_t m, index_t n, mat_ref a, const conv_geometry& g, const float* img, index_t p0,
                          float* c, index_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  sgemm_blocked(
      m, n, g.rows(), sgemm_packer(a),
      [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) { im2col_panels(g, img, l0, kc, p0 + j0, nc, sgemm_nr, bp); },
      c, ldc, accumulate);
}

/// C (m x rt) (+)= A (m x k) times the transpose of the lowering's rows [r0, r0 + rt) over
/// columns [q0, q0 + k): the weight-gradient product. Each 32-row panel is lowered into a small
/// L1 tile and transposed into the packed B panel (no column buffer).
inline void sgemm_lowered_t(index_t m, index_t rt, index_t k, mat_ref a, const conv_geometry& g, const float* img,
                            index_t r0, index_t q0, float* c, index_t ldc, bool accumulate) {
  if (m == 0 || rt == 0) return;
  sgemm_blocked(
      m, rt, k, sgemm_packer(a),
      [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) {
        alignas(64) float tile[sgemm_nr * sgemm_kc];
        for (index_t jr = 0; jr < nc; jr += sgemm_nr) {
          const index_t rows = std::min(sgemm_nr, nc - jr);
          const index_t first = r0 + j0 + jr;
          const im2col_kernel lower{g, img, tile, q0 + l0, q0 + l0 + kc, first, kc};
          for (index_t j = 0; j < rows; ++j) lower(first + j);
          sgemm_pack_b({tile, 1, kc}, 0, kc, 0, rows, bp + jr * kc);  // the tile is lowered rows x kc
        }
      },
      c, ldc, accumulate);
}

}  // namespace wsss::ad::detail
