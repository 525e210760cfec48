// SPDX-License-Identifier: MIT
// wsss/cam/annotations.hpp — from class activation maps to segmentation annotations and which of
// them to trust (SPN, Kwak et al. AAAI 2017): annotation sanitization, the degree of scatter of
// an annotation's segments, and the reliable subset (the least scattered annotations per class)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::cam {

/// How class maps become an annotation ("Generating initial annotation with SP-CAM").
struct annotation_config {
  /// A class's pixel is kept where its map reaches this fraction of the map's maximum (0.5: the
  /// paper's "thresholded by 50% of the maximum score"); 0 keeps every pixel.
  float relative = 0.5f;
  /// A pixel is background where no kept class map exceeds this (the paper's "predefined
  /// threshold"; 0 for class scores: the classifier's own decision boundary, 0.5 for
  /// figure / ground probabilities).
  float background = 0.0f;

  void validate(std::string_view component) const {
    if (!(relative >= 0.0f && relative <= 1.0f)) throw_value(component, "relative threshold must be in [0, 1], got ", relative);
    if (!std::isfinite(background)) throw_value(component, "background threshold must be finite, got ", background);
  }
};

/// The annotation of K class maps (K x H x W, channel k = class k + 1) over the classes in
/// `allowed` (sorted ids in 1..K): pixel p takes the allowed class c with the largest m_c(p)
/// among those with m_c(p) >= relative * max m_c and m_c(p) > background (ties: the lower id),
/// else background 0. Sanitization is allowed = the image's tags with relative 0.5; the
/// unsanitized annotation is every class with relative 0.
inline label_map annotate(const tensor& maps, std::span<const int> allowed, const annotation_config& cfg) {
  constexpr std::string_view who = "cam::annotate";
  cfg.validate(who);
  expect_rank(maps, 3, who, "class maps", "K x H x W");
  const index_t K = maps.dim(0), H = maps.dim(1), W = maps.dim(2), P = H * W;
  for (int c : allowed)
    if (c < 1 || c > K) throw_value(who, "class ", c, " has no map (", K, " maps, classes 1..", K, ")");
  label_map out(H, W, 0);
  std::vector<float> best(static_cast<std::size_t>(P), -std::numeric_limits<float>::infinity());
  for (int c : allowed) {
    const float* m = maps.data() + static_cast<index_t>(c - 1) * P;
    const float top = P > 0 ? *std::max_element(m, m + P) : 0.0f;
    const float keep = cfg.relative > 0.0f ? cfg.relative * top : -std::numeric_limits<float>::infinity();
    for (index_t p = 0; p < P; ++p) {
      const float v = m[p];
      if (v >= keep && v > cfg.background && v > best[static_cast<std::size_t>(p)]) {
        best[static_cast<std::size_t>(p)] = v;
        out[p] = static_cast<std::uint8_t>(c);
      }
    }
  }
  return out;
}

/// Every class 1..K, for the unsanitized annotation.
inline std::vector<int> all_classes(index_t K) {
  std::vector<int> c(static_cast<std::size_t>(std::max<index_t>(K, 0)));
  std::iota(c.begin(), c.end(), 1);
  return c;
}

/// Area and perimeter of one class's segments in an annotation. The perimeter counts the unit
/// pixel edges between a pixel of the class and a pixel of any other label or the image's
/// border (the city-block perimeter: a digital disc of radius r has about 8r, not 2 pi r).
struct segment_shape {
  double area = 0, perimeter = 0;
  /// The degree of scatter (SPN): perimeter^2 / area, scale-free (a square 16, a disc about
  /// 64 / pi); +infinity for an empty segment (nothing to trust).
  double scatter() const { return area > 0 ? perimeter * perimeter / area : std::numeric_limits<double>::infinity(); }
};

/// The shape of class c's pixels in `labels`.
inline segment_shape class_shape(const label_map& labels, int c) {
  segment_shape s;
  const index_t H = labels.height(), W = labels.width();
  const auto is = [&](index_t y, index_t x) { return y >= 0 && y < H && x >= 0 && x < W && labels[y * W + x] == c; };
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      if (labels[y * W + x] != c) continue;
      s.area += 1;
      s.perimeter += !is(y - 1, x) + !is(y + 1, x) + !is(y, x - 1) + !is(y, x + 1);
    }
  return s;
}

/// Which annotations to train on ("reliable subset selection").
struct reliable_config {
  /// Annotations kept per class: the least scattered per_class of those tagged with it, or,
  /// when per_class is 0, that fraction of them (rounded up). The paper keeps 300 of about
  /// 500 images per class on VOC: 0.6 scales that to another set's size.
  index_t per_class = 0;
  double fraction = 0.6;

  void validate(std::string_view component) const {
    if (per_class < 0) throw_value(component, "per_class must be >= 0, got ", per_class);
    if (per_class == 0 && !(fraction > 0.0 && fraction <= 1.0)) throw_value(component, "fraction must be in (0, 1], got ", fraction);
  }
};

/// One training example of a class-agnostic segmentation network: image `image`'s annotation
/// with class `cls` as the figure.
struct image_class {
  std::size_t image = 0;
  int cls = 0;
  friend bool operator==(const image_class&, const image_class&) = default;
  friend auto operator<=>(const image_class&, const image_class&) = default;
};

/// The reliable subset: for every class c, among the images tagged with c whose annotation has
/// class-c pixels, the ones whose class-c segments are least scattered (ties: the lower image
/// index). Returns the chosen (image, class) pairs sorted; with fraction 1 and per_class 0,
/// every tagged class with pixels.
inline std::vector<image_class> reliable_subset(std::span<const label_map> annotations, std::span<const tag_set> tags,
                                                const reliable_config& cfg) {
  constexpr std::string_view who = "cam::reliable_subset";
  cfg.validate(who);
  if (annotations.size() != tags.size())
    throw_shape(who, "got ", annotations.size(), " annotations and ", tags.size(), " tag sets");
  int classes = 0;
  for (const tag_set& t : tags)
    for (int c : t) classes = std::max(classes, c);
  std::vector<std::vector<std::pair<double, std::size_t>>> ranked(static_cast<std::size_t>(classes) + 1);
  for (std::size_t i = 0; i < annotations.size(); ++i)
    for (int c : tags[i]) {
      const double s = class_shape(annotations[i], c).scatter();
      if (std::isfinite(s)) ranked[static_cast<std::size_t>(c)].emplace_back(s, i);
    }
  std::vector<image_class> out;
  for (int c = 1; c <= classes; ++c) {
    auto& r = ranked[static_cast<std::size_t>(c)];
    std::sort(r.begin(), r.end());
    const std::size_t n = static_cast<std::size_t>(
        cfg.per_class > 0 ? cfg.per_class : static_cast<index_t>(std::ceil(cfg.fraction * static_cast<double>(r.size()) - 1e-9)));
    for (std::size_t k = 0; k < std::min(n, r.size()); ++k) out.push_back({r[k].second, c});
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Every (image, tagged class) pair whose annotation has pixels of the class: training on all
/// annotations (the ablation of the reliable subset).
inline std::vector<image_class> all_pairs(std::span<const label_map> annotations, std::span<const tag_set> tags) {
  return reliable_subset(annotations, tags, {.per_class = 0, .fraction = 1.0});
}

/// The figure / ground target of one example: 1 where the annotation is `cls`, 0 elsewhere,
/// 255 kept where the annotation ignores a pixel.
inline label_map figure_ground(const label_map& annotation, int cls) {
  label_map out(annotation.height(), annotation.width(), 0);
  for (index_t p = 0; p < out.pixels(); ++p)
    out[p] = annotation[p] == ignore_label ? ignore_label : static_cast<std::uint8_t>(annotation[p] == cls ? 1 : 0);
  return out;
}

}  // namespace wsss::cam
