// SPDX-License-Identifier: MIT
// wsss/crf/device/lattice.hpp — a batch's permutohedral lattices as one flat lattice for a
// device: built on the host by crf::permutohedral, uploaded once, then filtered on the
// device by gather kernels (crf/device/kernels.hpp)
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "wsss/backend/device_memory.hpp"
#include "wsss/core/error.hpp"
#include "wsss/crf/device/kernels.hpp"
#include "wsss/crf/permutohedral.hpp"

namespace wsss::crf::device {

/// The lattices of several images laid side by side: image i's pixels and vertices follow
/// image i - 1's, and as no blur neighbour crosses an image, filtering the flat lattice
/// filters every image at once (one launch per step for the whole batch).
/// Splat is stored transposed (per vertex, its entries in pixel order) so that it is a
/// gather; the normalisers and alpha are folded into the entries' weights.
struct flat_lattice {
  int dp1 = 0;                          ///< d + 1, the same for every image
  index_t n = 0, m = 0;                 ///< pixels, vertices
  std::vector<std::int32_t> off{0};     ///< M + 1: vertex v's splat entries are [off[v], off[v + 1])
  std::vector<std::int32_t> pix;        ///< N x dp1 entries' pixels
  std::vector<float> splat_w;           ///< entries' weights: barycentric x pre[p]
  std::vector<std::int32_t> vert;       ///< N x dp1 pixel's vertices (1-based; 0 is the zero row)
  std::vector<float> slice_w;           ///< N x dp1: barycentric x alpha x post[p]
  std::vector<std::int32_t> nb;         ///< M x dp1 x 2 blur neighbours (0 = none)
  // F^T = Q K^T P swaps the normalisers (and runs the blur axes in reverse order):
  std::vector<float> splat_wt;          ///< entries' weights for F^T: barycentric x post[p]
  std::vector<float> slice_wt;          ///< N x dp1 for F^T: barycentric x alpha x pre[p]

  void clear() {
    dp1 = 0;
    n = m = 0;
    off.assign(1, 0);
    pix.clear();
    splat_w.clear();
    vert.clear();
    slice_w.clear();
    nb.clear();
    splat_wt.clear();
    slice_wt.clear();
  }

  /// Appends one image's lattice.
  void append(const permutohedral& f) {
    const permutohedral::arrays_view a = f.arrays();
    const int d1 = a.d + 1;
    if (dp1 != 0 && d1 != dp1)
      throw_shape("crf::device::flat_lattice", "every image needs the same feature dimension (", dp1 - 1, " and ",
                  a.d, ")");
    if ((n + a.n) * d1 > std::numeric_limits<std::int32_t>::max() || m + a.m >= std::numeric_limits<std::int32_t>::max())
      throw_shape("crf::device::flat_lattice", "the batch is too large for 32-bit lattice indices (", n + a.n,
                  " pixels); split it");
    dp1 = d1;
    const auto vo = static_cast<std::int32_t>(m), po = static_cast<std::int32_t>(n);
    // Slice side: vertices shifted, weights with alpha and the output normaliser.
    auto scale = [](std::span<const float> s, index_t p) { return s.empty() ? 1.0f : s[static_cast<std::size_t>(p)]; };
    for (index_t p = 0; p < a.n; ++p)
      for (int r = 0; r < d1; ++r) {
        const auto at = static_cast<std::size_t>(p * d1 + r);
        vert.push_back(a.vert[at] + vo);
        slice_w.push_back(a.bary[at] * a.alpha * scale(a.post, p));
        slice_wt.push_back(a.bary[at] * a.alpha * scale(a.pre, p));
      }
    // Splat side: the (pixel, r) entries counting-sorted by vertex, pixel order kept.
    std::vector<std::int32_t> count(static_cast<std::size_t>(a.m) + 1, 0);
    for (const std::int32_t v : a.vert) ++count[static_cast<std::size_t>(v)];
    const std::size_t first = off.size();  // off[first - 1] == e0
    for (index_t v = 1; v <= a.m; ++v) off.push_back(off.back() + count[static_cast<std::size_t>(v)]);
    pix.resize(pix.size() + a.vert.size());
    splat_w.resize(pix.size());
    splat_wt.resize(pix.size());
    std::vector<std::int32_t> next(off.begin() + static_cast<std::ptrdiff_t>(first - 1), off.end() - 1);
    for (index_t p = 0; p < a.n; ++p)
      for (int r = 0; r < d1; ++r) {
        const auto at = static_cast<std::size_t>(p * d1 + r);
        const auto e = static_cast<std::size_t>(next[static_cast<std::size_t>(a.vert[at] - 1)]++);
        pix[e] = static_cast<std::int32_t>(p) + po;
        splat_w[e] = a.bary[at] * scale(a.pre, p);
        splat_wt[e] = a.bary[at] * scale(a.post, p);
      }
    WSSS_ASSERT(off.back() == static_cast<std::int32_t>(pix.size()));
    // Blur neighbours, vertex-major, shifted (0 stays the zero row).
    for (index_t v = 0; v < a.m; ++v)
      for (int j = 0; j < d1; ++j)
        for (int s = 0; s < 2; ++s) {
          const std::int32_t id = a.nb[static_cast<std::size_t>(2 * (a.m * j + v) + s)];
          nb.push_back(id == 0 ? 0 : id + vo);
        }
    n += a.n;
    m += a.m;
  }
};

/// The steps of the device pipeline on backend Tag (class template specialised per tag, as
/// backend::launcher is, so a specialisation declared in a later header is still found): the
/// primary template launches the functors of crf/device/kernels.hpp through for_each_index
/// (host backends, cuda_t); crf/opencl/steps.hpp specialises it for opencl_t.
template <class Tag>
struct steps;

/// A flat lattice in a backend's memory, with its two blur buffers. F^T's weights (for the
/// backward pass) are uploaded only when asked for (upload_transpose).
template <class Tag>
struct lattice {
  template <class T>
  using array = backend::device_array<T, Tag>;
  int dp1 = 0;
  index_t n = 0, m = 0, k = 0;
  array<std::int32_t> off, pix, vert, nb;
  array<float> splat_w, slice_w, splat_wt, slice_wt;
  array<float> val[2];
  bool transposed = false;  ///< splat_wt and slice_wt hold the uploaded lattice's F^T weights

  /// Uploads the flat lattice (six transfers) and sizes the buffers for rows of k channels.
  void upload(const Tag& tag, const flat_lattice& f, index_t channels) {
    dp1 = f.dp1;
    n = f.n;
    m = f.m;
    k = channels;
    transposed = false;
    backend::upload(tag, std::span<const std::int32_t>(f.off), off);
    backend::upload(tag, std::span<const std::int32_t>(f.pix), pix);
    backend::upload(tag, std::span<const float>(f.splat_w), splat_w);
    backend::upload(tag, std::span<const std::int32_t>(f.vert), vert);
    backend::upload(tag, std::span<const float>(f.slice_w), slice_w);
    backend::upload(tag, std::span<const std::int32_t>(f.nb), nb);
    for (array<float>& v : val) {
      backend::resize(tag, v, (m + 1) * k);
      backend::fill(tag, v, 0.0f);  // row 0, the missing neighbour, stays zero
    }
  }

  /// F^T's weights of f, the flat lattice last uploaded (two transfers, the first time after
  /// each upload).
  void upload_transpose(const Tag& tag, const flat_lattice& f) {
    if (transposed) return;
    WSSS_ASSERT(f.n == n && f.m == m);
    backend::upload(tag, std::span<const float>(f.splat_wt), splat_wt);
    backend::upload(tag, std::span<const float>(f.slice_wt), slice_wt);
    transposed = true;
  }

  /// Splats q (N x k) and blurs it along the d + 1 axes (F^T, after upload_transpose: with the
  /// swapped normalisers, the axes in reverse order); returns the blurred rows the slice reads
  /// (valid until the next call), to be sliced with slice_weights(transpose).
  const array<float>& filter(const Tag& tag, const array<float>& q, bool transpose = false) {
    WSSS_ASSERT(!transpose || transposed);
    steps<Tag>::splat(tag, *this, transpose ? splat_wt : splat_w, q, val[0]);
    int cur = 0;
    for (int a = 0; a < dp1; ++a, cur ^= 1) steps<Tag>::blur(tag, *this, transpose ? dp1 - 1 - a : a, val[cur], val[cur ^ 1]);
    return val[cur];
  }
  const array<float>& slice_weights(bool transpose) const { return transpose ? slice_wt : slice_w; }
};

namespace build_detail {
template <class Tag, int W>
struct scratch;
}  // namespace build_detail

/// The lattice built on the device from features D x n (crf/thrust/lattice_build.hpp, Thrust
/// backends; declared here so that code choosing between the builds compiles without Thrust).
template <class Tag, int W>
void build_lattice(const Tag& tag, lattice<Tag>& l, build_detail::scratch<Tag, W>& s, const tensor& features,
                   index_t per_image, index_t k, normalization norm);

/// The primary steps: the WSSS_HD functors through the tag's launcher.
template <class Tag>
struct steps {
  template <class T>
  using array = backend::device_array<T, Tag>;
  template <class T>
  static const T* ptr(const array<T>& a) noexcept {
    return a.size() ? a.data() : nullptr;
  }
  static slice_view view(const lattice<Tag>& l, const array<float>& w, const array<float>& val, float weight) {
    return {l.vert.data(), w.data(), val.data(), l.dp1, weight};
  }

  static void splat(const Tag& tag, const lattice<Tag>& l, const array<float>& w, const array<float>& q,
                    array<float>& val) {
    backend::for_each_index(tag, l.m * l.k, splat_kernel{l.off.data(), l.pix.data(), w.data(), q.data(), val.data(), l.k});
  }
  static void blur(const Tag& tag, const lattice<Tag>& l, int j, const array<float>& src, array<float>& dst) {
    backend::for_each_index(tag, l.m * l.k, blur_kernel{l.nb.data(), src.data(), dst.data(), l.k, l.dp1, j});
  }
  /// out (N x k) = weight · F q (or F^T q), from the rows filter() returned and the lattice's
  /// slice_weights of the same direction.
  static void slice(const Tag& tag, const lattice<Tag>& l, const array<float>& w, const array<float>& val, float weight,
                    array<float>& out) {
    backend::for_each_index(tag, l.n * l.k, slice_kernel{view(l, w, val, weight), out.data(), l.k});
  }
  static void init(const Tag& tag, const array<float>& unary, const array<std::uint8_t>& clamp, array<float>& negu,
                   array<float>& q, index_t pixels, index_t n, index_t k) {
    backend::for_each_index(tag, pixels, init_kernel{unary.data(), ptr(clamp), negu.data(), q.data(), n, k});
  }
  static void update(const Tag& tag, const array<float>& negu, const array<std::uint8_t>& clamp, const lattice<Tag>& s,
                     const array<float>& vs, float ws, const lattice<Tag>& a, const array<float>& va, float wa,
                     array<float>& q, index_t pixels, index_t k) {
    backend::for_each_index(tag, pixels, update_kernel{negu.data(), ptr(clamp), view(s, s.slice_w, vs, ws),
                                                       view(a, a.slice_w, va, wa), q.data(), k});
  }
  static void output(const Tag& tag, const array<float>& q, array<float>& out, index_t n, index_t k) {
    backend::for_each_index(tag, static_cast<index_t>(out.size()), output_kernel{q.data(), out.data(), n, k});
  }
  static void argmax(const Tag& tag, const array<float>& q, array<std::uint8_t>& labels, index_t k) {
    backend::for_each_index(tag, static_cast<index_t>(labels.size()), argmax_kernel{q.data(), labels.data(), k});
  }

  // The backward pass's steps (host tags and cuda_t; opencl_t's twins in crf/opencl/steps.hpp).
  static void input(const Tag& tag, const array<float>& in, array<float>& rows, index_t n, index_t k) {
    backend::for_each_index(tag, static_cast<index_t>(rows.size()), input_kernel{in.data(), rows.data(), n, k});
  }
  /// dst[at, at + size) = src[0, size).
  static void copy(const Tag& tag, const array<float>& src, array<float>& dst, index_t at, index_t size) {
    backend::for_each_index(tag, size, copy_kernel{src.data(), dst.data() + at});
  }
  /// ga, gu -= ga from Q_t (q_at: its first element in hist) and g_Q.
  static void softmax_backward(const Tag& tag, const array<float>& hist, index_t q_at, const array<float>& gq,
                               const array<std::uint8_t>& clamp, array<float>& ga, array<float>& gu, index_t pixels,
                               index_t k) {
    backend::for_each_index(tag, pixels,
                            softmax_backward_kernel{hist.data() + q_at, gq.data(), ptr(clamp), ga.data(), gu.data(), k});
  }
  /// The learned-compatibility update; m goes to msg[msg_at, msg_at + N k).
  static void compat_update(const Tag& tag, const array<float>& negu, const array<std::uint8_t>& clamp,
                            const lattice<Tag>& s, const array<float>& vs, float ws, const lattice<Tag>& a,
                            const array<float>& va, float wa, const array<float>& mu, array<float>& msg, index_t msg_at,
                            array<float>& q, index_t pixels, index_t k) {
    backend::for_each_index(tag, pixels, compat_update_kernel{negu.data(), ptr(clamp), view(s, s.slice_w, vs, ws),
                                                              view(a, a.slice_w, va, wa), mu.data(),
                                                              msg.data() + msg_at, q.data(), k});
  }
  /// gm = -mu^T ga.
  static void compat_backward(const Tag& tag, const array<float>& mu, const array<float>& ga, array<float>& gm,
                              index_t pixels, index_t k) {
    backend::for_each_index(tag, pixels, compat_backward_kernel{mu.data(), ga.data(), gm.data(), k});
  }
  /// total (k x k) += -Σ_p ga[p] m[p]^T, m = msg[msg_at, msg_at + pixels k).
  static void compat_grad(const Tag& tag, const array<float>& ga, const array<float>& msg, index_t msg_at,
                          index_t pixels, index_t k, array<double>& partial, array<double>& total) {
    const index_t chunks = (pixels + compat_chunk - 1) / compat_chunk;
    backend::resize(tag, partial, chunks * k * k);
    backend::for_each_index(tag, chunks * k * k,
                            compat_grad_partial_kernel{ga.data(), msg.data() + msg_at, partial.data(), pixels, k});
    backend::for_each_index(tag, k * k, chunk_total_kernel{partial.data(), total.data(), chunks, k * k});
  }
  static void combine(const Tag& tag, const array<float>& rs, const array<float>& ra, float ws, float wa,
                      array<float>& gq) {
    backend::for_each_index(tag, static_cast<index_t>(gq.size()), combine_kernel{rs.data(), ra.data(), ws, wa, gq.data()});
  }
  /// total += (<r_s, q>, <r_a, q>), q = hist[q_at, q_at + size).
  static void dot2(const Tag& tag, const array<float>& rs, const array<float>& ra, const array<float>& hist,
                   index_t q_at, index_t size, array<double>& partial, array<double>& total) {
    const index_t chunks = (size + dot_chunk - 1) / dot_chunk;
    backend::resize(tag, partial, 2 * chunks);
    backend::for_each_index(tag, chunks, dot2_partial_kernel{rs.data(), ra.data(), hist.data() + q_at, partial.data(), size});
    backend::for_each_index(tag, 2, chunk_total_kernel{partial.data(), total.data(), chunks, 2});
  }
};

}  // namespace wsss::crf::device
