// SPDX-License-Identifier: MIT
// wsss/crf/detail/mean_field.hpp — the mean-field machinery mean_field, crf_rnn and
// mean_field_op share: layout conversions, softmax, the pipelined Potts passes, the update
// loop, the energy, and the plan's preparation and solve
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/detail/filter_common.hpp"
#include "wsss/crf/detail/parallel.hpp"
#include "wsss/crf/image_plan.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf::detail {

/// Checks the shape s of unaries: N x K x H x W with K >= 1.
inline void check_unary_shape(std::string_view component, const shape& s) {
  if (s.rank() != 4)
    throw_shape(component, "unary must be rank 4 (N x K x H x W), got rank ", s.rank(), " (", s, ")");
  if (s[1] < 1) throw_value(component, "unary has zero labels (shape ", s, ")");
}

/// Checks clamp maps (one per item, H x W, labels < K or 255) against unaries of shape s.
inline void check_clamps(std::string_view component, std::span<const label_map> clamps, const shape& s) {
  if (!clamps.empty() && static_cast<index_t>(clamps.size()) != s[0])
    throw_shape(component, clamps.size(), " clamp maps for a batch of ", s[0]);
  for (const label_map& c : clamps) {
    if (c.height() != s[2] || c.width() != s[3])
      throw_shape(component, "clamp map is ", c.height(), "x", c.width(), " but the unary is ", s[2], "x", s[3]);
    for (index_t i = 0; i < c.pixels(); ++i)
      if (c[i] != ignore_label && c[i] >= s[1])
        throw_value(component, "clamp label ", int(c[i]), " at pixel ", i, " is not < K = ", s[1]);
  }
}

/// check_clamps, then copies the maps into the plan (reusing its maps' storage).
template <class Filter>
void set_clamps(std::string_view component, std::span<const label_map> clamps, const shape& s,
                mean_field_plan<Filter>& pl) {
  check_clamps(component, clamps, s);
  pl.clamps.assign(clamps.begin(), clamps.end());
}

/// Records the shape and reserves every filter's buffers for rows of padded(K) channels, so
/// that run allocates nothing on a prepared plan.
template <class Filter>
void finish_plan(const shape& s, mean_field_plan<Filter>& pl) {
  pl.dims = s;
  for (image_plan<Filter>& ip : pl.images) {
    ip.smoothness.reserve(padded(s[1]));
    ip.appearance.reserve(padded(s[1]));
  }
}

/// Checks a batch against unaries of shape s: one H x W image per item (and valid spans).
inline void check_images(std::string_view component, const batch& b, const shape& s) {
  check_unary_shape(component, s);
  b.validate(component);
  batch::need(b.images, component, "images");
  if (static_cast<index_t>(b.images.size()) != s[0])
    throw_shape(component, "unary batch is ", s[0], " but ", b.images.size(), " images were given");
  for (const rgb_image& im : b.images)
    if (im.height() != s[2] || im.width() != s[3])
      throw_shape(component, "image is ", im.height(), "x", im.width(), " but the unary is ", s[2], "x", s[3]);
}

/// CrfEngine::prepare of the mean-field engines: one image_plan per image of the batch (RGB
/// guides, raw 0..255), clamp maps from batch.labels.
template <class Tag, class Filter>
void prepare_plan(std::string_view component, const Tag& tag, const batch& b, const shape& s, const kernel_config& kc,
                  mean_field_plan<Filter>& pl) {
  check_images(component, b, s);
  set_clamps(component, b.labels, s, pl);
  pl.images.resize(b.images.size());
  for (std::size_t i = 0; i < b.images.size(); ++i) pl.images[i].build(tag, rgb_guide(b.images[i]), kc);
  finish_plan(s, pl);
}

/// The same from guides N x F x H x W of any feature dimension F (depth, Lab, ...).
template <class Tag, class Filter>
void prepare_plan(std::string_view component, const Tag& tag, const tensor& guides, const shape& s,
                  const kernel_config& kc, mean_field_plan<Filter>& pl) {
  check_unary_shape(component, s);
  expect_rank(guides, 4, component, "guides", "N x F x H x W");
  if (guides.dim(0) != s[0] || guides.dim(2) != s[2] || guides.dim(3) != s[3])
    throw_shape(component, "guides are ", guides.shape(), " but the unary is ", s);
  pl.clamps.clear();
  pl.images.resize(static_cast<std::size_t>(s[0]));
  const index_t per = guides.numel() / std::max<index_t>(s[0], 1);
  for (index_t i = 0; i < s[0]; ++i)
    pl.images[static_cast<std::size_t>(i)].build(
        tag, tensor::from({guides.dim(1), s[2], s[3]}, std::span<const float>(guides.data() + i * per, static_cast<std::size_t>(per))),
        kc);
  finish_plan(s, pl);
}

/// Pixels per block of the layout conversions (both sides stream, the block stays in cache).
inline constexpr index_t convert_block = 256;

/// Pixels [p0, p1) of dst (N x ld) = sign · src (K x N), padding channels set to `pad`.
/// Eight pixels by eight channels at a time through a register transpose (a plain loop
/// compiles to scatter or gather instructions, several times slower).
inline void interleave_range(const float* src, float* dst, index_t k, index_t n, index_t ld, float sign, float pad,
                             index_t p0, index_t p1) {
  index_t p = p0;
#if defined(WSSS_CRF_VECTOR_EXT)
  if (ld % lane == 0)
    for (; p + lane <= p1; p += lane)
      for (index_t c0 = 0; c0 < ld; c0 += lane) {
        v8f r[lane];
        for (index_t i = 0; i < lane; ++i) r[i] = c0 + i < k ? sign * load8(src + (c0 + i) * n + p) : v8f{} + pad;
        transpose8(r);
        for (index_t j = 0; j < lane; ++j) store8(dst + (p + j) * ld + c0, r[j]);
      }
#endif
  for (; p < p1; ++p) {
    for (index_t c = 0; c < k; ++c) dst[p * ld + c] = sign * src[c * n + p];
    for (index_t c = k; c < ld; ++c) dst[p * ld + c] = pad;
  }
}

/// dst (N x ld) = sign · src (K x N), padding channels set to `pad`; blocked like deinterleave.
template <class Tag>
void interleave(const Tag&, const float* src, float* dst, index_t k, index_t n, index_t ld, float sign,
                float pad = 0.0f) {
#pragma omp parallel for schedule(static) if (threaded<Tag>)
  for (index_t p0 = 0; p0 < n; p0 += convert_block)
    interleave_range(src, dst, k, n, ld, sign, pad, p0, std::min(n, p0 + convert_block));
}

/// Padding value of -U rows: -inf, so a padded softmax gives those channels exactly 0.
inline constexpr float negu_pad = -std::numeric_limits<float>::infinity();

/// dst (K x N) = src (N x ld), in blocks of pixels so that both sides stream; eight pixels
/// by eight channels at a time through a register transpose, as interleave_range.
template <class Tag>
void deinterleave(const Tag&, const float* src, float* dst, index_t k, index_t n, index_t ld) {
#pragma omp parallel for schedule(static) if (threaded<Tag>)
  for (index_t p0 = 0; p0 < n; p0 += convert_block) {
    const index_t p1 = std::min(n, p0 + convert_block);
    index_t p = p0;
#if defined(WSSS_CRF_VECTOR_EXT)
    if (ld % lane == 0)
      for (; p + lane <= p1; p += lane)
        for (index_t c0 = 0; c0 < k; c0 += lane) {
          v8f r[lane];
          for (index_t j = 0; j < lane; ++j) r[j] = load8(src + (p + j) * ld + c0);
          transpose8(r);
          for (index_t i = 0; i < lane && c0 + i < k; ++i) store8(dst + (c0 + i) * n + p, r[i]);
        }
#endif
    for (index_t c = 0; c < k; ++c)
      for (index_t q = p; q < p1; ++q) dst[c * n + q] = src[q * ld + c];
  }
}

/// Pixels [p0, p1) of q = softmax(a) over the first k channels (padding of a is -inf, of q
/// 0), or one-hot where the clamp map fixes the pixel; LD > 0 fixes ld at compile time.
template <int LD>
void softmax_range(const float* a, float* q, const std::uint8_t* clamp, index_t k, index_t ld, index_t p0,
                   index_t p1) {
  for (index_t p = p0; p < p1; ++p) {
    float* qp = q + p * ld;
    if (clamp && clamp[p] != ignore_label) {
      for (index_t c = 0; c < ld; ++c) qp[c] = c == clamp[p] ? 1.0f : 0.0f;
    } else if constexpr (LD > 0) {
      softmax_row_padded<LD>(a + p * ld, qp);
    } else {
      softmax_row(a + p * ld, qp, k);
      for (index_t c = k; c < ld; ++c) qp[c] = 0.0f;
    }
  }
}

/// q[p] = softmax(a[p]) for every pixel (softmax_range).
template <class Tag>
void softmax_rows(const Tag&, const float* a, float* q, const std::uint8_t* clamp, index_t k, index_t n, index_t ld) {
  with_row_width(ld, [&]<int LD>() {
#pragma omp parallel for schedule(static) if (threaded<Tag>)
    for (index_t p0 = 0; p0 < n; p0 += convert_block)
      softmax_range<LD>(a, q, clamp, k, ld, p0, std::min(n, p0 + convert_block));
  });
}

/// The start of mean field in one pass: a = sign · u interleaved (padding -inf) and
/// Q0 = softmax(a), block by block while the block's rows are in cache.
template <class Tag>
void interleave_softmax(const Tag&, const float* u, float sign, float* a, float* q, const std::uint8_t* clamp,
                        index_t k, index_t n, index_t ld) {
  with_row_width(ld, [&]<int LD>() {
#pragma omp parallel for schedule(static) if (threaded<Tag>)
    for (index_t p0 = 0; p0 < n; p0 += convert_block) {
      const index_t p1 = std::min(n, p0 + convert_block);
      interleave_range(u, a, k, n, ld, sign, negu_pad, p0, p1);
      softmax_range<LD>(a, q, clamp, k, ld, p0, p1);
    }
  });
}

/// Whether the Potts update can run as pipelined pixel passes on this filter: splats in parts
/// (one per thread) that take one pixel row at a time, a blur that leaves the next splat a
/// free buffer, and slices that add one pixel's filtered row (the permutohedral lattice).
template <class Filter, class Compat>
inline constexpr bool fused_update =
    requires { Compat::adds_message; } && requires(Filter& f, const float* x, index_t ld, float* row) {
      f.begin_splat(ld, 0).row(index_t{0}, x);
      f.begin_splat(ld, 0).template row_fixed<8, 3>(index_t{0}, x);
      f.end_splat(wsss::omp, ld);
      f.blur(wsss::omp, ld, 1.0f).row(index_t{0}, row);
      f.blur(wsss::omp, ld, 1.0f).template row_fixed<8, 3>(index_t{0}, row);
      { f.splat_parts() } -> std::convertible_to<int>;
      { f.part_range(0).first } -> std::convertible_to<index_t>;
      { f.dims() } -> std::convertible_to<int>;
    };

/// Largest padded row the fused update keeps on the stack.
inline constexpr index_t fused_max_ld = 256;

/// One pixel pass of the pipelined Potts mean field. With `update`, each pixel's row is
/// -U + w_s m_s + w_a m_a from the last splats (blurred here; the reference's order of sums)
/// and its new q = softmax(row) is kept in q only when `store`. With `splat`, the pixel's q
/// (new, or read from q for clamped pixels and splat-only passes) goes at once into both
/// lattices for the next update: the same sums in the same pixel order as a separate splat
/// pass, so the same bits, but Q makes no round trip through memory between updates.
/// LD > 0 fixes the row width; DS, DA > 0 fix the two lattices' d + 1 (0: read at run time).
template <int LD, int DS, int DA, class Tag, class Filter>
void pipelined_pass(const Tag& tag, image_plan<Filter>& plan, const float* negu, const std::uint8_t* clamp, index_t ld,
                    float ws, float wa, float* q, bool update, bool store, bool splat) {
  Filter& fs = plan.smoothness;
  Filter& fa = plan.appearance;
  const int parts = fs.splat_parts();
  if (fa.splat_parts() != parts)
    throw_value("crf::mean_field", "the two lattices were reserved for different thread counts (", parts, " and ",
                fa.splat_parts(), ")");
  decltype(fs.blur(tag, ld, ws)) ks{}, ka{};
  if (update) {
    ks = fs.blur(tag, ld, ws);
    ka = fa.blur(tag, ld, wa);
  }
  for_each_part(tag, parts, [&](int part) {
    // Local copies: the lambda sees ks and ka through pointers, and their float members
    // (weights, alpha) would be reloaded after every float store of the loop.
    const auto ks_local = ks, ka_local = ka;
    decltype(fs.begin_splat(ld, 0)) ss{}, sa{};
    if (splat) {
      ss = fs.begin_splat(ld, part);
      sa = fa.begin_splat(ld, part);
    }
    const auto range = fs.part_range(part);
    // Blocks of pixels: update a block's rows, then splat them (one loop doing both per pixel
    // runs slower than the two loops apart: the splat's stores stall the slice's loads).
    constexpr index_t width = LD > 0 ? LD : fused_max_ld, block = LD > 0 ? 64 : 8;
    alignas(64) float fresh[block * width];
    const float* src[block];
    for (index_t b0 = range.first; b0 < range.second; b0 += block) {
      const index_t b1 = std::min(range.second, b0 + block);
      for (index_t p = b0; p < b1; ++p) {
        float* qp = q + p * ld;
        src[p - b0] = qp;
        if (!update || (clamp && clamp[p] != ignore_label)) continue;  // clamped pixels stay one-hot
        float* dst = store ? qp : fresh + (p - b0) * width;
        alignas(64) float row[width];
        if constexpr (LD > 0) {
          for (int c = 0; c < LD; ++c) row[c] = negu[p * LD + c];  // a fixed-size copy, not a memmove call
          ks_local.template row_fixed<LD, DS>(p, row);
          ka_local.template row_fixed<LD, DA>(p, row);
          softmax_row_padded<LD>(row, dst);
        } else {
          std::copy(negu + p * ld, negu + (p + 1) * ld, row);
          ks_local.row(p, row);
          ka_local.row(p, row);
          float mx = row[0];
          for (index_t c = 1; c < ld; ++c) mx = row[c] > mx ? row[c] : mx;
          float sum = 0;
          for (index_t c = 0; c < ld; ++c) sum += (dst[c] = exp_nonpositive(row[c] - mx));
          for (index_t c = 0; c < ld; ++c) dst[c] /= sum;
        }
        src[p - b0] = dst;
      }
      if (!splat) continue;
      for (index_t p = b0; p < b1; ++p) {
        if constexpr (LD > 0) {
          ss.template row_fixed<LD, DS>(p, src[p - b0]);
          sa.template row_fixed<LD, DA>(p, src[p - b0]);
        } else {
          ss.row(p, src[p - b0]);
          sa.row(p, src[p - b0]);
        }
      }
    }
  });
  if (splat) {
    fs.end_splat(tag, ld);
    fa.end_splat(tag, ld);
  }
}

/// pipelined_pass for the common shapes: RGB appearance (d = 5) with position smoothness
/// (d = 2) and 8 to 32 padded labels get fully unrolled kernels.
template <class Tag, class Filter>
void pipelined_dispatch(const Tag& tag, image_plan<Filter>& plan, const float* negu, const std::uint8_t* clamp,
                        index_t ld, float ws, float wa, float* q, bool update, bool store, bool splat) {
  const bool rgb = plan.smoothness.dims() == 2 && plan.appearance.dims() == 5;
  with_row_width(ld, [&]<int LD>() {
    if constexpr (LD > 0)
      if (rgb) return pipelined_pass<LD, 3, 6>(tag, plan, negu, clamp, ld, ws, wa, q, update, store, splat);
    pipelined_pass<LD, 0, 0>(tag, plan, negu, clamp, ld, ws, wa, q, update, store, splat);
  });
}

/// The on_step of iterate() and solve() for callers that only want Q_T: lets the pipelined
/// Potts path skip storing the intermediate Q_t.
struct ignore_steps {
  template <class... A>
  void operator()(A&&...) const noexcept {}
};
template <class F>
inline constexpr bool observes_steps = !std::is_same_v<std::remove_cvref_t<F>, ignore_steps>;

/// T parallel mean-field updates on one image, interleaved N x ld buffers. On entry q holds
/// Q0; msg and a are scratch (unused by the pipelined Potts path). After update t, on_step(t)
/// sees q = Q_t and, for a compatibility without the Potts fold, msg = m_t = Σ_k w_k F_k Q_{t-1};
/// with on_step = ignore_steps the pipelined path writes q only at t = T.
template <class Tag, class Filter, class Compat, class OnStep>
void iterate(const Tag& tag, image_plan<Filter>& plan, const Compat& compat, const float* negu,
             const std::uint8_t* clamp, index_t k, index_t ld, int iterations, float ws, float wa, float* q, float* msg,
             float* a, OnStep&& on_step) {
  const index_t n = plan.pixels();
  if constexpr (fused_update<Filter, Compat>) {
    if (ld <= fused_max_ld) {
      constexpr bool observed = observes_steps<OnStep>;
      if (iterations > 0) pipelined_dispatch(tag, plan, negu, clamp, ld, ws, wa, q, false, false, true);  // Q0
      for (int t = 1; t <= iterations; ++t) {
        pipelined_dispatch(tag, plan, negu, clamp, ld, ws, wa, q, true, observed || t == iterations, t < iterations);
        on_step(t);
      }
      return;
    }
  }
  for (int t = 1; t <= iterations; ++t) {
    if constexpr (requires { Compat::adds_message; }) {
      // tmp = -U, then += w_s m_s, += w_a m_a: the reference's order of sums.
      std::copy(negu, negu + n * ld, msg);
      plan.smoothness.apply_add(tag, q, msg, ld, ws);
      plan.appearance.apply_add(tag, q, msg, ld, wa);
      softmax_rows(tag, msg, q, clamp, k, n, ld);
    } else {
      std::fill(msg, msg + n * ld, 0.0f);
      plan.smoothness.apply_add(tag, q, msg, ld, ws);
      plan.appearance.apply_add(tag, q, msg, ld, wa);
      std::copy(negu, negu + n * ld, a);
      compat.subtract(tag, msg, a, n, ld, k);
      softmax_rows(tag, a, q, clamp, k, n, ld);
    }
    on_step(t);
  }
}

/// E(Q) = Σ_p <Q_p, U_p> + ½ Σ_p <Q_p, mu m_p> + Σ_p <Q_p, log Q_p>, m = Σ_k w_k F_k Q (self
/// term included, as the filters apply it). msg is scratch.
template <class Tag, class Filter, class Compat>
double energy(const Tag& tag, image_plan<Filter>& plan, const Compat& compat, const float* negu, const float* q,
              index_t k, index_t ld, float ws, float wa, float* msg) {
  const index_t n = plan.pixels();
  std::fill(msg, msg + n * ld, 0.0f);
  plan.smoothness.apply_add(tag, q, msg, ld, ws);
  plan.appearance.apply_add(tag, q, msg, ld, wa);
  const tensor mu = compat.matrix(k);
  double e = 0;
  for (index_t p = 0; p < n; ++p) {
    const float* qp = q + p * ld;
    const float* mp = msg + p * ld;
    for (index_t l = 0; l < k; ++l) {
      double pair = 0;
      for (index_t j = 0; j < k; ++j) pair += static_cast<double>(mu[l * k + j]) * mp[j];
      const double ql = qp[l];
      e += ql * (-static_cast<double>(negu[p * ld + l]) + 0.5 * pair + (ql > 0 ? std::log(ql) : 0.0));
    }
  }
  return e;
}

/// Checks unaries against the plan: the shape it was prepared for (K x H x W also for a plan
/// of one image), finite values.
inline void check_unary(std::string_view component, const shape& s, const tensor& unary) {
  if (s.rank() == 0) throw_value(component, "the plan was never prepared (call prepare first)");
  const bool one_image =
      s[0] == 1 && unary.rank() == 3 && unary.dim(0) == s[1] && unary.dim(1) == s[2] && unary.dim(2) == s[3];
  if (unary.shape() != s && !one_image)
    throw_shape(component, "unary is ", unary.shape(), " but the plan was prepared for ", s);
  check_finite(unary, component, "unary");
}
template <class Filter>
void check_unary(std::string_view component, const mean_field_plan<Filter>& pl, const tensor& unary) {
  check_unary(component, pl.dims, unary);
}

/// Grows t to at least n floats (its contents are not kept).
inline void grow(tensor& t, index_t n) {
  if (t.numel() < n) t = tensor::uninitialized({n});
}

/// Mean field over every item of a prepared plan (Q0 = softmax(-U), then T updates), Q_T
/// written into y (the unary's shape, y resized when its shape differs). When on_step is not
/// ignore_steps, on_step(i, t) is called for item i after Q0 (t = 0) and after every update
/// with pl.q = Q_t and, in the learned form, pl.msg = m_t (what the autodiff op saves).
template <class Tag, class Filter, class Compat, class OnStep>
void solve(const Tag& tag, std::string_view component, mean_field_plan<Filter>& pl, const Compat& compat,
           int iterations, float ws, float wa, const tensor& unary, tensor& y, OnStep&& on_step) {
  check_unary(component, pl, unary);
  require(iterations >= 0, component, "iterations must be >= 0, got ", iterations);
  const index_t b = pl.dims[0], k = pl.dims[1], n = pl.dims[2] * pl.dims[3], ld = padded(k);
  constexpr bool observed = observes_steps<OnStep>;
  const bool fold = fused_update<Filter, Compat> && ld <= fused_max_ld;
  // The plan's buffers only grow, so a stream of images of one size allocates (and
  // page-faults) them once.
  grow(pl.negu, n * ld);
  grow(pl.q, n * ld);
  if (!fold || observed) grow(pl.msg, n * ld);
  if (!requires { Compat::adds_message; }) grow(pl.a, n * ld);
  if (y.shape() != unary.shape()) y = tensor::uninitialized(unary.shape());
  for (index_t i = 0; i < b; ++i) {
    image_plan<Filter>& ip = pl.images[static_cast<std::size_t>(i)];
    ip.smoothness.reserve(ld);
    ip.appearance.reserve(ld);
    const std::uint8_t* clamp = pl.clamp(i);
    interleave_softmax(tag, unary.data() + i * k * n, -1.0f, pl.negu.data(), pl.q.data(), clamp, k, n, ld);
    if constexpr (observed) {
      on_step(i, 0);
      iterate(tag, ip, compat, pl.negu.data(), clamp, k, ld, iterations, ws, wa, pl.q.data(), pl.msg.data(),
              pl.a.data(), [&](int t) { on_step(i, t); });
    } else {
      iterate(tag, ip, compat, pl.negu.data(), clamp, k, ld, iterations, ws, wa, pl.q.data(), pl.msg.data(),
              pl.a.data(), ignore_steps{});
    }
    deinterleave(tag, pl.q.data(), y.data() + i * k * n, k, n, ld);
  }
}

}  // namespace wsss::crf::detail
