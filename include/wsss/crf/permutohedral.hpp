// SPDX-License-Identifier: MIT
// wsss/crf/permutohedral.hpp — permutohedral-lattice Gaussian filter (Adams, Baek & Davis 2010),
// computing what pydensecrf's lattice computes (reference-semantics §8), with its normalisations
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/detail/elevate.hpp"
#include "wsss/crf/detail/filter_common.hpp"
#include "wsss/crf/detail/lattice_table.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf {

namespace detail {

/// Splat of pixels [p0, p1) by scattering: val[vertex] += bary · (pre[p] · in[p]), in pixel
/// order (the reference's order); the vertex rows stay cache-resident while pixels stream.
/// LD > 0 and DP1 > 0 fix the row width and d + 1 at compile time (0: run time).
template <int LD, int DP1>
void splat_range(const std::int32_t* __restrict vert, const float* __restrict bary, const float* __restrict pre,
                 const float* __restrict in, float* __restrict val, int dp1_rt, index_t ld_rt, index_t p0, index_t p1) {
  const int dp1 = DP1 > 0 ? DP1 : dp1_rt;
  const index_t ld = LD > 0 ? LD : ld_rt;
  for (index_t p = p0; p < p1; ++p) {
    const float g = pre ? pre[p] : 1.0f;
    float x[LD > 0 ? LD : 1];
    const float* xs = in + p * ld;
#if defined(WSSS_CRF_VECTOR_EXT)
    if constexpr (LD > 0 && LD % 8 == 0) {
      v8f xv[LD / 8];
      for (int b = 0; b < LD / 8; ++b) xv[b] = g * load8(xs + 8 * b);
      for (int r = 0; r < dp1; ++r) {
        const float s = bary[p * dp1 + r];
        float* d = val + vert[p * dp1 + r] * ld;
        for (int b = 0; b < LD / 8; ++b) store8(d + 8 * b, load8(d + 8 * b) + s * xv[b]);
      }
      continue;
    }
#endif
    if constexpr (LD > 0)
      for (int c = 0; c < LD; ++c) x[c] = g * xs[c];
    for (int r = 0; r < dp1; ++r) {
      const float s = bary[p * dp1 + r];
      float* d = val + vert[p * dp1 + r] * ld;
      if constexpr (LD > 0) {
        for (int c = 0; c < LD; ++c) d[c] += s * x[c];
      } else {
        for (index_t c = 0; c < ld; ++c) d[c] += s * (g * xs[c]);
      }
    }
  }
}

/// One blur pass along one lattice axis: new = old + (n1 + n2) / 2 (missing neighbour = row 0).
template <int LD>
struct blur_kernel {
  const std::int32_t* nb;  // 2 per vertex
  const float* src;
  float* dst;
  index_t ld_rt;
  WSSS_HD void operator()(std::int64_t i) const {
    const index_t ld = LD > 0 ? LD : ld_rt;
    const float* __restrict o = src + (i + 1) * ld;
    const float* __restrict a = src + nb[2 * i] * ld;
    const float* __restrict b = src + nb[2 * i + 1] * ld;
    float* __restrict d = dst + (i + 1) * ld;
    for (index_t c = 0; c < ld; ++c) d[c] = o[c] + 0.5f * (a[c] + b[c]);
  }
};

/// Slice: out[p] += scale · post[p] · Σ_r (bary_r · alpha) · val[vertex_r].
struct slice_kernel {
  const std::int32_t* vert;  // N x (d + 1)
  const float* bary;         // N x (d + 1)
  float alpha;
  const float* post;         // per-pixel output scale, or null
  const float* val;
  float* out;
  float scale;
  int dp1;
  index_t ld;
  WSSS_HD void operator()(std::int64_t p) const { row(p, out + p * ld); }
  /// Adds pixel p's filtered row into o[0, ld).
  /// row() for a compile-time row width LD and, when DP1 > 0, lattice dimension DP1 - 1
  /// (the whole row in registers, the vertex loop unrolled).
  template <int LD, int DP1 = 0>
  WSSS_CRF_INLINE WSSS_HD void row_fixed(std::int64_t p, float* o) const {
    const int n_r = DP1 > 0 ? DP1 : dp1;
    const std::int32_t* vp = vert + p * n_r;
    const float* wp = bary + p * n_r;
    const float g = post ? post[p] : 1.0f;
#if defined(WSSS_CRF_VECTOR_EXT)
    v8f acc[LD / 8] = {};
    for (int r = 0; r < n_r; ++r) {
      const float s = wp[r] * alpha;
      const float* x = val + vp[r] * LD;
      for (int b = 0; b < LD / 8; ++b) acc[b] += s * load8(x + 8 * b);
    }
    for (int b = 0; b < LD / 8; ++b) store8(o + 8 * b, load8(o + 8 * b) + scale * (g * acc[b]));
#else
    float acc[LD] = {};
    for (int r = 0; r < n_r; ++r) {
      const float s = wp[r] * alpha;
      const float* x = val + vp[r] * LD;
      for (int c = 0; c < LD; ++c) acc[c] += s * x[c];
    }
    for (int c = 0; c < LD; ++c) o[c] += scale * (g * acc[c]);
#endif
  }
  WSSS_CRF_INLINE WSSS_HD void row(std::int64_t p, float* o_row) const {
    const std::int32_t* vp = vert + p * dp1;
    const float* wp = bary + p * dp1;
    const float g = post ? post[p] : 1.0f;
    if (ld % lane != 0) {  // odd widths (the normaliser's single channel): channel by channel
      for (index_t c = 0; c < ld; ++c) {
        float acc = 0;
        for (int r = 0; r < dp1; ++r) acc += (wp[r] * alpha) * val[vp[r] * ld + c];
        o_row[c] += scale * (g * acc);
      }
      return;
    }
    for_chunks(ld, [&]<int W>(index_t c0) {
      float acc[W] = {};
      for (int r = 0; r < dp1; ++r) {
        const float s = wp[r] * alpha;
        const float* x = val + vp[r] * ld + c0;
        for (int c = 0; c < W; ++c) acc[c] += s * x[c];
      }
      float* o = o_row + c0;
      for (int c = 0; c < W; ++c) o[c] += scale * (g * acc[c]);
    });
  }
};

}  // namespace detail

/// Permutohedral-lattice approximation of the Gaussian filter exp(-|f_i - f_j|² / 2) over
/// D x N features (reference-semantics §8: scale factors, elevation, rank, barycentric
/// weights, blur [1/2, 1, 1/2] along the d + 1 axes, alpha = 1 / (1 + 2^-d), self term kept).
/// The plan is built once per image; apply_add() never allocates once reserve(ld) was called.
/// One plan must not be applied from two threads at once (it owns its blur buffers).
class permutohedral {
 public:
  static constexpr std::string_view name = "crf::permutohedral";
  /// Lattice keys are int16 and packed four to a word; more dimensions than this are refused.
  static constexpr int max_dims = 16;

  permutohedral() = default;
  explicit permutohedral(const tensor& features, normalization norm = normalization::symmetric) {
    init(features, norm);
  }

  /// Builds the lattice for features D x N (feature-major) and the normaliser n = K·1.
  void init(const tensor& features, normalization norm = normalization::symmetric) {
    const auto [d, n] = detail::check_features(features, name, max_dims);
    if (n > (index_t{1} << 30) / (d + 1))
      throw_shape("crf::permutohedral", "too many pixels for 32-bit lattice indices: ", n);
    d_ = static_cast<int>(d);
    n_ = n;
    norm_ = norm;
    switch ((d_ + 3) / 4) {
      case 1: build<1>(features); break;
      case 2: build<2>(features); break;
      case 3: build<3>(features); break;
      default: build<4>(features); break;
    }
    compute_normaliser();
  }

  index_t pixels() const noexcept { return n_; }
  int dims() const noexcept { return d_; }
  index_t vertices() const noexcept { return m_; }
  normalization norm() const noexcept { return norm_; }
  /// n = K·1 per pixel (the raw lattice response to ones, self term included).
  const std::vector<float>& response_to_ones() const noexcept { return ones_response_; }

  /// Makes apply_add() allocation-free for rows of up to ld channels.
  void reserve(index_t ld) {
    const int threads = backend::max_threads();
    if (ld > buf_ld_ || threads != buf_threads_) {
      a_ = tensor::uninitialized({(m_ + 1) * ld});
      b_ = tensor::uninitialized({(m_ + 1) * ld});
      // Per-thread splat targets beyond the first (which is a_ itself).
      priv_ = threads > 1 ? tensor::uninitialized({(threads - 1) * (m_ + 1) * ld}) : tensor();
      buf_ld_ = ld;
      buf_threads_ = threads;
    }
  }

  /// out += scale · F in (or F^T in), in/out N x ld interleaved (ld a multiple of 8 takes the
  /// vectorised kernels).
  void apply_add(const float* in, float* out, index_t ld, float scale, bool transpose = false) {
    backend::for_each_index(wsss::omp, n_, splat_blur(in, ld, scale, transpose, out));
  }

  /// The first two stages of apply_add (splat, blur) on in (N x ld); returns the slice kernel
  /// whose row(p, o) adds scale · (F in)[p] (or F^T) into o, and whose operator()(p) adds it
  /// into out[p]. Valid until the next call on this plan. Lets mean field fuse slicing with
  /// its update, pixel by pixel.
  detail::slice_kernel splat_blur(const float* in, index_t ld, float scale, bool transpose = false, float* out = nullptr) {
    reserve(ld);
    const float* pre = pre_.empty() ? nullptr : pre_.data();
    if (transpose) pre = post_.empty() ? nullptr : post_.data();
    auto run = [&]<int LD>() {
      if (d_ == 5) splat<LD, 6>(pre, in, a_.data(), ld);
      else if (d_ == 2) splat<LD, 3>(pre, in, a_.data(), ld);
      else splat<LD, 0>(pre, in, a_.data(), ld);
    };
    switch (ld) {
      case 1: run.template operator()<1>(); break;  // the normaliser n = K·1
      case 8: run.template operator()<8>(); break;
      case 16: run.template operator()<16>(); break;
      case 24: run.template operator()<24>(); break;
      case 32: run.template operator()<32>(); break;
      default: run.template operator()<0>(); break;
    }
    return blur(ld, scale, transpose, out);
  }

  /// splat_blur on two plans of the same pixels in one pass over in (each pixel row read
  /// once): the mean-field step's smoothness and appearance lattices. Single-threaded runs
  /// with rows of 8-32 channels and lattices of d = 2 and 5 take the joint pass; other cases
  /// run the two splats one after the other. Same sums in the same order either way.
  static std::pair<detail::slice_kernel, detail::slice_kernel> splat_blur_pair(permutohedral& s, permutohedral& t,
                                                                               const float* in, index_t ld, float ss,
                                                                               float st) {
    s.reserve(ld);
    t.reserve(ld);
    const bool joint = s.n_ == t.n_ && s.d_ == 2 && t.d_ == 5 && s.buf_threads_ <= 1 && t.buf_threads_ <= 1 &&
                       (ld == 8 || ld == 16 || ld == 24 || ld == 32);
    if (!joint) return {s.splat_blur(in, ld, ss), t.splat_blur(in, ld, st)};
    auto run = [&]<int LD>() {
      const float* ps = s.pre_.empty() ? nullptr : s.pre_.data();
      const float* pt = t.pre_.empty() ? nullptr : t.pre_.data();
      float* vs = s.a_.data();
      float* vt = t.a_.data();
      std::fill(vs, vs + (s.m_ + 1) * LD, 0.0f);
      std::fill(vt, vt + (t.m_ + 1) * LD, 0.0f);
      for (index_t p = 0; p < s.n_; ++p) {
        detail::splat_range<LD, 3>(s.vert_.data(), s.bary_.data(), ps, in, vs, 3, LD, p, p + 1);
        detail::splat_range<LD, 6>(t.vert_.data(), t.bary_.data(), pt, in, vt, 6, LD, p, p + 1);
      }
    };
    switch (ld) {
      case 8: run.template operator()<8>(); break;
      case 16: run.template operator()<16>(); break;
      case 24: run.template operator()<24>(); break;
      default: run.template operator()<32>(); break;
    }
    return {s.blur(ld, ss, false, nullptr), t.blur(ld, st, false, nullptr)};
  }

  /// F in for in L x N (channel-major); allocates (convenience path).
  tensor apply(const tensor& in) { return detail::apply_channel_major(*this, in, false, name); }
  /// F^T in: the same splat and slice with the blur axes in reverse order and the
  /// normalisers swapped.
  tensor apply_transpose(const tensor& in) { return detail::apply_channel_major(*this, in, true, name); }

  /// Bytes held by the plan (lattice, normalisers and blur buffers).
  std::size_t bytes() const noexcept {
    return vert_.capacity() * 4 + bary_.capacity() * 4 + nb_.capacity() * 4 + pre_.capacity() * 4 +
           post_.capacity() * 4 + ones_response_.capacity() * 4 +
           static_cast<std::size_t>(a_.numel() + b_.numel() + priv_.numel()) * 4;
  }

 private:
  /// Splat into val (rows 0..M, row 0 zero). With several threads each takes a contiguous
  /// pixel range into its own buffer and the buffers are summed in thread order, so a given
  /// thread count always gives the same bits.
  /// Blurs the splatted values in a_ along the d + 1 axes (reverse order for F^T) and returns
  /// the slice kernel reading the result.
  detail::slice_kernel blur(index_t ld, float scale, bool transpose, float* out) {
    const float* post = post_.empty() ? nullptr : post_.data();
    if (transpose) post = pre_.empty() ? nullptr : pre_.data();
    float* src = a_.data();
    float* dst = b_.data();
    std::fill(dst, dst + ld, 0.0f);
    auto run = [&]<int LD>() {
      for (int k = 0; k <= d_; ++k) {
        const int j = transpose ? d_ - k : k;
        backend::for_each_index(wsss::omp, m_, detail::blur_kernel<LD>{nb_.data() + 2 * m_ * j, src, dst, ld});
        std::swap(src, dst);
      }
    };
    switch (ld) {
      case 1: run.template operator()<1>(); break;
      case 8: run.template operator()<8>(); break;
      case 16: run.template operator()<16>(); break;
      case 24: run.template operator()<24>(); break;
      case 32: run.template operator()<32>(); break;
      default: run.template operator()<0>(); break;
    }
    return detail::slice_kernel{vert_.data(), bary_.data(), alpha_, post, src, out, scale, d_ + 1, ld};
  }

  template <int LD, int DP1>
  void splat(const float* pre, const float* in, float* val, index_t ld) {
    const index_t rows = (m_ + 1) * ld;
    const int threads = buf_threads_;
    if (threads <= 1) {
      std::fill(val, val + rows, 0.0f);
      detail::splat_range<LD, DP1>(vert_.data(), bary_.data(), pre, in, val, d_ + 1, ld, 0, n_);
      return;
    }
    float* priv = priv_.data();
#pragma omp parallel num_threads(threads)
    {
      int t = 0;
#if defined(_OPENMP)
      t = omp_get_thread_num();
#endif
      float* mine = t == 0 ? val : priv + (t - 1) * rows;
      std::fill(mine, mine + rows, 0.0f);
      const index_t chunk = (n_ + threads - 1) / threads;
      detail::splat_range<LD, DP1>(vert_.data(), bary_.data(), pre, in, mine, d_ + 1, ld, std::min(n_, t * chunk),
                          std::min(n_, (t + 1) * chunk));
#pragma omp barrier
#pragma omp for schedule(static)
      for (index_t e = ld; e < rows; ++e) {
        float acc = val[e];
        for (int u = 1; u < threads; ++u) acc += priv[(u - 1) * rows + e];
        val[e] = acc;
      }
    }
  }

  template <int W>
  void build(const tensor& f) {
    const int d = d_, dp1 = d + 1;
    const index_t n = n_;
    // Scale factors and constants in the reference's precision.
    std::vector<float> scale(static_cast<std::size_t>(d));
    const double inv_std = std::sqrt(2.0 / 3.0) * dp1;
    for (int i = 0; i < d; ++i) scale[static_cast<std::size_t>(i)] = static_cast<float>(1.0 / std::sqrt(double((i + 2) * (i + 1))) * inv_std);
    const float down = 1.0f / static_cast<float>(dp1);
    alpha_ = 1.0f / (1.0f + std::pow(2.0f, static_cast<float>(-d)));

    // Pass 1 (parallel): per pixel the remainder-0 point, the ranks and the weights. The
    // point's first d coordinates and ranks fix the pixel's d + 1 vertices: they are stored
    // packed as the pixel's simplex signature (coordinates in words [0, W), ranks in [W, 2W)).
    using simplex_key = detail::packed_key<2 * W>;
    std::vector<simplex_key> sig(static_cast<std::size_t>(n));
    bary_.resize(static_cast<std::size_t>(n * dp1));
    std::atomic<bool> overflow{false};
    const float* fp = f.data();
    // D > 0 fixes the dimension at compile time so the short loops unroll (d = 2 and 5 are
    // the reference's two kernels). detail::elevate is branch-free; it runs on blocks of
    // pixels in SIMD lanes (the features are feature-major, so a block's coordinates are
    // contiguous) and on the remaining pixels one by one, with the same bits either way.
    auto store = [&](index_t p, const std::int32_t* r0, const std::int32_t* rk, const float* b) {
      std::int32_t packed[8 * W] = {};
      for (int i = 0; i < d; ++i) {
        packed[i] = r0[i];
        packed[4 * W + i] = rk[i];
      }
      sig[static_cast<std::size_t>(p)] = simplex_key::pack(packed, 8 * W);
      float* bp = bary_.data() + p * dp1;
      for (int i = 0; i < dp1; ++i) bp[i] = b[i];  // a loop: std::copy of a few floats calls memmove
    };
    auto pass1 = [&]<int D>() {
      std::int32_t bad = 0;
#if defined(WSSS_CRF_VECTOR_EXT)
      constexpr int L = detail::elevate_lanes;
      const index_t blocks = n / L;
#pragma omp parallel for schedule(static) reduction(| : bad)
      for (index_t blk = 0; blk < blocks; ++blk) {
        const index_t p0 = blk * L;
        detail::v16f c[max_dims], b[max_dims + 1];
        detail::v16i r0[max_dims], rk[max_dims], oob{};
        for (int k = 0; k < d; ++k) {
          __builtin_memcpy(&c[k], fp + k * n + p0, sizeof c[k]);
          c[k] = c[k] * scale[static_cast<std::size_t>(k)];
        }
        detail::elevate<D>(c, d, down, r0, rk, b, oob);
        for (int l = 0; l < L; ++l) {
          std::int32_t lr0[max_dims], lrk[max_dims];
          float lb[max_dims + 1];
          for (int i = 0; i < d; ++i) {
            lr0[i] = r0[i][l];
            lrk[i] = rk[i][l];
          }
          for (int i = 0; i <= d; ++i) lb[i] = b[i][l];
          store(p0 + l, lr0, lrk, lb);
          bad |= oob[l];
        }
      }
      const index_t first = blocks * L;
#else
      const index_t first = 0;
#endif
#pragma omp parallel for schedule(static) reduction(| : bad)
      for (index_t p = first; p < n; ++p) {
        float c[max_dims], b[max_dims + 1];
        std::int32_t r0[max_dims], rk[max_dims], oob = 0;
        for (int k = 0; k < d; ++k) c[k] = fp[k * n + p] * scale[static_cast<std::size_t>(k)];
        detail::elevate<D>(c, d, down, r0, rk, b, oob);
        store(p, r0, rk, b);
        bad |= oob;
      }
      if (bad) overflow.store(true, std::memory_order_relaxed);
    };
    if constexpr (W == 1) {
      if (d_ == 2) pass1.template operator()<2>();
      else pass1.template operator()<0>();
    } else if constexpr (W == 2) {
      if (d_ == 5) pass1.template operator()<5>();
      else pass1.template operator()<0>();
    } else {
      pass1.template operator()<0>();
    }
    if (overflow.load())
      throw_value("crf::permutohedral", "features span more than the lattice's int16 keys allow; divide them by a larger standard deviation");

    // Pass 2 (serial): vertex ids in the reference's insertion order (pixel, then r). Pixels
    // of one simplex share their d + 1 vertices, so each distinct simplex is hashed once and
    // only a new one inserts its vertices (in that order, the first pixel to reach them).
    detail::lattice_table<W> table;
    detail::lattice_table<2 * W> simplices;
    std::vector<std::int32_t> simplex_vert(static_cast<std::size_t>(dp1), 0);  // d + 1 ids per simplex
    vert_.resize(static_cast<std::size_t>(n * dp1));
    for (index_t p = 0; p < n; ++p) {
      std::int32_t* vp = vert_.data() + p * dp1;
      const simplex_key& sk = sig[static_cast<std::size_t>(p)];
      if (p > 0 && sk == sig[static_cast<std::size_t>(p - 1)]) {  // neighbours usually share it
        for (int r = 0; r < dp1; ++r) vp[r] = vp[r - dp1];
        continue;
      }
      const index_t known = simplices.size();
      const std::int32_t s = simplices.find_or_insert(sk);
      if (simplices.size() == known) {
        for (int r = 0; r < dp1; ++r) vp[r] = simplex_vert[static_cast<std::size_t>(s * dp1 + r)];
        continue;
      }
      std::int32_t packed[8 * W], key[max_dims];
      sk.unpack(packed, 8 * W);
      for (int r = 0; r <= d; ++r) {
        for (int i = 0; i < d; ++i) key[i] = packed[i] + (packed[4 * W + i] <= d - r ? r : r - dp1);
        vp[r] = table.find_or_insert(detail::packed_key<W>::pack(key, d));
      }
      simplex_vert.insert(simplex_vert.end(), vp, vp + dp1);
    }
    m_ = table.size();
    std::vector<simplex_key>().swap(sig);

    // Blur neighbours along each axis j: key -1 everywhere except +d at j, and the reverse.
    nb_.assign(static_cast<std::size_t>(2 * m_ * dp1), 0);
    const index_t m = m_;
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < m; ++i) {
      std::int32_t key[max_dims], n1[max_dims], n2[max_dims];
      table.key(static_cast<std::int32_t>(i + 1)).unpack(key, d);
      for (int j = 0; j <= d; ++j) {
        for (int k = 0; k < d; ++k) {
          n1[k] = key[k] - 1;
          n2[k] = key[k] + 1;
        }
        if (j < d) {
          n1[j] = key[j] + d;
          n2[j] = key[j] - d;
        }
        nb_[static_cast<std::size_t>(2 * (m * j + i))] = table.find(detail::packed_key<W>::pack(n1, d));
        nb_[static_cast<std::size_t>(2 * (m * j + i) + 1)] = table.find(detail::packed_key<W>::pack(n2, d));
      }
    }
  }

  void compute_normaliser() {
    pre_.clear();
    post_.clear();
    std::vector<float> ones(static_cast<std::size_t>(n_), 1.0f);
    ones_response_.assign(static_cast<std::size_t>(n_), 0.0f);
    apply_add(ones.data(), ones_response_.data(), 1, 1.0f);
    detail::set_normalisers(norm_, ones_response_, pre_, post_);
  }

  int d_ = 0;
  index_t n_ = 0, m_ = 0, buf_ld_ = 0;
  int buf_threads_ = 0;
  normalization norm_ = normalization::symmetric;
  std::vector<std::int32_t> vert_;   // N x (d+1) vertex ids (1-based)
  std::vector<float> bary_;          // N x (d+1) barycentric weights
  float alpha_ = 1.0f;               // 1 / (1 + 2^-d)
  std::vector<std::int32_t> nb_;     // (d+1) x M x 2 blur neighbours
  std::vector<float> pre_, post_, ones_response_;
  tensor a_, b_, priv_;
};

static_assert(GaussianFilter<permutohedral>);

}  // namespace wsss::crf
