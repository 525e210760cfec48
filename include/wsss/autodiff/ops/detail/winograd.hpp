// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/detail/winograd.hpp — Winograd minimal filtering F(4x4, 3x3) (Lavin & Gray
// 2016, eq. 8: Y = A^T [(G g G^T) ⊙ (B^T d B)] A) for the three products of a 3x3, stride-1
// convolution with any padding and dilation: forward, data gradient (the forward of the flipped
// kernel) and weight gradient (the adjoint of the tile map, dg = G^T [sum (B^T d B) ⊙ (A dY A^T)] G).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "wsss/autodiff/ops/detail/im2col.hpp"
#include "wsss/autodiff/ops/detail/sgemm.hpp"
#include "wsss/backend/for_each_index.hpp"  // backend::max_threads

namespace wsss::ad::detail {

/// Output tile, kernel and input tile sizes of F(4x4, 3x3); 36 products per tile.
inline constexpr int wino_m = 4, wino_r = 3, wino_n = wino_m + wino_r - 1, wino_nn = wino_n * wino_n;

/// Which algorithm the 3x3 stride-1 products use: `automatic` picks Winograd where it wins
/// (wino_wins), the others force a path wherever it applies (the tests compare both).
enum class conv_algorithm { automatic, im2col, winograd };
inline conv_algorithm& conv_algorithm_override() {
  thread_local conv_algorithm a = conv_algorithm::automatic;
  return a;
}

template <int R, int C>
struct wino_matrix {
  static constexpr int rows = R, cols = C;
  float v[R][C];
};

/// Interpolation points of the Toom-Cook construction (the sixth is infinity): 0, ±1, ±2
/// (Lavin & Gray) measured a slightly smaller fp32 error than 0, ±1, ±1/2 (docs/conv.md).
inline constexpr double wino_points[wino_n - 1] = {0.0, 1.0, -1.0, 2.0, -2.0};

/// A^T (4 x 6): A^T[i][j] = p_j^i; the point at infinity contributes to the last output only.
constexpr wino_matrix<wino_m, wino_n> wino_make_at() {
  wino_matrix<wino_m, wino_n> a{};
  for (int j = 0; j < wino_n - 1; ++j) {
    double p = 1;
    for (int i = 0; i < wino_m; ++i, p *= wino_points[j]) a.v[i][j] = static_cast<float>(p);
  }
  a.v[wino_m - 1][wino_n - 1] = 1;
  return a;
}
/// G (6 x 3): G[j][k] = p_j^k / prod_{l != j} (p_j - p_l); the last row picks g's last tap.
constexpr wino_matrix<wino_n, wino_r> wino_make_g() {
  wino_matrix<wino_n, wino_r> g{};
  for (int j = 0; j < wino_n - 1; ++j) {
    double f = 1;
    for (int l = 0; l < wino_n - 1; ++l)
      if (l != j) f *= wino_points[j] - wino_points[l];
    double p = 1;
    for (int k = 0; k < wino_r; ++k, p *= wino_points[j]) g.v[j][k] = static_cast<float>(p / f);
  }
  g.v[wino_n - 1][wino_r - 1] = 1;
  return g;
}
/// B^T (6 x 6): row j < 5 holds the coefficients (increasing powers) of prod_{l != j} (x - p_l),
/// the last row those of prod_l (x - p_l).
constexpr wino_matrix<wino_n, wino_n> wino_make_bt() {
  wino_matrix<wino_n, wino_n> b{};
  for (int j = 0; j < wino_n; ++j) {
    double c[wino_n] = {1, 0, 0, 0, 0, 0};
    int deg = 0;
    for (int l = 0; l < wino_n - 1; ++l) {
      if (l == j) continue;
      for (int k = deg + 1; k > 0; --k) c[k] = c[k - 1] - wino_points[l] * c[k];
      c[0] = -wino_points[l] * c[0];
      ++deg;
    }
    for (int k = 0; k < wino_n; ++k) b.v[j][k] = static_cast<float>(c[k]);
  }
  return b;
}
template <int R, int C>
constexpr wino_matrix<C, R> wino_transpose(const wino_matrix<R, C>& m) {
  wino_matrix<C, R> t{};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) t.v[j][i] = m.v[i][j];
  return t;
}
inline constexpr wino_matrix<wino_m, wino_n> wino_at = wino_make_at();
inline constexpr wino_matrix<wino_n, wino_m> wino_a = wino_transpose(wino_at);
inline constexpr wino_matrix<wino_n, wino_r> wino_g = wino_make_g();
inline constexpr wino_matrix<wino_r, wino_n> wino_gt = wino_transpose(wino_g);
inline constexpr wino_matrix<wino_n, wino_n> wino_bt = wino_make_bt();

/// 16 tiles (or channels) transformed at once, one per lane.
inline constexpr int wino_lanes = 16;
using wino_vec = float __attribute__((vector_size(wino_lanes * sizeof(float))));

template <const auto& T, int I, int J>
constexpr bool wino_first_nonzero() {
  for (int k = 0; k < J; ++k)
    if (T.v[I][k] != 0) return false;
  return T.v[I][J] != 0;
}
/// acc (+)= T[I][J] x, with the zero entries skipped at compile time.
template <const auto& T, int I, int J>
inline void wino_term(wino_vec& acc, const wino_vec& x) {
  constexpr float c = T.v[I][J];
  if constexpr (c == 0.0f) {
  } else if constexpr (wino_first_nonzero<T, I, J>()) {
    acc = c * x;
  } else {
    acc += c * x;
  }
}

/// dst[c sd] = sum_J T[I][J] src[J sj + c ss] for c < count (row I of T applied to count vectors).
template <const auto& T, int I, int... J>
inline void wino_apply_row(const wino_vec* src, int sj, int ss, wino_vec* dst, int sd, int count,
                           std::integer_sequence<int, J...>) {
  for (int c = 0; c < count; ++c) (wino_term<T, I, J>(dst[c * sd], src[J * sj + c * ss]), ...);
}
template <const auto& T, int... I>
inline void wino_apply(const wino_vec* src, int sj, int ss, wino_vec* dst, int si, int sd, int count,
                       std::integer_sequence<int, I...>) {
  constexpr int K = std::remove_cvref_t<decltype(T)>::cols;
  (wino_apply_row<T, I>(src, sj, ss, dst + I * si, sd, count, std::make_integer_sequence<int, K>{}), ...);
}

/// The one tile transform: out (R x R) = T in T^T for in (K x K), T (R x K), row-major arrays of
/// vectors. With T = B^T, A^T, G, G^T or A it is each of the five transforms.
template <const auto& T>
inline void wino_transform(const wino_vec* in, wino_vec* out) {
  constexpr int R = std::remove_cvref_t<decltype(T)>::rows, K = std::remove_cvref_t<decltype(T)>::cols;
  wino_vec tmp[R * K];
  wino_apply<T>(in, K, 1, tmp, K, 1, K, std::make_integer_sequence<int, R>{});   // tmp = T in
  wino_apply<T>(tmp, 1, K, out, 1, R, R, std::make_integer_sequence<int, R>{});  // out = tmp T^T
}

inline wino_vec wino_load(const float* p) {
  wino_vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void wino_store(float* p, const wino_vec& v) { std::memcpy(p, &v, sizeof v); }

/// One product in Winograd form: c input channels of h x w planes are summed into o output
/// channels of oh x ow planes; output (y, x), tap (i, j) reads input (y - ph + i dh, x - pw + j dw)
/// (zero outside; ph may be negative). Tiles: along each axis, the outputs of phase a < d
/// (a, a + d, ...) in runs of 4, so a tile's inputs lie on the same phase grid, step d.
struct wino_plan {
  index_t c = 0, o = 0, h = 0, w = 0, oh = 0, ow = 0, ph = 0, pw = 0, dh = 1, dw = 1;
  std::vector<index_t> ty, tx;  // first output row / column of each tile row / column

  index_t tiles() const noexcept { return static_cast<index_t>(ty.size() * tx.size()); }
};

inline std::vector<index_t> wino_axis_tiles(index_t out, index_t d) {
  std::vector<index_t> t;
  for (index_t a = 0; a < std::min(d, out); ++a)
    for (index_t s = a; s < out; s += wino_m * d) t.push_back(s);
  return t;
}

inline wino_plan wino_make_plan(index_t c, index_t o, index_t h, index_t w, index_t oh, index_t ow, index_t ph,
                                index_t pw, index_t dh, index_t dw) {
  return {c, o, h, w, oh, ow, ph, pw, dh, dw, wino_axis_tiles(oh, dh), wino_axis_tiles(ow, dw)};
}
/// The forward of g with o output channels.
inline wino_plan wino_forward_plan(const conv_geometry& g, index_t o) {
  return wino_make_plan(g.c, o, g.h, g.w, g.oh, g.ow, g.ph, g.pw, g.dh, g.dw);
}
/// The data gradient of g as a forward: gy (o channels) to gx (g.c channels), kernel flipped,
/// padding d (k - 1) - pad.
inline wino_plan wino_data_plan(const conv_geometry& g, index_t o) {
  return wino_make_plan(o, g.c, g.oh, g.ow, g.h, g.w, 2 * g.dh - g.ph, 2 * g.dw - g.pw, g.dh, g.dw);
}

/// Winograd applies to 3x3 stride-1 kernels only.
inline bool wino_applies(const conv_geometry& g) { return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1; }

/// The product a Winograd plan would compute (where it wins differs, see wino_wins).
enum class wino_product { forward, data, weight };

/// Where Winograd wins over `batch` images (measured, docs/conv.md): enough channels that the
/// GEMMs dominate the tile transforms (c o >= 16 (c + o)), and tiles at least half full (36
/// products per tile against 9 per output on the im2col path: sparse tiles of a large dilation
/// on a small map lose). The forward and data products of narrow layers (c o < 32 (c + o), e.g.
/// 32 -> 32) lose on mid-sized maps (at least 512 pixels an image, under 1024 tiles in all):
/// there im2col's GEMMs are long enough, and Winograd's fixed costs are not yet shared. 32 -> 32
/// forward / data, ms on Winograd vs im2col (AMD EPYC, 2 threads, 2026-12-06): 28 x 28 0.21 /
/// 0.21 vs 0.16 / 0.16; 56 x 56 0.59-0.67 / 0.59-0.67 vs 0.42-0.72 / 0.46-0.49; 112 x 112 2.5 /
/// 2.8 vs 1.6 / 1.8; 8 x 56 x 56 2.7 / 2.7 vs 4.8 / 3.8; 161 x 161 2.8 / 2.8 vs 3.3 / 3.5;
/// 8 x 16 x 16 even (0.43 / 0.45 vs 0.40 / 0.45). The weight gradient wins on all of them.
inline bool wino_wins(const wino_plan& p, wino_product k, index_t batch = 1) {
  if (p.c * p.o < 16 * (p.c + p.o) || 8 * p.tiles() > p.oh * p.ow) return false;
  if (k == wino_product::weight || p.c * p.o >= 32 * (p.c + p.o)) return true;
  return p.oh * p.ow < 512 || batch * p.tiles() >= 1024;
}
inline bool wino_use(const conv_geometry& g, const wino_plan& p, wino_product k, index_t batch) {
  const conv_algorithm a = conv_algorithm_override();
  if (!wino_applies(g) || a == conv_algorithm::im2col) return false;
  return a == conv_algorithm::winograd || wino_wins(p, k, batch);
}

/// Grow-only buffers of the calling thread shared by the team during one product (0: transformed
/// weights, 1: transformed inputs, 2: transformed outputs, 3: weight-gradient sums).
struct wino_buffer_owner {};
inline float* wino_buffer(index_t n, int slot) { return thread_scratch<wino_buffer_owner>(n, slot); }

/// Fills in (K x K vectors) with, on lane l < n, the K x K window of plane `at(l).p` whose first
/// entry is (at(l).y, at(l).x), step (dy, dx), zero outside h x w; lanes from n on are zero.
struct wino_lane {
  const float* p;
  index_t y, x;
};
template <int K, class At>
inline void wino_gather(index_t n, index_t h, index_t w, index_t dy, index_t dx, const At& at, wino_vec* in) {
  alignas(64) float buf[K * K * wino_lanes];
  for (index_t l = 0; l < wino_lanes; ++l) {
    if (l >= n) {
      for (int k = 0; k < K * K; ++k) buf[k * wino_lanes + l] = 0.0f;
      continue;
    }
    const wino_lane a = at(l);
    if (a.y >= 0 && a.y + (K - 1) * dy < h && a.x >= 0 && a.x + (K - 1) * dx < w) {
      for (int s = 0; s < K; ++s) {
        const float* row = a.p + (a.y + s * dy) * w + a.x;
        for (int t = 0; t < K; ++t) buf[(s * K + t) * wino_lanes + l] = row[t * dx];
      }
      continue;
    }
    for (int s = 0; s < K; ++s) {
      const index_t iy = a.y + s * dy;
      for (int t = 0; t < K; ++t) {
        const index_t ix = a.x + t * dx;
        buf[(s * K + t) * wino_lanes + l] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? a.p[iy * w + ix] : 0.0f;
      }
    }
  }
  for (int k = 0; k < K * K; ++k) in[k] = wino_load(buf + k * wino_lanes);
}

/// Tiles per block: the transformed inputs and outputs of a block (36 (c + o) floats per tile)
/// stay within about wino_block_floats (in cache between the transforms and the GEMMs), at least
/// 64 tiles so that the weights streamed once per block are used 64 times; blocks of equal size,
/// a multiple of the GEMM's 32-column panel.
inline constexpr index_t wino_block_floats = index_t{1} << 21;
inline index_t wino_block_tiles(index_t per_tile, index_t total) {
  index_t tb = std::clamp<index_t>(wino_block_floats / (wino_nn * per_tile) / 32 * 32, 64, 1024);
  const index_t blocks = (total + tb - 1) / tb;
  tb = (total + blocks - 1) / blocks;
  return (tb + 31) / 32 * 32;
}

/// Columns (tiles) of one panel of transformed inputs: the GEMM's 32-column panel.
inline constexpr index_t wino_panel = 32;
static_assert(sgemm_nr == wino_panel, "the transformed-input panels are the sgemm kernel's packed-B panels");
/// Transformed weights in the packed-A layout of the sgemm kernel: for each of the 36 products,
/// kc-blocks of the input channels, each as 12-row panels of output channels (zero rows past o).
/// The input channels of one pass of the transformed products (a multiple of 16, see below):
/// its own constant since the GEMM's k block grew to 512. 512 here measured alike (the 3x3 rows
/// of bench_nn at 64-512 channels and the wide block within +-2%, AMD EPYC Zen 4, 2026-12-07).
inline constexpr index_t wino_kc = 192;
inline index_t wino_u_rows(index_t o) { return (o + sgemm_mr - 1) / sgemm_mr * sgemm_mr; }
inline constexpr index_t wino_u_step = sgemm_mr;  // offset between consecutive input channels
inline index_t wino_u_offset(const wino_plan& p, index_t xi, index_t oo, index_t cc) {
  const index_t op = wino_u_rows(p.o), pc = cc / wino_kc * wino_kc, kc = std::min(wino_kc, p.c - pc);
  return xi * op * p.c + pc * op + oo / sgemm_mr * sgemm_mr * kc + (cc - pc) * sgemm_mr + oo % sgemm_mr;
}

/// u = G g G^T for every (output channel oo, input channel cc) of p, g(i, j) = w[oo so + cc sc +
/// i si + j sj] (negative si, sj read the kernel flipped).
inline void wino_transform_weights(const wino_plan& p, const float* w, index_t so, index_t sc, index_t si, index_t sj,
                                   float* u, [[maybe_unused]] index_t threads) {
  const index_t rows = wino_u_rows(p.o), groups = (p.c + wino_lanes - 1) / wino_lanes;
  const std::int64_t units = rows * groups;
#pragma omp parallel for schedule(static) if (threads > 1)
  for (std::int64_t k = 0; k < units; ++k) {
    const index_t oo = k / groups, c0 = k % groups * wino_lanes;
    const index_t n = oo < p.o ? std::min<index_t>(wino_lanes, p.c - c0) : 0;
    wino_vec in[wino_r * wino_r], out[wino_nn];
    alignas(64) float buf[wino_r * wino_r * wino_lanes];
    for (index_t l = 0; l < wino_lanes; ++l)
      for (int i = 0; i < wino_r; ++i)
        for (int j = 0; j < wino_r; ++j)
          buf[(i * wino_r + j) * wino_lanes + l] = l < n ? w[oo * so + (c0 + l) * sc + i * si + j * sj] : 0.0f;
    for (int e = 0; e < wino_r * wino_r; ++e) in[e] = wino_load(buf + e * wino_lanes);
    wino_transform<wino_g>(in, out);
    const index_t lanes = std::min<index_t>(wino_lanes, p.c - c0);
    // 16 | kc, so the lanes share one kc block: consecutive channels are wino_u_step apart.
    for (int xi = 0; xi < wino_nn; ++xi) {
      float* dst = u + wino_u_offset(p, xi, oo, c0);
      for (index_t l = 0; l < lanes; ++l) dst[l * wino_u_step] = out[xi][l];
    }
  }
}

/// Global tile gt (image gt / tiles): the offset of its plane of channel ch (planes of hh x ww,
/// cn channels per image) and its output tile corner minus (sy, sx).
struct wino_pos {
  index_t off, y, x;
};
inline wino_pos wino_tile_pos(const wino_plan& p, index_t cn, index_t ch, index_t hh, index_t ww, index_t gt, index_t sy,
                              index_t sx) {
  const index_t tiles = p.tiles(), nx = static_cast<index_t>(p.tx.size());
  const index_t img = gt / tiles, t = gt % tiles;
  return {(img * cn + ch) * hh * ww, p.ty[static_cast<std::size_t>(t / nx)] - sy, p.tx[static_cast<std::size_t>(t % nx)] - sx};
}
inline wino_lane wino_tile_lane(const wino_plan& p, const float* data, index_t cn, index_t ch, index_t hh, index_t ww,
                                index_t gt, index_t sy, index_t sx) {
  const wino_pos q = wino_tile_pos(p, cn, ch, hh, ww, gt, sy, sx);
  return {data + q.off, q.y, q.x};
}

/// Transformed input tiles B^T d B of channel ch, tiles [t0, t0 + n) (n <= 16), stored by dst(xi).
template <class Dst>
inline void wino_input_tiles(const wino_plan& p, const float* x, index_t ch, index_t t0, index_t n, const Dst& dst) {
  wino_vec in[wino_nn], out[wino_nn];
  wino_gather<wino_n>(n, p.h, p.w, p.dh, p.dw,
                      [&](index_t l) { return wino_tile_lane(p, x, p.c, ch, p.h, p.w, t0 + l, p.ph, p.pw); }, in);
  wino_transform<wino_bt>(in, out);
  for (int xi = 0; xi < wino_nn; ++xi) wino_store(dst(xi), out[xi]);
}

/// How a product's outputs land in y: added to what y holds (store false) or written over it
/// (y need not be initialised; the tiles partition the outputs, so each is written once), then
/// bias[channel] added if given. Storing spares the forward a pass that zeroes y on one thread
/// and a pass that adds the bias on the team, each moving y's lines between the cores.
struct wino_out {
  const float* bias = nullptr;
  bool store = false;
};

/// y (+)= A^T m A (+ bias) on the outputs of n <= 16 tiles from t0, channel oo, m(xi) the 16
/// lanes of product xi.
template <class Src>
inline void wino_output_tiles(const wino_plan& p, float* y, index_t oo, index_t t0, index_t n, const Src& src,
                              const wino_out& how) {
  wino_vec in[wino_nn], out[wino_m * wino_m];
  for (int xi = 0; xi < wino_nn; ++xi) in[xi] = wino_load(src(xi));
  wino_transform<wino_at>(in, out);
  alignas(64) float buf[wino_m * wino_m * wino_lanes];
  for (int e = 0; e < wino_m * wino_m; ++e) wino_store(buf + e * wino_lanes, out[e]);
  for (index_t l = 0; l < n; ++l) {
    const wino_pos a = wino_tile_pos(p, p.o, oo, p.oh, p.ow, t0 + l, 0, 0);
    float* plane = y + a.off;
    for (int u = 0; u < wino_m && a.y + u * p.dh < p.oh; ++u)
      for (int v = 0; v < wino_m && a.x + v * p.dw < p.ow; ++v) {
        float& dst = plane[(a.y + u * p.dh) * p.ow + a.x + v * p.dw];
        float t = buf[(u * wino_m + v) * wino_lanes + l];
        if (!how.store) t = dst + t;
        dst = how.bias ? t + how.bias[oo] : t;
      }
  }
}

/// m[xi] (o x tp) = u[xi] v[xi] for output channels [o0, o1) (o0 a multiple of 12); v holds 32-tile
/// panels of c x 32 (the packed-B layout of every kc block).
inline void wino_gemm(const wino_plan& p, const float* u, const float* v, float* m, index_t tp, index_t xi, index_t o0,
                      index_t o1) {
  const float* vx = v + xi * p.c * tp;
  float* mx = m + xi * p.o * tp;
  const index_t op = wino_u_rows(p.o);
  const sgemm_kernel_fn kernel = sgemm_kernel();
  for (index_t pc = 0; pc < p.c; pc += wino_kc) {
    const index_t kc = std::min(wino_kc, p.c - pc);
    for (index_t ir = o0; ir < o1; ir += sgemm_mr) {
      const float* ap = u + xi * op * p.c + pc * op + ir * kc;
      for (index_t jr = 0; jr < tp; jr += sgemm_nr)
        kernel(kc, ap, vx + jr * p.c + pc * sgemm_nr, mx + ir * tp + jr, tp, pc > 0, std::min(sgemm_mr, o1 - ir),
                     sgemm_nr);
    }
  }
}

/// Tiles per block when the cache-sized blocks are fewer than the threads: the largest multiple
/// of the 32-tile panel for which the blocks, dealt round-robin, give no thread more than 10%
/// over its share (196 tiles on 2 threads: 7 blocks of 32, 100 + 96, where 2 blocks of 128 would
/// be 128 + 68). Each thread then transforms and multiplies only its own tiles: a block shared
/// by the team moves every transformed tile between cores, and on this VM's distant vCPUs that
/// made 32 -> 32 at 56 take 0.73-0.86 ms for the weight gradient on two threads against 0.77 on
/// one (0.61 with blocks per thread), and 64 -> 64 at 56 d2 1.77-1.79 ms forward (1.24-1.30);
/// with the vCPUs close, both ways measured alike (AMD EPYC, 2026-12-07).
inline index_t wino_thread_block_tiles(index_t total, index_t threads) {
  for (index_t k = 1;; ++k) {
    const index_t tb = ((total + k * threads - 1) / (k * threads) + wino_panel - 1) / wino_panel * wino_panel;
    const index_t blocks = (total + tb - 1) / tb;
    index_t most = 0;
    for (index_t t = 0; t < threads; ++t) {
      index_t mine = 0;
      for (index_t b = t; b < blocks; b += threads) mine += std::min(tb, total - b * tb);
      most = std::max(most, mine);
    }
    if (tb == wino_panel || 10 * most * threads <= 11 * total) return tb;
  }
}

/// Tiles per block of a product on `threads` threads: cache-sized (wino_block_tiles), or
/// wino_thread_block_tiles where that gives fewer blocks than threads.
inline index_t wino_team_block_tiles(index_t per_tile, index_t total, index_t threads) {
  const index_t tb = wino_block_tiles(per_tile, total);
  return threads > 1 && (total + tb - 1) / tb < threads ? wino_thread_block_tiles(total, threads) : tb;
}

/// y (batch x o x oh x ow) += the product p of x (batch x c x h x w) with transformed weights u
/// (or as `how` says: written over y, plus the bias).
/// Units are (block of tiles, range of output channels), each run by one thread start to end in
/// its own workspace: input transforms (channel x 16 tiles), the 36 GEMMs, output transforms. No
/// barrier inside a product: a thread descheduled by another process holds no one back. Few
/// blocks (a small map) are split by output channels instead, so the weights (36 o c floats,
/// 38 MB at 512 x 512) are streamed once per block rather than once per thread. Fewer blocks
/// than threads (a narrow layer on a small map) are shared by the team phase by phase instead,
/// with a barrier between phases: 64 -> 64 at 56 x 56 d2 is one block of 196 tiles and ran on
/// one thread (forward 2.3-2.8 ms on 2 threads, AMD EPYC, 2026-12-07); split by output
/// channels, each part transforming all the inputs again, 1.34-1.68 (backward 2.8-3.6); shared
/// by phases 1.06-1.14 (backward 2.1-2.35), four interleaved rounds. Now such a layer gets
/// smaller blocks, as many as the threads or more (wino_thread_block_tiles); only a map too
/// small for one 32-tile block per thread is still shared by phases. The same bits every way: each
/// output's sums run in the same order.
inline void wino_run_forward(const wino_plan& p, const float* u, const float* x, index_t batch, float* y, index_t threads,
                             const wino_out& how = {}) {
  const index_t total = p.tiles() * batch;
  const index_t tb = wino_team_block_tiles(p.c + p.o, total, threads), groups = tb / wino_lanes;
  const index_t blocks = (total + tb - 1) / tb, panels = (p.o + wino_panel - 1) / wino_panel;
  const index_t rp = (p.o + 11) / 12;  // 12-row panels of the packed weights
  // The phases of the block of tiles [b0, b0 + count): the input transforms of channel ch, tile
  // group g into v; the outputs of channel oo, tiles [t0, t0 + 16) from m into y.
  auto input = [&](float* v, index_t b0, index_t count, index_t ch, index_t g) {
    const index_t t0 = g * wino_lanes;
    float* base = v + (g / 2) * p.c * 32 + ch * 32 + (g % 2) * wino_lanes;
    wino_input_tiles(p, x, ch, b0 + t0, std::clamp<index_t>(count - t0, 0, wino_lanes),
                     [&](int xi) { return base + xi * p.c * tb; });
  };
  auto output = [&](const float* m, index_t b0, index_t count, index_t oo, index_t t0) {
    const float* base = m + oo * tb + t0;
    wino_output_tiles(p, y, oo, b0 + t0, std::min<index_t>(wino_lanes, count - t0),
                      [&](int xi) { return base + xi * p.o * tb; }, how);
  };
  if (threads > 1 && blocks < threads) {
    float* v = wino_buffer(wino_nn * p.c * tb, 1);
    float* m = wino_buffer(wino_nn * p.o * tb, 2);
    for (index_t b0 = 0; b0 < total; b0 += tb) {
      const index_t count = std::min(tb, total - b0), out_groups = (count + wino_lanes - 1) / wino_lanes;
#pragma omp parallel num_threads(static_cast<int>(threads))
      {
#pragma omp for schedule(dynamic, 16)
        for (std::int64_t k = 0; k < p.c * groups; ++k) input(v, b0, count, k / groups, k % groups);
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t xi = 0; xi < wino_nn; ++xi) wino_gemm(p, u, v, m, tb, xi, 0, p.o);
#pragma omp for schedule(dynamic, 16)
        for (std::int64_t k = 0; k < p.o * out_groups; ++k) output(m, b0, count, k / out_groups, k % out_groups * wino_lanes);
      }
    }
    return;
  }
  const index_t osplit = std::clamp<index_t>((2 * threads + blocks - 1) / blocks, 1, std::max<index_t>(1, panels / 2));
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1)
  for (std::int64_t unit = 0; unit < blocks * osplit; ++unit) {
    const index_t blk = unit / osplit, s = unit % osplit, b0 = blk * tb, count = std::min(tb, total - b0);
    // Output channels [o0, o1): whole 12-row panels of the packed weights.
    const index_t o0 = rp * s / osplit * 12, o1 = std::min(p.o, rp * (s + 1) / osplit * 12);
    float* v = conv_workspace(wino_nn * p.c * tb, 0);
    float* m = conv_workspace(wino_nn * p.o * tb, 1);
    for (index_t ch = 0; ch < p.c; ++ch)
      for (index_t g = 0; g < groups; ++g) input(v, b0, count, ch, g);
    for (index_t xi = 0; xi < wino_nn; ++xi) wino_gemm(p, u, v, m, tb, xi, o0, o1);
    for (index_t oo = o0; oo < o1; ++oo)
      for (index_t t0 = 0; t0 < count; t0 += wino_lanes) output(m, b0, count, oo, t0);
  }
}

inline index_t wino_threads(const wino_plan& p, index_t batch) {
  const double macs = static_cast<double>(p.o) * p.c * 9 * p.oh * p.ow * batch;
  return macs < 2e6 ? 1 : std::max<index_t>(1, backend::max_threads());
}

/// conv_forward through Winograd: y += conv(x, w) (or as `how` says), w o x c x 3 x 3.
inline void wino_conv_forward(const wino_plan& p, const float* w, const float* x, index_t batch, float* y,
                              const wino_out& how = {}) {
  const index_t threads = wino_threads(p, batch);
  float* u = wino_buffer(wino_nn * wino_u_rows(p.o) * p.c, 0);
  wino_transform_weights(p, w, p.c * 9, 9, 3, 1, u, threads);
  wino_run_forward(p, u, x, batch, y, threads, how);
}

/// conv_backward_data through Winograd (p = wino_data_plan): gx += the forward of gy with the
/// kernel flipped and its channel roles swapped, w being the conv's p.c x p.o x 3 x 3 weights.
inline void wino_conv_backward_data(const wino_plan& p, const float* w, const float* gy, index_t batch, float* gx) {
  const index_t threads = wino_threads(p, batch);
  float* u = wino_buffer(wino_nn * wino_u_rows(p.o) * p.c, 0);
  wino_transform_weights(p, w + 8, 9, p.o * 9, -3, -1, u, threads);
  wino_run_forward(p, u, gy, batch, gx, threads);
}

/// The 16-tile groups a weight-gradient block of `count` tiles fills: its units are (c + o)
/// channels x these groups, and its GEMMs run over their 16 x groups tiles (a last, partial
/// block neither transforms nor multiplies the zero tiles past it).
inline index_t wino_weight_groups(index_t count) { return (count + wino_lanes - 1) / wino_lanes; }

/// Unit k of a weight-gradient block (tiles [b0, b0 + count); rows of v and m tb apart):
/// channel k / groups < c: transformed inputs B^T d B into v (36 x c x tb); else output channel
/// k / groups - c: A dY A^T into m (36 x o x tb); 16 tiles from (k % groups) 16.
inline void wino_weight_unit(const wino_plan& p, const float* x, const float* gy, index_t b0, index_t count, index_t tb,
                             index_t k, float* v, float* m) {
  const index_t groups = wino_weight_groups(count), ch = k / groups, t0 = k % groups * wino_lanes;
  const index_t n = std::min<index_t>(count - t0, wino_lanes);
  if (ch < p.c) {
    wino_input_tiles(p, x, ch, b0 + t0, n, [&](int xi) { return v + (xi * p.c + ch) * tb + t0; });
    return;
  }
  const index_t oo = ch - p.c;
  wino_vec in[wino_m * wino_m], out[wino_nn];
  wino_gather<wino_m>(n, p.oh, p.ow, p.dh, p.dw,
                      [&](index_t l) { return wino_tile_lane(p, gy, p.o, oo, p.oh, p.ow, b0 + t0 + l, 0, 0); }, in);
  wino_transform<wino_a>(in, out);
  for (int xi = 0; xi < wino_nn; ++xi) wino_store(m + (xi * p.o + oo) * tb + t0, out[xi]);
}

/// s[xi] (o x cp) += m[xi] v[xi]^T over a block's kt tiles, for the 36 products xi in [x0, x1).
inline void wino_weight_gemms(const wino_plan& p, const float* m, const float* v, index_t tb, index_t kt, float* s,
                              index_t cp, index_t x0, index_t x1) {
  for (index_t xi = x0; xi < x1; ++xi)
    sgemm(p.o, p.c, kt, {m + xi * p.o * tb, tb, 1}, {v + xi * p.c * tb, 1, tb}, s + xi * p.o * cp, cp, true);
}

/// Tiles per weight-gradient block: cache-sized, or, where those are fewer than the threads,
/// one block per thread rounded up to whole 16-tile groups. The tiles are the GEMMs' k here, so
/// the forward's 32-tile panels do not bind it, and longer GEMMs win over a closer balance: 32
/// -> 32 at 56 (196 tiles) on two threads, blocks of 112 + 84 tiles took 0.345-0.35 ms for the
/// weight gradient against 0.40-0.42 with the forward's 7 blocks of 32 (AMD EPYC, 2026-12-07).
inline index_t wino_weight_block_tiles(index_t per_tile, index_t total, index_t threads) {
  const index_t tb = wino_block_tiles(per_tile, total);
  if (threads < 2 || (total + tb - 1) / tb >= threads) return tb;
  return wino_weight_groups((total + threads - 1) / threads) * wino_lanes;
}

/// Up to this many floats of per-thread sums (36 o c per thread), threads sum whole blocks into
/// their own copy (no barrier per block); above it they share one copy, parallel over the 36
/// products of each block.
inline constexpr index_t wino_private_sum_floats = index_t{1} << 23;

/// conv_backward_weight through Winograd (p = wino_forward_plan): gw (o x c x 3 x 3) += the adjoint
/// of the forward's tile map. Per block: transformed inputs B^T d B (c x tiles) and output
/// gradients A dY A^T (o x tiles, dY zero past the output), then 36 GEMMs accumulate
/// s[xi] (o x c) += dY'[xi] d'[xi]^T; at the end gw += G^T s G.
inline void wino_conv_backward_weight(const wino_plan& p, const float* x, const float* gy, index_t batch, float* gw) {
  const index_t threads = wino_threads(p, batch), total = p.tiles() * batch;
  const index_t tb = wino_weight_block_tiles(p.c + p.o, total, threads);
  const index_t cp = (p.c + wino_lanes - 1) / wino_lanes * wino_lanes, cgroups = cp / wino_lanes;
  const index_t sn = wino_nn * p.o * cp, blocks = (total + tb - 1) / tb;
  const bool private_sums = threads > 1 && blocks >= threads && sn * threads <= wino_private_sum_floats;
  const index_t slots = private_sums ? threads : 1;
  float* s = wino_buffer(sn * slots, 3);
  if (private_sums) {
#pragma omp parallel for schedule(static, 1)
    for (std::int64_t sl = 0; sl < slots; ++sl) {
      float* ss = s + sl * sn;
      std::fill(ss, ss + sn, 0.0f);
      float* v = conv_workspace(wino_nn * p.c * tb, 0);
      float* m = conv_workspace(wino_nn * p.o * tb, 1);
      for (index_t blk = sl; blk < blocks; blk += slots) {
        const index_t b0 = blk * tb, count = std::min(tb, total - b0), groups = wino_weight_groups(count);
        for (index_t k = 0; k < (p.c + p.o) * groups; ++k) wino_weight_unit(p, x, gy, b0, count, tb, k, v, m);
        wino_weight_gemms(p, m, v, tb, groups * wino_lanes, ss, cp, 0, wino_nn);
      }
    }
  } else {
    float* v = wino_buffer(wino_nn * p.c * tb, 1);
    float* m = wino_buffer(wino_nn * p.o * tb, 2);
    std::fill(s, s + sn, 0.0f);
#pragma omp parallel if (threads > 1)
    for (index_t b0 = 0; b0 < total; b0 += tb) {
      const index_t count = std::min(tb, total - b0), groups = wino_weight_groups(count);
#pragma omp for schedule(dynamic, 4)
      for (std::int64_t k = 0; k < (p.c + p.o) * groups; ++k) wino_weight_unit(p, x, gy, b0, count, tb, k, v, m);
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t xi = 0; xi < wino_nn; ++xi) wino_weight_gemms(p, m, v, tb, groups * wino_lanes, s, cp, xi, xi + 1);
    }
  }
#pragma omp parallel for schedule(dynamic, 4) if (threads > 1)
  for (std::int64_t k = 0; k < p.o * cgroups; ++k) {
    const index_t oo = k / cgroups, c0 = k % cgroups * wino_lanes;
    wino_vec in[wino_nn], out[wino_r * wino_r];
    for (int xi = 0; xi < wino_nn; ++xi) {  // the slots' sums added in slot order, in the team
      in[xi] = wino_load(s + (xi * p.o + oo) * cp + c0);
      for (index_t sl = 1; sl < slots; ++sl) in[xi] = in[xi] + wino_load(s + sl * sn + (xi * p.o + oo) * cp + c0);
    }
    wino_transform<wino_gt>(in, out);
    for (index_t l = 0; l < std::min<index_t>(wino_lanes, p.c - c0); ++l)
      for (int e = 0; e < wino_r * wino_r; ++e) gw[(oo * p.c + c0 + l) * 9 + e] += out[e][l];
  }
}

}  // namespace wsss::ad::detail
