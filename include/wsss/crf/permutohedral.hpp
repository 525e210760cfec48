// SPDX-License-Identifier: MIT
// wsss/crf/permutohedral.hpp — permutohedral-lattice Gaussian filter (Adams, Baek & Davis 2010),
// computing what pydensecrf's lattice computes (reference-semantics §8), with its normalisations
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <span>
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
#include "wsss/crf/detail/parallel.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf {

namespace detail {

/// Adds pixel rows into a lattice's vertex rows one pixel at a time:
/// val[vertex_r(p)] += bary_r(p) · (pre[p] · x), r = 0..d (the reference's splat, whose sums
/// run in pixel order). A caller can so produce a pixel's row and splat it in the same pass.
/// The vertex rows stay cache-resident while the pixels stream.
struct splat_sink {
  const std::int32_t* vert;  // N x (d + 1)
  const float* bary;         // N x (d + 1)
  const float* pre;          // per-pixel input scale, or null
  float* val;                // (M + 1) x ld, zeroed by permutohedral::begin_splat
  int dp1;
  index_t ld;

  /// Row width LD and, when DP1 > 0, d + 1 fixed at compile time (the row in registers).
  template <int LD, int DP1 = 0>
  WSSS_CRF_INLINE void row_fixed(index_t p, const float* x) const {
    const int n_r = DP1 > 0 ? DP1 : dp1;
    const std::int32_t* vp = vert + p * n_r;
    const float* wp = bary + p * n_r;
    const float g = pre ? pre[p] : 1.0f;
#if defined(WSSS_CRF_VECTOR_EXT)
    if constexpr (LD % 8 == 0) {
      using regs = row_regs<LD>;
      const regs xv = regs::load(x).scaled(g);
      for (int r = 0; r < n_r; ++r) {
        float* d = val + vp[r] * LD;
        regs v = regs::load(d);
        v.add_scaled(wp[r], xv);
        v.store(d);
      }
      return;
    }
#endif
    float xs[LD];
    for (int c = 0; c < LD; ++c) xs[c] = g * x[c];
    for (int r = 0; r < n_r; ++r) {
      float* d = val + vp[r] * LD;
      for (int c = 0; c < LD; ++c) d[c] += wp[r] * xs[c];
    }
  }
  /// Any row width and d.
  WSSS_CRF_INLINE void row(index_t p, const float* x) const {
    const std::int32_t* vp = vert + p * dp1;
    const float* wp = bary + p * dp1;
    const float g = pre ? pre[p] : 1.0f;
    for (int r = 0; r < dp1; ++r) {
      float* d = val + vp[r] * ld;
      for (index_t c = 0; c < ld; ++c) d[c] += wp[r] * (g * x[c]);
    }
  }
};

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
    if constexpr (LD % 8 == 0) {
      using regs = row_regs<LD>;
      regs acc = regs::zero();
      for (int r = 0; r < n_r; ++r) acc.add_scaled(wp[r] * alpha, regs::load(val + vp[r] * LD));
      regs out = regs::load(o);
      out.add_scaled(scale, acc.scaled(g));
      out.store(o);
      return;
    }
#endif
    float acc[LD] = {};
    for (int r = 0; r < n_r; ++r) {
      const float s = wp[r] * alpha;
      const float* x = val + vp[r] * LD;
      for (int c = 0; c < LD; ++c) acc[c] += s * x[c];
    }
    for (int c = 0; c < LD; ++c) o[c] += scale * (g * acc[c]);
  }
  /// Any row width; its sums are explicit fmadds (the same bits from every launcher).
  WSSS_CRF_INLINE WSSS_HD void row(std::int64_t p, float* o_row) const {
    const std::int32_t* vp = vert + p * dp1;
    const float* wp = bary + p * dp1;
    const float g = post ? post[p] : 1.0f;
    if (ld % lane != 0) {  // odd widths (the normaliser's single channel): channel by channel
      for (index_t c = 0; c < ld; ++c) {
        float acc = 0;
        for (int r = 0; r < dp1; ++r) acc = fmadd(wp[r] * alpha, val[vp[r] * ld + c], acc);
        o_row[c] = fmadd(scale, g * acc, o_row[c]);
      }
      return;
    }
    for_chunks(ld, [&]<int W>(index_t c0) {
      float acc[W] = {};
      for (int r = 0; r < dp1; ++r) {
        const float s = wp[r] * alpha;
        const float* x = val + vp[r] * ld + c0;
        for (int c = 0; c < W; ++c) acc[c] = fmadd(s, x[c], acc[c]);
      }
      float* o = o_row + c0;
      for (int c = 0; c < W; ++c) o[c] = fmadd(scale, g * acc[c], o[c]);
    });
  }
};

}  // namespace detail

/// Permutohedral-lattice approximation of the Gaussian filter exp(-|f_i - f_j|² / 2) over
/// D x N features (reference-semantics §8: scale factors, elevation, rank, barycentric
/// weights, blur [1/2, 1, 1/2] along the d + 1 axes, alpha = 1 / (1 + 2^-d), self term kept).
/// The plan is built once per image; apply_add() never allocates once reserve(ld) was called.
/// One plan must not be applied from two threads at once (it owns its blur buffers).
/// Backend tags (detail/parallel.hpp): blur and slice launch on the tag as index kernels; the
/// build's per-pixel passes and the splat parts use OpenMP threads unless the tag is cpu_t.
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
  void init(const tensor& features, normalization norm = normalization::symmetric) { init(wsss::omp, features, norm); }
  template <class Tag>
  void init(const Tag& tag, const tensor& features, normalization norm = normalization::symmetric) {
    const auto [d, n] = detail::check_features(features, name, max_dims);
    if (n > (index_t{1} << 30) / (d + 1))
      throw_shape("crf::permutohedral", "too many pixels for 32-bit lattice indices: ", n);
    d_ = static_cast<int>(d);
    n_ = n;
    norm_ = norm;
    constexpr bool par = detail::threaded<Tag>;
    switch ((d_ + 3) / 4) {
      case 1: build<1>(features, par); break;
      case 2: build<2>(features, par); break;
      case 3: build<3>(features, par); break;
      default: build<4>(features, par); break;
    }
    compute_normaliser(tag);
  }

  index_t pixels() const noexcept { return n_; }
  int dims() const noexcept { return d_; }
  index_t vertices() const noexcept { return m_; }
  normalization norm() const noexcept { return norm_; }
  /// n = K·1 per pixel (the raw lattice response to ones, self term included).
  const std::vector<float>& response_to_ones() const noexcept { return ones_response_; }

  /// Makes apply_add() allocation-free for rows of up to ld channels. Sized by vertex rows,
  /// not by ld alone: a rebuilt plan (the next image) may have more vertices.
  void reserve(index_t ld) {
    const int threads = backend::max_threads();
    const index_t rows = (m_ + 1) * ld;
    if (buf_[0].numel() < rows) {
      buf_[0] = tensor::uninitialized({rows});
      buf_[1] = tensor::uninitialized({rows});
    }
    // Per-part splat targets beyond the first (which is buf_[cur_] itself).
    if (threads > 1 && priv_.numel() < (threads - 1) * rows) priv_ = tensor::uninitialized({(threads - 1) * rows});
    buf_threads_ = threads;
  }

  /// out += scale · F in (or F^T in), in/out N x ld interleaved (ld a multiple of 8 takes the
  /// vectorised kernels).
  void apply_add(const float* in, float* out, index_t ld, float scale, bool transpose = false) {
    apply_add(wsss::omp, in, out, ld, scale, transpose);
  }
  template <class Tag>
  void apply_add(const Tag& tag, const float* in, float* out, index_t ld, float scale, bool transpose = false) {
    const detail::slice_kernel k = splat_blur(tag, in, ld, scale, transpose, out);
    if (ld != 1) return backend::for_each_index(tag, n_, k);
    with_dims([&]<int DP1>() {  // the normaliser's single channel: unrolled over the vertices
#pragma omp parallel for schedule(static) if (detail::threaded<Tag>)
      for (index_t p = 0; p < n_; ++p) k.template row_fixed<1, DP1>(p, out + p);
    });
  }

  /// The first two stages of apply_add (splat, blur) on in (N x ld); returns the slice kernel
  /// whose row(p, o) adds scale · (F in)[p] (or F^T) into o, and whose operator()(p) adds it
  /// into out[p]. Valid until the next blur on this plan.
  template <class Tag>
  detail::slice_kernel splat_blur(const Tag& tag, const float* in, index_t ld, float scale, bool transpose = false,
                                  float* out = nullptr) {
    reserve(ld);
    const int parts = buf_threads_;
    auto run = [&]<int LD, int DP1>() {
      detail::for_each_part(tag, parts, [&](int part) {
        const detail::splat_sink sink = begin_splat(ld, part, transpose);
        const auto [p0, p1] = part_range(part);
        for (index_t p = p0; p < p1; ++p) {
          if constexpr (LD > 0) sink.template row_fixed<LD, DP1>(p, in + p * LD);
          else sink.row(p, in + p * ld);
        }
      });
    };
    auto widths = [&]<int LD>() { with_dims([&]<int DP1>() { run.template operator()<LD, DP1>(); }); };
    if (ld == 1) widths.template operator()<1>();
    else detail::with_row_width(ld, widths);
    end_splat(tag, ld);
    return blur(tag, ld, scale, transpose, out);
  }

  /// Splatting in parts: part 0 writes the plan's splat buffer, part u > 0 a buffer of its own
  /// that end_splat() adds in (in part order, so a given part count always gives the same
  /// bits). Part u covers pixels part_range(u); splat_parts() is the thread count at reserve().
  /// begin_splat zeroes the part's rows and returns the sink that adds pixel rows into them.
  int splat_parts() const noexcept { return buf_threads_; }
  std::pair<index_t, index_t> part_range(int part) const noexcept {
    const index_t chunk = (n_ + buf_threads_ - 1) / buf_threads_;
    return {std::min(n_, part * chunk), std::min(n_, (part + 1) * chunk)};
  }
  detail::splat_sink begin_splat(index_t ld, int part, bool transpose = false) {
    const index_t rows = (m_ + 1) * ld;
    float* val = part == 0 ? buf_[cur_].data() : priv_.data() + (part - 1) * rows;
    std::fill(val, val + rows, 0.0f);
    const std::vector<float>& pre = transpose ? post_ : pre_;
    return {vert_.data(), bary_.data(), pre.empty() ? nullptr : pre.data(), val, d_ + 1, ld};
  }
  template <class Tag>
  void end_splat(const Tag&, index_t ld) {
    if (buf_threads_ <= 1) return;
    const index_t rows = (m_ + 1) * ld;
    const int parts = buf_threads_;
    float* val = buf_[cur_].data();
    const float* priv = priv_.data();
#pragma omp parallel for schedule(static) if (detail::threaded<Tag>)
    for (index_t e = ld; e < rows; ++e) {
      float acc = val[e];
      for (int u = 1; u < parts; ++u) acc += priv[(u - 1) * rows + e];
      val[e] = acc;
    }
  }

  /// Blurs the splatted rows along the d + 1 axes (reverse order for F^T) and returns the
  /// slice kernel reading the result; the next splat goes to the other buffer, so it can run
  /// while this result is sliced (mean field's pipelined pass).
  template <class Tag>
  detail::slice_kernel blur(const Tag& tag, index_t ld, float scale, bool transpose = false, float* out = nullptr) {
    const std::vector<float>& post = transpose ? pre_ : post_;
    float* src = buf_[cur_].data();
    float* dst = buf_[cur_ ^ 1].data();
    std::fill(dst, dst + ld, 0.0f);
    auto run = [&]<int LD>() {
      for (int k = 0; k <= d_; ++k) {
        const int j = transpose ? d_ - k : k;
        backend::for_each_index(tag, m_, detail::blur_kernel<LD>{nb_.data() + 2 * m_ * j, src, dst, ld});
        std::swap(src, dst);
      }
    };
    if (ld == 1) run.template operator()<1>();
    else detail::with_row_width(ld, run);
    cur_ = src == buf_[0].data() ? 1 : 0;
    return detail::slice_kernel{vert_.data(), bary_.data(), alpha_, post.empty() ? nullptr : post.data(), src, out,
                                scale, d_ + 1, ld};
  }

  /// F in for in L x N (channel-major); allocates (convenience path).
  tensor apply(const tensor& in) { return detail::apply_channel_major(*this, in, false, name); }
  /// F^T in: the same splat and slice with the blur axes in reverse order and the
  /// normalisers swapped.
  tensor apply_transpose(const tensor& in) { return detail::apply_channel_major(*this, in, true, name); }

  /// Calls f.template operator()<DP1>() with DP1 = d + 1 for the reference's two kernels
  /// (d = 2 and 5, unrolled vertex loops), else DP1 = 0 (read at run time).
  template <class F>
  void with_dims(F&& f) const {
    if (d_ == 5) f.template operator()<6>();
    else if (d_ == 2) f.template operator()<3>();
    else f.template operator()<0>();
  }

  /// The built lattice as flat arrays, what a device back end uploads (crf/device/lattice.hpp):
  /// vert and bary N x (d + 1) (vertex ids 1-based, 0 = the zero row), nb (d + 1) x M x 2
  /// blur neighbours, the normalisers pre and post (empty = 1) and alpha = 1 / (1 + 2^-d).
  struct arrays_view {
    int d;
    index_t n, m;
    float alpha;
    std::span<const std::int32_t> vert, nb;
    std::span<const float> bary, pre, post;
  };
  arrays_view arrays() const noexcept { return {d_, n_, m_, alpha_, vert_, nb_, bary_, pre_, post_}; }

  /// Bytes held by the plan (lattice, normalisers and blur buffers).
  std::size_t bytes() const noexcept {
    return vert_.capacity() * 4 + bary_.capacity() * 4 + nb_.capacity() * 4 + pre_.capacity() * 4 +
           post_.capacity() * 4 + ones_response_.capacity() * 4 +
           static_cast<std::size_t>(buf_[0].numel() + buf_[1].numel() + priv_.numel()) * 4;
  }

 private:
  // par: the per-pixel and per-vertex passes run on OpenMP threads (detail::threaded).
  template <int W>
  void build(const tensor& f, [[maybe_unused]] bool par) {
    const int d = d_, dp1 = d + 1;
    const index_t n = n_;
    const std::vector<float> scale = detail::lattice_scales(d);
    const float down = 1.0f / static_cast<float>(dp1);
    alpha_ = detail::lattice_alpha(d);
    detail::check_key_range(f, scale);

    // Pass 1 (parallel): per pixel the remainder-0 point, the ranks and the weights. The
    // point's first d coordinates and ranks fix the pixel's d + 1 vertices; as the point's
    // coordinates are multiples of d + 1 and the ranks lie in [0, d], their sums keep both
    // and pack like a vertex key: the pixel's simplex signature.
    using simplex_key = detail::packed_key<W>;
    std::vector<simplex_key> sig(static_cast<std::size_t>(n));
    bary_.resize(static_cast<std::size_t>(n * dp1));
    std::atomic<bool> overflow{false};
    const float* fp = f.data();
    // D > 0 fixes the dimension at compile time so the short loops unroll (d = 2 and 5 are
    // the reference's two kernels). detail::elevate is branch-free; it runs on blocks of
    // pixels in SIMD lanes (the features are feature-major, so a block's coordinates are
    // contiguous) and on the remaining pixels one by one, with the same bits either way.
    auto store = [&](index_t p, const std::int32_t* r0, const std::int32_t* rk, const float* b) {
      std::int32_t packed[max_dims];
      for (int i = 0; i < d; ++i) packed[i] = r0[i] + rk[i];
      sig[static_cast<std::size_t>(p)] = simplex_key::pack(packed, d);
      float* bp = bary_.data() + p * dp1;
      for (int i = 0; i < dp1; ++i) bp[i] = b[i];  // a loop: std::copy of a few floats calls memmove
    };
    auto pass1 = [&]<int D>() {
      std::int32_t bad = 0;
#if defined(WSSS_CRF_VECTOR_EXT)
      constexpr int L = detail::elevate_lanes;
      const index_t blocks = n / L;
#pragma omp parallel for schedule(static) reduction(| : bad) if (par)
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
#pragma omp parallel for schedule(static) reduction(| : bad) if (par)
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

    // Pass 2 (serial): vertex ids in the reference's insertion order (pixel, then r; the
    // order changes no sum, but keeps ids deterministic and the pixel scan's rows close).
    // Pixels of one simplex share their d + 1 vertices, so only distinct simplices are
    // hashed for vertices: (a) each pixel's simplex id, numbered by first pixel; (b) each
    // simplex's vertices in id order; (c) each pixel's vertex ids from its simplex's. The
    // tables outgrow the L2 cache, so probes are prefetched some keys ahead.
    detail::lattice_table<W> table(static_cast<std::size_t>(std::min<index_t>(n / 8, index_t{1} << 16)));
    detail::lattice_table<W> simplices(static_cast<std::size_t>(std::min<index_t>(n / 4, index_t{1} << 17)));
    vert_.resize(static_cast<std::size_t>(n * dp1));
    constexpr index_t ahead = 8;
    auto sig_at = [&](index_t p) -> const simplex_key& { return sig[static_cast<std::size_t>(p)]; };
    std::int32_t last = 0;  // (a): the simplex id parks in the pixel's first vertex slot
    for (index_t p = 0; p < n; ++p) {
      if (p + ahead < n && !(sig_at(p + ahead) == sig_at(p + ahead - 1))) simplices.prefetch(sig_at(p + ahead));
      if (p == 0 || !(sig_at(p) == sig_at(p - 1))) last = simplices.find_or_insert(sig_at(p));
      vert_[static_cast<std::size_t>(p * dp1)] = last;
    }
    std::vector<simplex_key>().swap(sig);
    const index_t n_simplices = simplices.size();
    std::vector<std::int32_t> simplex_vert(static_cast<std::size_t>((n_simplices + 1) * dp1));
    constexpr index_t batch = 8;  // (b), a batch of simplices' vertex keys prefetched together
    for (index_t s0 = 1; s0 <= n_simplices; s0 += batch) {
      const index_t s1 = std::min(n_simplices + 1, s0 + batch);
      detail::packed_key<W> keys[batch * (max_dims + 1)];
      index_t count = 0;
      for (index_t sid = s0; sid < s1; ++sid) {
        std::int32_t packed[max_dims], r0[max_dims], rk[max_dims], key[max_dims];
        simplices.key(static_cast<std::int32_t>(sid)).unpack(packed, d);
        for (int i = 0; i < d; ++i) {
          rk[i] = (packed[i] % dp1 + dp1) % dp1;
          r0[i] = packed[i] - rk[i];
        }
        for (int r = 0; r <= d; ++r) {
          for (int i = 0; i < d; ++i) key[i] = r0[i] + (rk[i] <= d - r ? r : r - dp1);
          keys[count] = detail::packed_key<W>::pack(key, d);
          table.prefetch(keys[count++]);
        }
      }
      for (index_t i = 0; i < count; ++i) simplex_vert[static_cast<std::size_t>(s0 * dp1 + i)] = table.find_or_insert(keys[i]);
    }
    for (index_t p = 0; p < n; ++p) {  // (c)
      std::int32_t* vp = vert_.data() + p * dp1;
      if (p + ahead < n) detail::prefetch(&simplex_vert[static_cast<std::size_t>(vp[ahead * dp1] * dp1)]);
      const std::int32_t* sv = simplex_vert.data() + vp[0] * dp1;
      for (int r = 0; r < dp1; ++r) vp[r] = sv[r];
    }
    m_ = table.size();

    // Blur neighbours along each axis j (detail::blur_neighbours), looked up a chunk of
    // vertices at a time, the chunk's probes prefetched together.
    nb_.assign(static_cast<std::size_t>(2 * m_ * dp1), 0);
    const index_t m = m_;
    constexpr index_t chunk = 16;
#pragma omp parallel for schedule(static) if (par)
    for (index_t i0 = 0; i0 < m; i0 += chunk) {
      const index_t i1 = std::min(m, i0 + chunk);
      detail::packed_key<W> keys[chunk * 2 * (max_dims + 1)];
      std::int32_t ids[chunk * 2 * (max_dims + 1)];
      std::size_t count = 0;
      for (index_t i = i0; i < i1; ++i) {
        std::int32_t key[max_dims], n1[max_dims], n2[max_dims];
        table.key(static_cast<std::int32_t>(i + 1)).unpack(key, d);
        for (int j = 0; j <= d; ++j) {
          detail::blur_neighbours(key, d, j, n1, n2);
          keys[count++] = detail::packed_key<W>::pack(n1, d);
          keys[count++] = detail::packed_key<W>::pack(n2, d);
        }
      }
      table.find_many(keys, count, ids);
      std::size_t at = 0;
      for (index_t i = i0; i < i1; ++i)
        for (int j = 0; j <= d; ++j) {
          nb_[static_cast<std::size_t>(2 * (m * j + i))] = ids[at++];
          nb_[static_cast<std::size_t>(2 * (m * j + i) + 1)] = ids[at++];
        }
    }
  }

  template <class Tag>
  void compute_normaliser(const Tag& tag) {
    pre_.clear();
    post_.clear();
    std::vector<float> ones(static_cast<std::size_t>(n_), 1.0f);
    ones_response_.assign(static_cast<std::size_t>(n_), 0.0f);
    apply_add(tag, ones.data(), ones_response_.data(), 1, 1.0f);
    detail::set_normalisers(norm_, ones_response_, pre_, post_);
  }

  int d_ = 0;
  index_t n_ = 0, m_ = 0;
  int buf_threads_ = 0;
  normalization norm_ = normalization::symmetric;
  std::vector<std::int32_t> vert_;   // N x (d+1) vertex ids (1-based)
  std::vector<float> bary_;          // N x (d+1) barycentric weights
  float alpha_ = 1.0f;               // 1 / (1 + 2^-d)
  std::vector<std::int32_t> nb_;     // (d+1) x M x 2 blur neighbours
  std::vector<float> pre_, post_, ones_response_;
  tensor buf_[2], priv_;             // splat / blur ping-pong buffers, per-part splat buffers
  int cur_ = 0;                      // buf_[cur_] takes the next splat
};

static_assert(GaussianFilter<permutohedral>);

}  // namespace wsss::crf
