// SPDX-License-Identifier: MIT
// wsss/em/boxes.hpp — EM for DeepLab's bounding-box E-steps (Papandreou et al. 2015, sec. 3.3):
// Bbox-Rect (every pixel of a box to its class, the smallest box winning overlaps) and
// Bbox-Seg (the box-clamped dense CRF of crf/bbox.hpp) and Bbox-EM-Fixed (EM-Fixed with the
// foreground boost only inside the boxes).
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/bbox.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/em/bias.hpp"
#include "wsss/em/concepts.hpp"

namespace wsss::em {

/// The boxes of one image on an h x w grid laid over its image_h x image_w pixels: a grid cell
/// belongs to a box when its centre, in image pixels, lies in [x0, x1) x [y0, y1). Each cell
/// takes the label of the smallest-area box containing it (ties: the box listed first),
/// 0 (background) outside all boxes.
inline label_map rasterize_boxes(const box_list& boxes, index_t h, index_t w, index_t image_h, index_t image_w, int classes) {
  constexpr std::string_view who = "em::rasterize_boxes";
  if (h < 1 || w < 1 || image_h < 1 || image_w < 1)
    throw_shape(who, "grid ", h, "x", w, " over an image of ", image_h, "x", image_w);
  label_map out(h, w, 0);
  std::vector<std::int64_t> area(static_cast<std::size_t>(h * w), std::numeric_limits<std::int64_t>::max());
  for (std::size_t k = 0; k < boxes.size(); ++k) {
    const box& b = boxes[k];
    if (b.x0 < 0 || b.y0 < 0 || b.x1 > image_w || b.y1 > image_h || b.x0 >= b.x1 || b.y0 >= b.y1)
      throw_value(who, "box ", k, " [", b.x0, ", ", b.x1, ") x [", b.y0, ", ", b.y1, ") is empty or outside the ", image_w,
                  "x", image_h, " image");
    if (b.label < 1 || b.label >= classes) throw_value(who, "box ", k, " has class ", b.label, ", not in [1, ", classes, ")");
    const std::int64_t a = static_cast<std::int64_t>(b.x1 - b.x0) * (b.y1 - b.y0);
    for (index_t y = 0; y < h; ++y) {
      const double cy = (static_cast<double>(y) + 0.5) * static_cast<double>(image_h) / static_cast<double>(h);
      if (cy < static_cast<double>(b.y0) || cy >= static_cast<double>(b.y1)) continue;
      for (index_t x = 0; x < w; ++x) {
        const double cx = (static_cast<double>(x) + 0.5) * static_cast<double>(image_w) / static_cast<double>(w);
        if (cx < static_cast<double>(b.x0) || cx >= static_cast<double>(b.x1)) continue;
        auto& best = area[static_cast<std::size_t>(y * w + x)];
        if (a < best) {
          best = a;
          out(y, x) = static_cast<std::uint8_t>(b.label);
        }
      }
    }
  }
  return out;
}

namespace detail {

/// Every image's boxes rasterised on the scores' grid (boxes in image pixels when the batch
/// has images, else on the grid itself).
inline std::vector<label_map> box_maps(const batch& b, const shape& s, std::string_view name) {
  check_annotation(b, b.boxes, s, name, "bounding boxes");
  std::vector<label_map> out;
  for (std::size_t n = 0; n < b.boxes.size(); ++n) {
    const index_t ih = b.images.empty() ? s[2] : b.images[n].height(), iw = b.images.empty() ? s[3] : b.images[n].width();
    out.push_back(rasterize_boxes(b.boxes[n], s[2], s[3], ih, iw, static_cast<int>(s[1])));
  }
  return out;
}

/// The plan of the box-driven E-steps: the prepared shape and each image's rasterised boxes.
struct box_plan {
  shape scores;
  std::vector<label_map> boxes;
};

/// The run of the pre-processing E-steps (Bbox-Rect, Bbox-Seg): the labels their prepare made.
template <class Model>
struct prepared_labels {
  template <class Tag>
  void run(const exec<Tag>&, box_plan& pl, const tensor& scores, std::vector<label_map>& targets) const {
    check_run(pl.scores, scores, Model::name);
    targets = pl.boxes;
  }
};

}  // namespace detail

/// Bbox-Rect: the targets are the rasterised boxes (rasterize_boxes), whatever the scores; a
/// pre-processing step in the paper, an E-step that ignores the network here so every box
/// variant trains through one loop.
class bbox_rect : public detail::prepared_labels<bbox_rect> {
 public:
  static constexpr std::string_view name = "em::bbox_rect";
  static constexpr bool reads_scores = false;  // pre-processing: a method runs it once per image
  static constexpr bool reads_boxes = true;
  struct config {};
  using plan = detail::box_plan;
  config cfg{};

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    return {s, detail::box_maps(b, s, name)};
  }
};
static_assert(EStepBias<bbox_rect>);

/// Bbox-Seg (sec. 3.3): a foreground / background segmentation of each box by the dense CRF,
/// a pre-processing step like Bbox-Rect. Per image, at its full size: the centre alpha of each
/// box's area clamped to its class, every pixel outside all boxes clamped to background, the
/// rest inferred by the CRF from uniform unaries over background and the classes of the boxes
/// covering the pixel (crf::bbox_seg); the labels then come to the score grid by nearest
/// sampling. The paper's alpha = 20% (cross-validated over 20..80%); the CRF engine is the
/// slot, its parameters the ones to cross-validate (crf::grid_search).
template <crf::CrfEngine Crf = crf::mean_field<>>
class bbox_seg : public detail::prepared_labels<bbox_seg<Crf>> {
 public:
  static constexpr std::string_view name = "em::bbox_seg";
  static constexpr bool reads_scores = false;
  static constexpr bool reads_boxes = true;
  struct config {
    float alpha = 0.2f;  ///< the fraction of each box's area clamped to its class
  };
  using plan = detail::box_plan;
  config cfg{};
  Crf crf{};

  bbox_seg() = default;
  explicit bbox_seg(config c, Crf k = {}) : cfg(c), crf(std::move(k)) { validate(); }

  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const {
    validate();
    detail::box_maps(b, s, name);  // validates the boxes, their classes and the batch
    batch::need(b.images, name, "images (the CRF's appearance kernel reads them)");
    plan pl{s, {}};
    for (std::size_t n = 0; n < b.boxes.size(); ++n) {
      const label_map full = crf::bbox_seg(b.images[n], std::span<const box>(b.boxes[n]), s[1], cfg.alpha, crf, ex);
      pl.boxes.push_back(resample_labels(full, s[2], s[3]));
    }
    return pl;
  }

 private:
  void validate() const {
    if (!(cfg.alpha >= 0.0f && cfg.alpha <= 1.0f)) throw_value(name, "alpha must be in [0, 1], got ", cfg.alpha);
  }
};
static_assert(EStepBias<bbox_seg<>>);

/// Bbox-EM-Fixed: EM-Fixed whose foreground boost applies only inside the boxes (sec. 3.3), as
/// the reference's BiasChannel in PIXEL mode: background += b_bg at every cell, class l += b_fg
/// at the cells whose rasterised box label is l; then the argmax.
class bbox_fixed : public detail::argmax_of_biased<bbox_fixed> {
 public:
  static constexpr std::string_view name = "em::bbox_fixed";
  static constexpr bool reads_boxes = true;
  using config = fixed::config;
  using plan = detail::box_plan;
  config cfg{};

  bbox_fixed() = default;
  explicit bbox_fixed(config c) : cfg(c) { (void)fixed{c}; }  // fixed validates the biases

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    return {s, detail::box_maps(b, s, name)};
  }

  tensor biased(const plan& pl, const tensor& scores) const {
    detail::check_run(pl.scores, scores, name);
    tensor out = scores;
    const index_t c = scores.dim(1), hw = scores.dim(2) * scores.dim(3);
    for (std::size_t n = 0; n < pl.boxes.size(); ++n) {
      float* s = out.data() + static_cast<index_t>(n) * c * hw;
      for (index_t i = 0; i < hw; ++i) {
        s[i] += cfg.bg_bias;
        if (const int l = pl.boxes[n][i]; l > 0) s[l * hw + i] += cfg.fg_bias;
      }
    }
    return out;
  }

};
static_assert(EStepBias<bbox_fixed>);

}  // namespace wsss::em
