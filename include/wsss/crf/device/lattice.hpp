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

  void clear() {
    dp1 = 0;
    n = m = 0;
    off.assign(1, 0);
    pix.clear();
    splat_w.clear();
    vert.clear();
    slice_w.clear();
    nb.clear();
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
    for (index_t p = 0; p < a.n; ++p) {
      const float post = a.post.empty() ? 1.0f : a.post[static_cast<std::size_t>(p)];
      for (int r = 0; r < d1; ++r) {
        const auto at = static_cast<std::size_t>(p * d1 + r);
        vert.push_back(a.vert[at] + vo);
        slice_w.push_back(a.bary[at] * a.alpha * post);
      }
    }
    // Splat side: the (pixel, r) entries counting-sorted by vertex, pixel order kept.
    std::vector<std::int32_t> count(static_cast<std::size_t>(a.m) + 1, 0);
    for (const std::int32_t v : a.vert) ++count[static_cast<std::size_t>(v)];
    const std::size_t first = off.size();  // off[first - 1] == e0
    for (index_t v = 1; v <= a.m; ++v) off.push_back(off.back() + count[static_cast<std::size_t>(v)]);
    pix.resize(pix.size() + a.vert.size());
    splat_w.resize(pix.size());
    std::vector<std::int32_t> next(off.begin() + static_cast<std::ptrdiff_t>(first - 1), off.end() - 1);
    for (index_t p = 0; p < a.n; ++p) {
      const float pre = a.pre.empty() ? 1.0f : a.pre[static_cast<std::size_t>(p)];
      for (int r = 0; r < d1; ++r) {
        const auto at = static_cast<std::size_t>(p * d1 + r);
        const auto e = static_cast<std::size_t>(next[static_cast<std::size_t>(a.vert[at] - 1)]++);
        pix[e] = static_cast<std::int32_t>(p) + po;
        splat_w[e] = a.bary[at] * pre;
      }
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

/// A flat lattice in a backend's memory, with its two blur buffers.
template <class Tag>
struct lattice {
  template <class T>
  using array = backend::device_array<T, Tag>;
  int dp1 = 0;
  index_t n = 0, m = 0, k = 0;
  array<std::int32_t> off, pix, vert, nb;
  array<float> splat_w, slice_w;
  array<float> val[2];

  /// Uploads the flat lattice (six transfers) and sizes the buffers for rows of k channels.
  void upload(const Tag& tag, const flat_lattice& f, index_t channels) {
    dp1 = f.dp1;
    n = f.n;
    m = f.m;
    k = channels;
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

  /// Splats q (N x k) and blurs it along the d + 1 axes; returns the blurred rows the slice
  /// reads (valid until the next call).
  const array<float>& filter(const Tag& tag, const array<float>& q) {
    steps<Tag>::splat(tag, *this, q, val[0]);
    int cur = 0;
    for (int j = 0; j < dp1; ++j, cur ^= 1) steps<Tag>::blur(tag, *this, j, val[cur], val[cur ^ 1]);
    return val[cur];
  }
};

/// The primary steps: the WSSS_HD functors through the tag's launcher.
template <class Tag>
struct steps {
  template <class T>
  using array = backend::device_array<T, Tag>;
  template <class T>
  static const T* ptr(const array<T>& a) noexcept {
    return a.size() ? a.data() : nullptr;
  }
  static slice_view view(const lattice<Tag>& l, const array<float>& val, float weight) {
    return {l.vert.data(), l.slice_w.data(), val.data(), l.dp1, weight};
  }

  static void splat(const Tag& tag, const lattice<Tag>& l, const array<float>& q, array<float>& val) {
    backend::for_each_index(tag, l.m * l.k, splat_kernel{l.off.data(), l.pix.data(), l.splat_w.data(), q.data(), val.data(), l.k});
  }
  static void blur(const Tag& tag, const lattice<Tag>& l, int j, const array<float>& src, array<float>& dst) {
    backend::for_each_index(tag, l.m * l.k, blur_kernel{l.nb.data(), src.data(), dst.data(), l.k, l.dp1, j});
  }
  /// out (N x k) = weight · F q, from the rows filter() returned.
  static void slice(const Tag& tag, const lattice<Tag>& l, const array<float>& val, float weight, array<float>& out) {
    backend::for_each_index(tag, l.n * l.k, slice_kernel{view(l, val, weight), out.data(), l.k});
  }
  static void init(const Tag& tag, const array<float>& unary, const array<std::uint8_t>& clamp, array<float>& negu,
                   array<float>& q, index_t pixels, index_t n, index_t k) {
    backend::for_each_index(tag, pixels, init_kernel{unary.data(), ptr(clamp), negu.data(), q.data(), n, k});
  }
  static void update(const Tag& tag, const array<float>& negu, const array<std::uint8_t>& clamp, const lattice<Tag>& s,
                     const array<float>& vs, float ws, const lattice<Tag>& a, const array<float>& va, float wa,
                     array<float>& q, index_t pixels, index_t k) {
    backend::for_each_index(tag, pixels,
                            update_kernel{negu.data(), ptr(clamp), view(s, vs, ws), view(a, va, wa), q.data(), k});
  }
  static void output(const Tag& tag, const array<float>& q, array<float>& out, index_t n, index_t k) {
    backend::for_each_index(tag, static_cast<index_t>(out.size()), output_kernel{q.data(), out.data(), n, k});
  }
  static void argmax(const Tag& tag, const array<float>& q, array<std::uint8_t>& labels, index_t k) {
    backend::for_each_index(tag, static_cast<index_t>(labels.size()), argmax_kernel{q.data(), labels.data(), k});
  }
};

}  // namespace wsss::crf::device
