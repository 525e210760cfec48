// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/sgemm.hpp — the single-threaded float GEMM under the convolutions:
// C (+)= A B on strided operands. With AVX-512, a packed, cache-blocked kernel in the manner of
// Goto & van de Geijn (2008) / BLIS; otherwise Eigen's product on strided maps.
#pragma once

#include <algorithm>
#include <cstring>

#include <Eigen/Core>

#include "wsss/autodiff/ops/detail/im2col.hpp"

// WSSS_PORTABLE_SGEMM forces Eigen's product even where AVX-512 is available (for comparisons).
#if defined(__AVX512F__) && !defined(WSSS_PORTABLE_SGEMM)
#define WSSS_PACKED_SGEMM 1
#include <immintrin.h>
#endif

namespace wsss::ad::detail {

/// Which GEMM this translation unit compiled, for benchmark and report headers.
inline constexpr const char* sgemm_path =
#if defined(WSSS_PACKED_SGEMM)
    "packed AVX-512 12x32 micro-kernel";
#else
    "Eigen product";
#endif

/// A strided matrix operand: element (i, j) is p[i * rs + j * cs].
struct mat_ref {
  const float* p;
  index_t rs, cs;
};

/// Eigen's product on the same strided operands (the portable path, and the reference the
/// tests compare the packed kernel with).
inline void sgemm_eigen(index_t m, index_t n, index_t k, mat_ref a, mat_ref b, float* c, index_t ldc, bool accumulate) {
  using rmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Map<const rmat, Eigen::Unaligned, stride> am(a.p, m, k, stride(a.rs, a.cs)), bm(b.p, k, n, stride(b.rs, b.cs));
  Eigen::Map<rmat, Eigen::Unaligned, Eigen::OuterStride<>> cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (accumulate) cm.noalias() += am * bm;
  else cm.noalias() = am * bm;
}

#if defined(WSSS_PACKED_SGEMM)

// Register tile 12 x 32: 24 zmm accumulators, two B vectors, one broadcast. Blocks: a kc x 32
// panel of B (24 KiB) stays in L1, an mc x kc block of A (90 KiB) in L2, kc x nc of B in L3.
inline constexpr index_t sgemm_mr = 12, sgemm_nr = 32, sgemm_kc = 192, sgemm_mc = 120, sgemm_nc = 1536;

/// Packs A[i0 : i0 + mc, l0 : l0 + kc] into mr-row panels, column by column (zero-padded rows).
inline void sgemm_pack_a(mat_ref a, index_t i0, index_t mc, index_t l0, index_t kc, float* ap) {
  constexpr index_t mr = sgemm_mr;
  for (index_t ir = 0; ir < mc; ir += mr) {
    const index_t rows = std::min(mr, mc - ir);
    float* dst = ap + ir * kc;
    if (a.cs == 1) {
      for (index_t r = 0; r < rows; ++r) {
        const float* src = a.p + (i0 + ir + r) * a.rs + l0;
        for (index_t l = 0; l < kc; ++l) dst[l * mr + r] = src[l];
      }
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
      for (index_t l = 0; l < kc; ++l) {
        std::memcpy(dst + l * nr, b.p + (l0 + l) * b.rs + j0 + jr, static_cast<std::size_t>(cols) * sizeof(float));
        std::fill(dst + l * nr + cols, dst + (l + 1) * nr, 0.0f);
      }
    } else {
      for (index_t j = 0; j < cols; ++j) {
        const float* src = b.p + (j0 + jr + j) * b.cs + l0 * b.rs;
        for (index_t l = 0; l < kc; ++l) dst[l * nr + j] = src[l * b.rs];
      }
      for (index_t l = 0; l < kc; ++l) std::fill(dst + l * nr + cols, dst + (l + 1) * nr, 0.0f);
    }
  }
}

/// C[0 : rows, 0 : cols] (+)= packed A panel x packed B panel over kc, computing the first R
/// rows of the panel only (rows <= R): the edge panel of a 64-row product is 4 rows, and a full
/// 12-row tile would spend a third of its multiplies on the zero padding.
template <int R>
inline void sgemm_kernel_rows(index_t kc, const float* ap, const float* bp, float* c, index_t ldc, bool accumulate,
                              index_t rows, index_t cols) {
  __m512 acc[R][2];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (index_t l = 0; l < kc; ++l) {
    const __m512 b0 = _mm512_load_ps(bp + l * sgemm_nr);
    const __m512 b1 = _mm512_load_ps(bp + l * sgemm_nr + 16);
    const float* a = ap + l * sgemm_mr;
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  if (rows == R && cols == sgemm_nr) {
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      float* cr = c + r * ldc;
      if (accumulate) {
        _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), acc[r][0]));
        _mm512_storeu_ps(cr + 16, _mm512_add_ps(_mm512_loadu_ps(cr + 16), acc[r][1]));
      } else {
        _mm512_storeu_ps(cr, acc[r][0]);
        _mm512_storeu_ps(cr + 16, acc[r][1]);
      }
    }
    return;
  }
  alignas(64) float tile[R * sgemm_nr];
  for (int r = 0; r < R; ++r) {
    _mm512_store_ps(tile + r * sgemm_nr, acc[r][0]);
    _mm512_store_ps(tile + r * sgemm_nr + 16, acc[r][1]);
  }
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + tile[r * sgemm_nr + j];
}

/// C[0 : rows, 0 : cols] (+)= packed A panel x packed B panel over kc (rows <= 12).
inline void sgemm_kernel(index_t kc, const float* ap, const float* bp, float* c, index_t ldc, bool accumulate,
                         index_t rows, index_t cols) {
  if (rows <= 4) sgemm_kernel_rows<4>(kc, ap, bp, c, ldc, accumulate, rows, cols);
  else if (rows <= 8) sgemm_kernel_rows<8>(kc, ap, bp, c, ldc, accumulate, rows, cols);
  else sgemm_kernel_rows<12>(kc, ap, bp, c, ldc, accumulate, rows, cols);
}

#endif  // WSSS_PACKED_SGEMM

#if defined(WSSS_PACKED_SGEMM)
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
  float* bp = conv_workspace(sgemm_kc * (sgemm_nc + sgemm_nr), 2);
  float* ap = conv_workspace((sgemm_mc + sgemm_mr) * sgemm_kc, 3);
  for (index_t jc = 0; jc < n; jc += sgemm_nc) {
    const index_t nc = std::min(sgemm_nc, n - jc);
    for (index_t pc = 0; pc < k; pc += sgemm_kc) {
      const index_t kc = std::min(sgemm_kc, k - pc);
      const bool acc = accumulate || pc > 0;
      pack_b(pc, kc, jc, nc, bp);
      for (index_t ic = 0; ic < m; ic += sgemm_mc) {
        const index_t mc = std::min(sgemm_mc, m - ic);
        pack_a(ic, mc, pc, kc, ap);
        for (index_t jr = 0; jr < nc; jr += sgemm_nr)
          for (index_t ir = 0; ir < mc; ir += sgemm_mr)
            sgemm_kernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, acc,
                         std::min(sgemm_mr, mc - ir), std::min(sgemm_nr, nc - jr));
      }
    }
  }
}

/// pack_a for sgemm_blocked on a whole strided operand.
inline auto sgemm_packer(mat_ref a) {
  return [a](index_t i0, index_t mc, index_t l0, index_t kc, float* ap) { sgemm_pack_a(a, i0, mc, l0, kc, ap); };
}
#endif

/// C (m x n, leading dimension ldc) = A B, or += A B when `accumulate`; A is m x k, B is k x n.
/// Single-threaded: the convolution kernels call it from their own parallel loops.
inline void sgemm(index_t m, index_t n, index_t k, mat_ref a, mat_ref b, float* c, index_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
#if defined(WSSS_PACKED_SGEMM)
  sgemm_blocked(m, n, k, sgemm_packer(a), [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) { sgemm_pack_b(b, l0, kc, j0, nc, bp); },
                c, ldc, accumulate);
#else
  sgemm_eigen(m, n, k, a, b, c, ldc, accumulate);
#endif
}

/// C (m x n, ldc) += A B^T for A (m x k) and B (n x k), both with k contiguous: the long-k,
/// small-m-n product of a thin weight gradient (the first layer: 64 x 27 over 10^5 pixels), where
/// packing would cost as much as the multiplies. 4 x 4 blocks of 16-lane dot products (edge rows
/// repeat the last row and are dropped), over k blocks that keep both operands in L2.
inline void sgemm_nt_long_k(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb,
                            float* c, index_t ldc) {
  using v16 = float __attribute__((vector_size(64)));
  constexpr index_t mb = 4, nb = 4, kb = 1024;
  for (index_t l0 = 0; l0 < k; l0 += kb) {
    const index_t l1 = std::min(k, l0 + kb), lv = l0 + (l1 - l0) / 16 * 16;
    for (index_t i0 = 0; i0 < m; i0 += mb)
      for (index_t j0 = 0; j0 < n; j0 += nb) {
        const float* ar[mb];
        const float* br[nb];
        for (index_t i = 0; i < mb; ++i) ar[i] = a + std::min(i0 + i, m - 1) * lda;
        for (index_t j = 0; j < nb; ++j) br[j] = b + std::min(j0 + j, n - 1) * ldb;
        v16 acc[mb][nb] = {};
        for (index_t l = l0; l < lv; l += 16) {
          v16 av[mb], bv[nb];
          for (index_t i = 0; i < mb; ++i) std::memcpy(&av[i], ar[i] + l, sizeof(v16));
          for (index_t j = 0; j < nb; ++j) std::memcpy(&bv[j], br[j] + l, sizeof(v16));
          for (index_t i = 0; i < mb; ++i)
            for (index_t j = 0; j < nb; ++j) acc[i][j] += av[i] * bv[j];
        }
        for (index_t i = 0; i < std::min(mb, m - i0); ++i)
          for (index_t j = 0; j < std::min(nb, n - j0); ++j) {
            float s = 0;
            for (int e = 0; e < 16; ++e) s += acc[i][j][e];
            for (index_t l = lv; l < l1; ++l) s += ar[i][l] * br[j][l];
            c[(i0 + i) * ldc + j0 + j] += s;
          }
      }
  }
}

/// The column buffer sgemm_lowered needs: none with the packed kernel (it lowers into its panels).
inline float* conv_lowering_buffer(index_t n) {
#if defined(WSSS_PACKED_SGEMM)
  (void)n;
  return nullptr;
#else
  return conv_workspace(n);
#endif
}

/// C (m x n) (+)= A (m x g.rows()) times columns [p0, p0 + n) of the lowering of img. With the
/// packed kernel the lowering is written straight into the packed B panels (no column buffer:
/// im2col and packing become one pass); otherwise it goes through `col` (g.rows() x n floats).
inline void sgemm_lowered(index_t m, index_t n, mat_ref a, const conv_geometry& g, const float* img, index_t p0,
                          float* c, index_t ldc, bool accumulate, float* col) {
  if (m == 0 || n == 0) return;
#if defined(WSSS_PACKED_SGEMM)
  (void)col;
  sgemm_blocked(
      m, n, g.rows(), sgemm_packer(a),
      [&](index_t l0, index_t kc, index_t j0, index_t nc, float* bp) { im2col_panels(g, img, l0, kc, p0 + j0, nc, sgemm_nr, bp); },
      c, ldc, accumulate);
#else
  im2col(g, img, col, 0, g.rows(), p0, p0 + n);
  sgemm(m, n, g.rows(), a, {col, n, 1}, c, ldc, accumulate);
#endif
}

/// C (m x rt) (+)= A (m x k) times the transpose of the lowering's rows [r0, r0 + rt) over
/// columns [q0, q0 + k): the weight-gradient product. With the packed kernel each 32-row panel is
/// lowered into a small L1 tile and transposed into the packed B panel (no column buffer);
/// otherwise it goes through `col` (rt x k floats).
inline void sgemm_lowered_t(index_t m, index_t rt, index_t k, mat_ref a, const conv_geometry& g, const float* img,
                            index_t r0, index_t q0, float* c, index_t ldc, bool accumulate, float* col) {
  if (m == 0 || rt == 0) return;
#if defined(WSSS_PACKED_SGEMM)
  (void)col;
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
#else
  im2col(g, img, col, r0, r0 + rt, q0, q0 + k);
  sgemm(m, rt, k, a, {col, 1, k}, c, ldc, accumulate);
#endif
}

}  // namespace wsss::ad::detail
