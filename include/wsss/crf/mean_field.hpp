// SPDX-License-Identifier: MIT
// wsss/crf/mean_field.hpp — mean-field inference of the fully connected CRF (Krähenbühl &
// Koltun 2011, Alg. 1) as pydensecrf runs it: Q0 = softmax(-U), T parallel updates
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/detail/filter_common.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/kernels.hpp"
#include "wsss/crf/permutohedral.hpp"

namespace wsss::crf {

/// Mean-field settings: the kernels (reference defaults) and T (reference: 10).
struct mean_field_config {
  kernel_config kernels{};
  int iterations = 10;
};

/// The two filter plans of one image (smoothness on position, appearance on position and
/// guide features), built once and reused by every iteration.
template <GaussianFilter Filter>
struct image_plan {
  index_t height = 0, width = 0;
  Filter smoothness, appearance;

  image_plan() = default;
  /// guide: F x H x W per-pixel features (RGB 0..255 for the reference).
  image_plan(const tensor& guide, const kernel_config& kc) { build(guide, kc); }

  void build(const tensor& guide, const kernel_config& kc) {
    kc.validate("crf::image_plan");
    if (guide.rank() != 3 && !(guide.rank() == 4 && guide.dim(0) == 1))
      throw_shape("crf::image_plan", "guide must be F x H x W, got ", guide.shape());
    height = guide.dim(-2);
    width = guide.dim(-1);
    smoothness.init(position_features(height, width, kc.smoothness.sxy / kc.spatial_scale), kc.norm);
    appearance.init(appearance_features(guide, kc.appearance.sxy / kc.spatial_scale, kc.appearance.sfeat), kc.norm);
  }
  index_t pixels() const noexcept { return height * width; }
};

/// Unary energies from class probabilities: U = -log(clamp(p, clip, 1)) (pydensecrf's
/// unary_from_softmax, clip 1e-5 by default).
inline tensor unary_from_probabilities(const tensor& p, float clip = 1e-5f) {
  require(clip > 0 && clip <= 1, "crf::unary_from_probabilities", "clip must be in (0, 1], got ", clip);
  detail::check_finite(p, "crf::unary_from_probabilities", "probabilities");
  tensor u = tensor::uninitialized(p.shape());
  detail::neg_log_clamped(p.data(), u.data(), p.numel(), clip);
  return u;
}

/// Unary energies from logits: U = -z, so that Q0 = softmax(z) (SEC's CRF layer).
inline tensor unary_from_logits(const tensor& z) {
  detail::check_finite(z, "crf::unary_from_logits", "logits");
  tensor u = tensor::uninitialized(z.shape());
  const index_t n = z.numel();
  for (index_t i = 0; i < n; ++i) u[i] = -z[i];
  return u;
}

namespace detail {

/// Checks unaries N x K x H x W against n_images guides of size h x w, and the clamp maps.
inline void check_unary(std::string_view component, const tensor& unary, index_t n_images,
                        std::span<const label_map> clamps) {
  expect_rank(unary, 4, component, "unary", "N x K x H x W");
  if (unary.dim(1) < 1) throw_value(component, "unary has zero labels (shape ", unary.shape(), ")");
  if (unary.dim(0) != n_images)
    throw_shape(component, "unary batch is ", unary.dim(0), " but ", n_images, " images were given");
  detail::check_finite(unary, component, "unary");
  if (!clamps.empty() && static_cast<index_t>(clamps.size()) != n_images)
    throw_shape(component, clamps.size(), " clamp maps for a batch of ", n_images);
  for (const label_map& c : clamps) {
    if (c.height() != unary.dim(2) || c.width() != unary.dim(3))
      throw_shape(component, "clamp map is ", c.height(), "x", c.width(), " but the unary is ", unary.dim(2), "x",
                  unary.dim(3));
    for (index_t i = 0; i < c.pixels(); ++i)
      if (c[i] != ignore_label && c[i] >= unary.dim(1))
        throw_value(component, "clamp label ", int(c[i]), " at pixel ", i, " is not < K = ", unary.dim(1));
  }
}

template <class Plan>
void check_plan(std::string_view component, const Plan& plan, const tensor& unary) {
  if (plan.height != unary.dim(2) || plan.width != unary.dim(3))
    throw_shape(component, "image is ", plan.height, "x", plan.width, " but the unary is ", unary.dim(2), "x",
                unary.dim(3));
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
inline void interleave(const float* src, float* dst, index_t k, index_t n, index_t ld, float sign, float pad = 0.0f) {
#pragma omp parallel for schedule(static)
  for (index_t p0 = 0; p0 < n; p0 += convert_block)
    interleave_range(src, dst, k, n, ld, sign, pad, p0, std::min(n, p0 + convert_block));
}

/// Padding value of -U rows: -inf, so a padded softmax gives those channels exactly 0.
inline constexpr float negu_pad = -std::numeric_limits<float>::infinity();

/// dst (K x N) = src (N x ld), in blocks of pixels so that both sides stream; eight pixels
/// by eight channels at a time through a register transpose, as interleave_range.
inline void deinterleave(const float* src, float* dst, index_t k, index_t n, index_t ld) {
#pragma omp parallel for schedule(static)
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
inline void softmax_rows(const float* a, float* q, const std::uint8_t* clamp, index_t k, index_t n, index_t ld) {
  with_row_width(ld, [&]<int LD>() {
#pragma omp parallel for schedule(static)
    for (index_t p0 = 0; p0 < n; p0 += convert_block)
      softmax_range<LD>(a, q, clamp, k, ld, p0, std::min(n, p0 + convert_block));
  });
}

/// The start of mean field in one pass: a = sign · u interleaved (padding -inf) and
/// Q0 = softmax(a), block by block while the block's rows are in cache.
inline void interleave_softmax(const float* u, float sign, float* a, float* q, const std::uint8_t* clamp, index_t k,
                               index_t n, index_t ld) {
  with_row_width(ld, [&]<int LD>() {
#pragma omp parallel for schedule(static)
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
      f.end_splat(ld);
      f.blur(ld, 1.0f).row(index_t{0}, row);
      f.blur(ld, 1.0f).template row_fixed<8, 3>(index_t{0}, row);
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
template <int LD, int DS, int DA, class Filter>
void pipelined_pass(image_plan<Filter>& plan, const float* negu, const std::uint8_t* clamp, index_t ld, float ws,
                    float wa, float* q, bool update, bool store, bool splat) {
  Filter& fs = plan.smoothness;
  Filter& fa = plan.appearance;
  const int parts = fs.splat_parts();
  if (fa.splat_parts() != parts)
    throw_value("crf::mean_field", "the two lattices were reserved for different thread counts (", parts, " and ",
                fa.splat_parts(), ")");
  decltype(fs.blur(ld, ws)) ks{}, ka{};
  if (update) {
    ks = fs.blur(ld, ws);
    ka = fa.blur(ld, wa);
  }
  backend::for_each_part(parts, [&](int part) {
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
    fs.end_splat(ld);
    fa.end_splat(ld);
  }
}

/// pipelined_pass for the common shapes: RGB appearance (d = 5) with position smoothness
/// (d = 2) and 8 to 32 padded labels get fully unrolled kernels.
template <class Filter>
void pipelined_dispatch(image_plan<Filter>& plan, const float* negu, const std::uint8_t* clamp, index_t ld,
                        float ws, float wa, float* q, bool update, bool store, bool splat) {
  const bool rgb = plan.smoothness.dims() == 2 && plan.appearance.dims() == 5;
  with_row_width(ld, [&]<int LD>() {
    if constexpr (LD > 0)
      if (rgb) return pipelined_pass<LD, 3, 6>(plan, negu, clamp, ld, ws, wa, q, update, store, splat);
    pipelined_pass<LD, 0, 0>(plan, negu, clamp, ld, ws, wa, q, update, store, splat);
  });
}

/// The on_step of iterate() for callers that only want Q_T: lets the pipelined Potts path
/// skip storing the intermediate Q_t.
struct ignore_steps {
  void operator()(int) const noexcept {}
};

/// T parallel mean-field updates on one image, interleaved N x ld buffers. On entry q holds
/// Q0; msg and a are scratch (unused by the pipelined Potts path). After update t, on_step(t)
/// sees q = Q_t and, for a compatibility without the Potts fold, msg = m_t = Σ_k w_k F_k Q_{t-1};
/// with on_step = ignore_steps the pipelined path writes q only at t = T.
template <class Filter, class Compat, class OnStep>
void iterate(image_plan<Filter>& plan, const Compat& compat, const float* negu, const std::uint8_t* clamp,
             index_t k, index_t ld, int iterations, float ws, float wa, float* q, float* msg, float* a,
             OnStep&& on_step) {
  const index_t n = plan.pixels();
  if constexpr (fused_update<Filter, Compat>) {
    if (ld <= fused_max_ld) {
      constexpr bool observed = !std::is_same_v<std::remove_cvref_t<OnStep>, ignore_steps>;
      if (iterations > 0) pipelined_dispatch(plan, negu, clamp, ld, ws, wa, q, false, false, true);  // Q0
      for (int t = 1; t <= iterations; ++t) {
        pipelined_dispatch(plan, negu, clamp, ld, ws, wa, q, true, observed || t == iterations, t < iterations);
        on_step(t);
      }
      return;
    }
  }
  for (int t = 1; t <= iterations; ++t) {
    if constexpr (requires { Compat::adds_message; }) {
      // tmp = -U, then += w_s m_s, += w_a m_a: the reference's order of sums.
      std::copy(negu, negu + n * ld, msg);
      plan.smoothness.apply_add(q, msg, ld, ws);
      plan.appearance.apply_add(q, msg, ld, wa);
      softmax_rows(msg, q, clamp, k, n, ld);
    } else {
      std::fill(msg, msg + n * ld, 0.0f);
      plan.smoothness.apply_add(q, msg, ld, ws);
      plan.appearance.apply_add(q, msg, ld, wa);
      std::copy(negu, negu + n * ld, a);
      compat.subtract(msg, a, n, ld, k);
      softmax_rows(a, q, clamp, k, n, ld);
    }
    on_step(t);
  }
}

/// E(Q) = Σ_p <Q_p, U_p> + ½ Σ_p <Q_p, mu m_p> + Σ_p <Q_p, log Q_p>, m = Σ_k w_k F_k Q (self
/// term included, as the filters apply it). msg is scratch.
template <class Filter, class Compat>
double energy(image_plan<Filter>& plan, const Compat& compat, const float* negu, const float* q, index_t k,
              index_t ld, float ws, float wa, float* msg) {
  const index_t n = plan.pixels();
  std::fill(msg, msg + n * ld, 0.0f);
  plan.smoothness.apply_add(q, msg, ld, ws);
  plan.appearance.apply_add(q, msg, ld, wa);
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

}  // namespace detail

/// Mean-field inference over a batch: Q0 = softmax(-U), then T times
/// Q = softmax(-U - mu Σ_k w_k F_k Q) with both kernels reading the same Q (parallel update);
/// pixels fixed by a clamp map keep a one-hot Q. With the permutohedral filter, symmetric
/// normalisation and Potts this is pydensecrf's DenseCRF2D inference (reference-semantics §8).
template <GaussianFilter Filter = permutohedral, Compatibility Compat = potts>
class mean_field {
 public:
  static constexpr std::string_view name = "crf::mean_field";
  using config = mean_field_config;
  using plan = image_plan<Filter>;

  mean_field() = default;
  explicit mean_field(config c, Compat compat = {}) : cfg_(std::move(c)), compat_(std::move(compat)) {
    cfg_.kernels.validate(name);
    require(cfg_.iterations >= 0, name, "iterations must be >= 0, got ", cfg_.iterations);
  }

  const config& settings() const noexcept { return cfg_; }
  const Compat& compatibility() const noexcept { return compat_; }

  /// One plan per image (RGB guides, raw 0..255).
  std::vector<plan> make_plans(std::span<const rgb_image> images) const {
    std::vector<plan> plans(images.size());
    for (std::size_t i = 0; i < images.size(); ++i) plans[i].build(rgb_guide(images[i]), cfg_.kernels);
    return plans;
  }
  /// One plan per batch item from guides N x F x H x W (any feature dimension F).
  std::vector<plan> make_plans(const tensor& guides) const {
    expect_rank(guides, 4, name, "guides", "N x F x H x W");
    std::vector<plan> plans(static_cast<std::size_t>(guides.dim(0)));
    const index_t per = guides.numel() / std::max<index_t>(guides.dim(0), 1);
    for (std::size_t i = 0; i < plans.size(); ++i)
      plans[i].build(tensor::from({guides.dim(1), guides.dim(2), guides.dim(3)},
                                  std::span<const float>(guides.data() + static_cast<index_t>(i) * per, static_cast<std::size_t>(per))),
                     cfg_.kernels);
    return plans;
  }

  /// Q (N x K x H x W) from unary energies N x K x H x W and one RGB image per item.
  tensor infer(const tensor& unary, std::span<const rgb_image> images, std::span<const label_map> clamps = {}) {
    detail::check_unary(name, unary, static_cast<index_t>(images.size()), clamps);
    for (const rgb_image& im : images)
      if (im.height() != unary.dim(2) || im.width() != unary.dim(3))
        throw_shape(name, "image is ", im.height(), "x", im.width(), " but the unary is ", unary.dim(2), "x", unary.dim(3));
    // The engine keeps these plans: rebuilding them for the next images reuses their buffers.
    plans_.resize(images.size());
    for (std::size_t i = 0; i < images.size(); ++i) plans_[i].build(rgb_guide(images[i]), cfg_.kernels);
    return infer(unary, std::span<plan>(plans_), clamps);
  }

  /// Q from prebuilt plans (reuse them across calls on the same images). When `energies` is
  /// given it receives E(Q_T) per image (detail::energy).
  tensor infer(const tensor& unary, std::span<plan> plans, std::span<const label_map> clamps = {},
               std::vector<double>* energies = nullptr) {
    detail::check_unary(name, unary, static_cast<index_t>(plans.size()), clamps);
    const index_t b = unary.dim(0), k = unary.dim(1), n = unary.dim(2) * unary.dim(3), ld = detail::padded(k);
    for (const plan& p : plans) detail::check_plan(name, p, unary);
    tensor q_out = tensor::uninitialized(unary.shape());
    constexpr bool fused = detail::fused_update<Filter, Compat>;
    const bool fold = fused && ld <= detail::fused_max_ld;
    const bool learned_form = !requires { Compat::adds_message; };
    // Interleaved buffers live in the engine and only grow, so a stream of images of one size
    // allocates (and page-faults) them once.
    auto grow = [&](tensor& t, bool need) {
      if (need && t.numel() < n * ld) t = tensor::uninitialized({n * ld});
    };
    grow(ws_.negu, true);
    grow(ws_.q, true);
    grow(ws_.msg, !fold || energies);
    grow(ws_.a, learned_form);
    tensor& negu = ws_.negu;
    tensor& q = ws_.q;
    tensor& msg = ws_.msg;
    tensor& a = ws_.a;
    if (energies) energies->assign(static_cast<std::size_t>(b), 0.0);
    const float ws = cfg_.kernels.smoothness.weight, wa = cfg_.kernels.appearance.weight;
    for (index_t i = 0; i < b; ++i) {
      plan& pl = plans[static_cast<std::size_t>(i)];
      pl.smoothness.reserve(ld);
      pl.appearance.reserve(ld);
      const std::uint8_t* clamp = clamps.empty() ? nullptr : clamps[static_cast<std::size_t>(i)].data();
      detail::interleave_softmax(unary.data() + i * k * n, -1.0f, negu.data(), q.data(), clamp, k, n, ld);
      detail::iterate(pl, compat_, negu.data(), clamp, k, ld, cfg_.iterations, ws, wa, q.data(), msg.data(), a.data(),
                      detail::ignore_steps{});
      if (energies)
        (*energies)[static_cast<std::size_t>(i)] =
            detail::energy(pl, compat_, negu.data(), q.data(), k, ld, ws, wa, msg.data());
      detail::deinterleave(q.data(), q_out.data() + i * k * n, k, n, ld);
    }
    return q_out;
  }

 private:
  struct workspace {
    tensor negu, q, msg, a;
  };
  config cfg_{};
  Compat compat_{};
  workspace ws_;
  std::vector<plan> plans_;
};

static_assert(CrfEngine<mean_field<>>);

}  // namespace wsss::crf
