// SPDX-License-Identifier: MIT
// wsss/pool/superpixel.hpp — the superpixel pooling (SP) layer of SPN (Kwak et al., AAAI 2017,
// eq. 1-3), its per-size plans of responsibilities h_i^j, multi-scale plans and SP-CAM
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"
#include "wsss/pool/op.hpp"
#include "wsss/superpixel/segmentation.hpp"

namespace wsss::pool {

/// Receptive-field centres of a feature map in image pixel coordinates (pixel (y, x) has its
/// centre at (y, x)): cell (u, v) is centred at (offset_y + u stride_y, offset_x + v stride_x).
struct feature_geometry {
  double stride_y = 1, stride_x = 1, offset_y = 0, offset_x = 0;

  /// An h x w map whose cells tile an H x W image evenly (the default, and what an upsampled
  /// feature map aligned with the image means): stride = H / h, offset = stride / 2 - 1/2.
  static feature_geometry tiling(index_t H, index_t W, index_t h, index_t w) {
    const double sy = static_cast<double>(H) / static_cast<double>(h), sx = static_cast<double>(W) / static_cast<double>(w);
    return {sy, sx, 0.5 * sy - 0.5, 0.5 * sx - 0.5};
  }
};

/*  The SP layer's pooling layout for one superpixel map and one feature size (SPN eq. 1):
      I(p in r^j) = 1 when the centre of cell j is the closest cell centre to pixel p (ties go to
                    the lower cell index; the distance is separable, so per row and column),
      h_i^j       = (1 / K_i) sum_{p in superpixel i} I(p in r^j),  K_i = pixels of superpixel i.
    Stored sparsely: for each superpixel the cells it touches with their pixel counts.
    Superpixels without pixels at this size (they can vanish when the map is resized) are
    "empty": eq. 1 gives them 0, eq. 2's N counts only the non-empty ones, SP-CAM skips them. */
class sp_plan {
 public:
  static constexpr std::string_view name = "pool::sp_plan";

  sp_plan() = default;
  sp_plan(const superpixel::segmentation& seg, index_t h, index_t w)
      : sp_plan(seg, h, w, feature_geometry::tiling(seg.height(), seg.width(), h > 0 ? h : 1, w > 0 ? w : 1)) {}
  sp_plan(const superpixel::segmentation& seg, index_t h, index_t w, const feature_geometry& g) {
    superpixel::validate(seg, name);
    if (h <= 0 || w <= 0) throw_value(name, "feature size must be positive, got ", h, "x", w);
    if (!(g.stride_y > 0) || !(g.stride_x > 0)) throw_value(name, "feature strides must be > 0, got ", g.stride_y, ", ", g.stride_x);
    H_ = seg.height();
    W_ = seg.width();
    h_ = h;
    w_ = w;
    K_ = seg.count;
    const std::vector<index_t> ry = nearest_cells(H_, h, g.stride_y, g.offset_y), cx = nearest_cells(W_, w, g.stride_x, g.offset_x);
    // Pixels grouped by superpixel (counting sort), then per superpixel a dense tally of cells.
    start_.assign(static_cast<std::size_t>(K_) + 1, 0);
    for (std::int32_t l : seg.labels)
      if (l >= 0) ++start_[static_cast<std::size_t>(l) + 1];
    for (index_t i = 0; i < K_; ++i) start_[static_cast<std::size_t>(i) + 1] += start_[static_cast<std::size_t>(i)];
    std::vector<std::int32_t> cell_of(static_cast<std::size_t>(start_.back()));
    {
      std::vector<index_t> fill(start_.begin(), start_.end() - 1);
      for (index_t y = 0; y < H_; ++y)
        for (index_t x = 0; x < W_; ++x) {
          const std::int32_t l = seg.labels[y * W_ + x];
          if (l >= 0)
            cell_of[static_cast<std::size_t>(fill[static_cast<std::size_t>(l)]++)] =
                static_cast<std::int32_t>(ry[static_cast<std::size_t>(y)] * w + cx[static_cast<std::size_t>(x)]);
        }
    }
    std::vector<std::int32_t> tally(static_cast<std::size_t>(h * w), 0);
    std::vector<std::int32_t> touched;
    row_.assign(static_cast<std::size_t>(K_) + 1, 0);
    std::vector<double> colsum(static_cast<std::size_t>(h * w), 0.0);
    nonempty_ = 0;
    for (index_t i = 0; i < K_; ++i) {
      touched.clear();
      for (index_t k = start_[static_cast<std::size_t>(i)]; k < start_[static_cast<std::size_t>(i) + 1]; ++k) {
        const std::int32_t j = cell_of[static_cast<std::size_t>(k)];
        if (tally[static_cast<std::size_t>(j)]++ == 0) touched.push_back(j);
      }
      std::sort(touched.begin(), touched.end());
      const index_t Ki = pixels(i);
      for (std::int32_t j : touched) {
        cell_.push_back(j);
        count_.push_back(tally[static_cast<std::size_t>(j)]);
        colsum[static_cast<std::size_t>(j)] += static_cast<double>(tally[static_cast<std::size_t>(j)]) / static_cast<double>(Ki);
        tally[static_cast<std::size_t>(j)] = 0;
      }
      row_[static_cast<std::size_t>(i) + 1] = static_cast<index_t>(cell_.size());
      nonempty_ += Ki > 0 ? 1 : 0;
    }
    column_.resize(static_cast<std::size_t>(h * w));
    const double invN = nonempty_ > 0 ? 1.0 / static_cast<double>(nonempty_) : 0.0;
    for (std::size_t j = 0; j < column_.size(); ++j) column_[j] = static_cast<float>(colsum[j] * invN);
  }

  index_t image_height() const noexcept { return H_; }
  index_t image_width() const noexcept { return W_; }
  index_t feature_height() const noexcept { return h_; }
  index_t feature_width() const noexcept { return w_; }
  /// K: superpixel labels of the map (empty ones included).
  index_t superpixels() const noexcept { return K_; }
  /// N of eq. 2: superpixels with at least one pixel at this size.
  index_t nonempty() const noexcept { return nonempty_; }
  /// K_i: pixels of superpixel i.
  index_t pixels(index_t i) const noexcept { return start_[static_cast<std::size_t>(i) + 1] - start_[static_cast<std::size_t>(i)]; }
  /// The cells superpixel i touches and their pixel counts; h_i^j = count / K_i.
  std::span<const std::int32_t> cells(index_t i) const noexcept { return {cell_.data() + row_[static_cast<std::size_t>(i)], entries(i)}; }
  std::span<const std::int32_t> counts(index_t i) const noexcept { return {count_.data() + row_[static_cast<std::size_t>(i)], entries(i)}; }
  /// a_j = (1/N) sum_i h_i^j, the weight of cell j in eq. 2 and its gradient in eq. 3.
  std::span<const float> column_weights() const noexcept { return column_; }

  /// Eq. 1 for one image: zbar (C x K) from features x (C x h x w, contiguous at `x`):
  /// zbar[c, i] = (1/K_i) sum_j count_ij x[c, j], summed in float64 (exact for a feature
  /// constant over the cells a superpixel touches). Empty superpixels get 0.
  void pool(const float* x, index_t C, float* zbar) const {
    const index_t hw = h_ * w_;
    for (index_t c = 0; c < C; ++c) {
      const float* xc = x + c * hw;
      for (index_t i = 0; i < K_; ++i) {
        const index_t Ki = pixels(i);
        double acc = 0;
        for (index_t e = row_[static_cast<std::size_t>(i)]; e < row_[static_cast<std::size_t>(i) + 1]; ++e)
          acc += static_cast<double>(count_[static_cast<std::size_t>(e)]) * xc[cell_[static_cast<std::size_t>(e)]];
        zbar[c * K_ + i] = Ki > 0 ? static_cast<float>(acc / static_cast<double>(Ki)) : 0.0f;
      }
    }
  }

 private:
  std::size_t entries(index_t i) const noexcept {
    return static_cast<std::size_t>(row_[static_cast<std::size_t>(i) + 1] - row_[static_cast<std::size_t>(i)]);
  }
  /// Closest of n centres offset + u stride to each of the `pixels` coordinates; ties -> lower u.
  static std::vector<index_t> nearest_cells(index_t pixels, index_t n, double stride, double offset) {
    std::vector<index_t> out(static_cast<std::size_t>(pixels));
    for (index_t y = 0; y < pixels; ++y) {
      const double t = (static_cast<double>(y) - offset) / stride;
      index_t u = static_cast<index_t>(std::ceil(t - 0.5));
      out[static_cast<std::size_t>(y)] = std::clamp<index_t>(u, 0, n - 1);
    }
    return out;
  }

  index_t H_ = 0, W_ = 0, h_ = 0, w_ = 0, K_ = 0, nonempty_ = 0;
  std::vector<index_t> start_;  // pixel ranges per superpixel (only their lengths are kept in use)
  std::vector<index_t> row_;    // CSR row pointers
  std::vector<std::int32_t> cell_, count_;
  std::vector<float> column_;
};

/// SPN's six training / inference sizes (square, after padding to a square).
inline constexpr index_t spn_sizes[6] = {250, 300, 350, 400, 450, 500};

/// Plans for a superpixel map at each square input size S (SPN "Multi-scale learning"): the
/// map is padded to a square with "no superpixel" (-1), resized (nearest) to S x S, and laid
/// over a feature map of feature_size(S) x feature_size(S) cells (a network's output size).
inline std::vector<sp_plan> multiscale_plans(const superpixel::segmentation& seg, std::span<const index_t> sizes,
                                             const std::function<index_t(index_t)>& feature_size) {
  const superpixel::segmentation square = superpixel::pad_to_square(seg);
  std::vector<sp_plan> plans;
  plans.reserve(sizes.size());
  for (index_t S : sizes) {
    const index_t f = feature_size(S);
    plans.emplace_back(superpixel::resize_nearest(square, S, S), f, f);
  }
  return plans;
}

/*  The SP layer as a SuperpixelPooler: x is N x C x h x w (the upsampled feature map of SPN, or
    any score map), out[n, c] = z~ = (1/N_n) sum_i sum_j h_i^j x[n, c, j]  (eq. 2, N_n the
    non-empty superpixels of image n) = sum_j a_j x[n, c, j] with the plan's column weights a;
    backward (eq. 3): g_in[n, c, j] = g[n, c] a_j. prepare lays each image's superpixel map
    (batch.superpixels, in the image's pixels) over the h x w grid (feature_geometry::tiling). */
class sp_layer {
 public:
  static constexpr std::string_view name = "pool::sp_layer";
  struct config {};
  struct plan : plan_base {
    std::vector<sp_plan> images;  ///< one layout per image, for the h x w of the scores
  };
  config cfg{};

  sp_layer() = default;
  explicit sp_layer(const config& c) : cfg(c) {}

  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const {
    detail::check_scores(s, name);
    b.validate(name);
    batch::need(b.superpixels, name, "superpixel maps");
    const index_t N = s[0];
    if (static_cast<index_t>(b.superpixels.size()) != N)
      throw_shape(name, "need one superpixel map per image: ", N, " images, ", b.superpixels.size(), " maps");
    index_t pixels = 0;
    for (const superpixel::segmentation& seg : b.superpixels) {
      superpixel::validate(seg, sp_plan::name);  // here: an exception must not leave a parallel loop
      pixels += seg.labels.numel();
    }
    plan pl = detail::plan_for<plan>(s, name);
    pl.images.resize(static_cast<std::size_t>(N));
    detail::launch(ex.tag, N, pixels, build_kernel{b.superpixels.data(), pl.images.data(), s[2], s[3]});
    return pl;
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& x, tensor& out) const {
    require_backend<sp_layer, Tag>();
    check(x, pl.images);
    const auto [nc, hw] = detail::begin_run(pl, x, out, name);
    detail::launch(ex.tag, nc, x.numel(), pool_kernel{pl.images.data(), x.data(), out.data(), x.dim(1), hw});
  }

  template <class Tag>
  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    require_backend<sp_layer, Tag>();
    const auto [nc, hw] = detail::begin_backward(pl, g, g_in, name);
    detail::launch(ex.tag, nc, pl.in.numel(), spread_kernel{pl.images.data(), g.data(), g_in.data(), pl.in[1], hw});
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& x) const { return pool::record(t, *this, pl, x); }

  /// Eq. 1 for a batch: one C x K tensor of superpixel features (or class scores) per image.
  static std::vector<tensor> superpixel_features(std::span<const sp_plan> plans, const tensor& x) {
    check(x, plans);
    const index_t C = x.dim(1), chw = C * x.dim(2) * x.dim(3);
    std::vector<tensor> out;
    for (std::size_t n = 0; n < plans.size(); ++n) {
      out.emplace_back(shape{C, plans[n].superpixels()});
      plans[n].pool(x.data() + static_cast<index_t>(n) * chw, C, out.back().data());
    }
    return out;
  }
  std::vector<tensor> superpixel_features(const plan& pl, const tensor& x) const {
    return superpixel_features(std::span<const sp_plan>(pl.images), x);
  }

 private:
  static void check(const tensor& x, std::span<const sp_plan> plans) {
    detail::check_scores(x.shape(), name);
    if (static_cast<index_t>(plans.size()) != x.dim(0))
      throw_shape(name, "need one superpixel plan per image: ", x.dim(0), " images, ", plans.size(), " plans");
    for (std::size_t n = 0; n < plans.size(); ++n)
      if (plans[n].feature_height() != x.dim(2) || plans[n].feature_width() != x.dim(3))
        throw_shape(name, "plan ", n, " was built for a ", plans[n].feature_height(), "x", plans[n].feature_width(),
                    " feature map, got ", x.shape());
  }

  struct build_kernel {
    const superpixel::segmentation* segs;
    sp_plan* out;
    index_t h, w;
    void operator()(index_t n) const { out[n] = sp_plan(segs[n], h, w); }
  };
  struct pool_kernel {
    const sp_plan* plans;
    const float* x;
    float* out;
    index_t C, hw;
    void operator()(index_t k) const {
      out[k] = static_cast<float>(detail::dot(plans[k / C].column_weights().data(), x + k * hw, hw));
    }
  };
  struct spread_kernel {
    const sp_plan* plans;
    const float* g;
    float* g_in;
    index_t C, hw;
    void operator()(index_t k) const {
      const float* a = plans[k / C].column_weights().data();
      float* q = g_in + k * hw;
      const float gk = g[k];
      for (index_t j = 0; j < hw; ++j) q[j] = gk * a[j];
    }
  };
};
static_assert(SuperpixelPooler<sp_layer>);

/*  SP-CAM (SPN "Generating initial annotations"): per-superpixel class scores (the classifier
    applied to eq. 1's z_i; the classifier is linear, so pooling a class-score map gives the
    same scores) painted back to pixels, max-aggregated over the input sizes. The superpixels
    are the same at every size, so the max is taken per superpixel, over the sizes where it is
    non-empty, and painted once at the original resolution.                                 */
class sp_cam {
 public:
  static constexpr std::string_view name = "pool::sp_cam";

  sp_cam(index_t classes, index_t superpixels) : C_(classes), K_(superpixels) {
    if (classes <= 0 || superpixels < 0) throw_value(name, "classes must be > 0 and superpixels >= 0, got ", classes, ", ", superpixels);
    best_ = tensor(shape{classes, superpixels});
    seen_.assign(static_cast<std::size_t>(superpixels), 0);
  }

  /// Folds in one size: scores is C x K (eq. 1 output, or the classifier applied to it).
  void add(const sp_plan& plan, const tensor& scores) {
    std::vector<index_t> pixels(static_cast<std::size_t>(plan.superpixels()));
    for (index_t i = 0; i < plan.superpixels(); ++i) pixels[static_cast<std::size_t>(i)] = plan.pixels(i);
    add(pixels, scores);
  }
  /// The same from each superpixel's pixel count at that size (segmentation::sizes() of the
  /// resized map; a superpixel with none is skipped).
  void add(std::span<const index_t> pixels, const tensor& scores) {
    expect_shape(scores, shape{C_, K_}, name, "superpixel scores");
    if (static_cast<index_t>(pixels.size()) != K_) throw_shape(name, "got pixel counts of ", pixels.size(), " superpixels, expected ", K_);
    for (index_t i = 0; i < K_; ++i) {
      if (pixels[static_cast<std::size_t>(i)] == 0) continue;
      const bool first = !seen_[static_cast<std::size_t>(i)];
      for (index_t c = 0; c < C_; ++c) {
        const float v = scores[c * K_ + i];
        float& b = best_[c * K_ + i];
        b = first ? v : std::max(b, v);
      }
      seen_[static_cast<std::size_t>(i)] = 1;
    }
  }

  /// C x K: the max over the sizes added so far (0 for a superpixel no size has seen).
  const tensor& superpixel_scores() const noexcept { return best_; }

  /// Per class, the mean of superpixel_scores over the superpixels some size has seen (SPN's
  /// test-time class decision: "activation scores averaged over all superpixels"); 0 if none.
  std::vector<double> class_means() const {
    std::vector<double> m(static_cast<std::size_t>(C_), 0.0);
    index_t n = 0;
    for (index_t i = 0; i < K_; ++i) {
      if (!seen_[static_cast<std::size_t>(i)]) continue;
      ++n;
      for (index_t c = 0; c < C_; ++c) m[static_cast<std::size_t>(c)] += best_[c * K_ + i];
    }
    for (double& v : m) v = n > 0 ? v / static_cast<double>(n) : 0.0;
    return m;
  }

  /// C x H x W activation map on the original superpixel map; pixels outside every
  /// superpixel (label -1) and superpixels never seen get `fill`.
  tensor paint(const superpixel::segmentation& seg, float fill = 0.0f) const {
    superpixel::validate(seg, name);
    if (seg.count != K_) throw_shape(name, "superpixel map has ", seg.count, " superpixels, the scores ", K_);
    const index_t P = seg.labels.numel();
    tensor out = tensor::uninitialized(shape{C_, seg.height(), seg.width()});
    for (index_t c = 0; c < C_; ++c)
      for (index_t p = 0; p < P; ++p) {
        const std::int32_t l = seg.labels[p];
        out[c * P + p] = (l >= 0 && seen_[static_cast<std::size_t>(l)]) ? best_[c * K_ + l] : fill;
      }
    return out;
  }

 private:
  index_t C_, K_;
  tensor best_;
  std::vector<char> seen_;
};

}  // namespace wsss::pool
