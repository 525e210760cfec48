// SPDX-License-Identifier: MIT
// wsss/crf/bbox.hpp — box-clamped dense CRF: EM's Bbox-Seg (Papandreou et al. 2015, §3.3):
// the centre alpha% of each box fixed to its class, pixels outside every box to background
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"

namespace wsss::crf {

/// An axis-aligned box [x0, x1) x [y0, y1) in pixels with its class id (the batch's box).
using box = wsss::box;

/// Clamp map for Bbox-Seg: background outside every box, ignore_label (free) inside, and the
/// centre of each box, shrunk about its centre by sqrt(alpha) per side so it holds alpha of
/// the box's area, fixed to the box's label (smaller boxes' centres drawn last, on top).
inline label_map clamp_from_boxes(index_t height, index_t width, std::span<const box> boxes, float alpha = 0.2f,
                                  int background = 0) {
  constexpr auto component = "crf::clamp_from_boxes";
  require(alpha >= 0 && alpha <= 1, component, "alpha must be in [0, 1], got ", alpha);
  require(background >= 0 && background < 255, component, "background label must be in [0, 255), got ", background);
  label_map m(height, width, static_cast<std::uint8_t>(background));
  for (const box& b : boxes) {
    if (b.x0 < 0 || b.y0 < 0 || b.x1 > width || b.y1 > height || b.x0 >= b.x1 || b.y0 >= b.y1)
      throw_value(component, "box [", b.x0, ", ", b.x1, ") x [", b.y0, ", ", b.y1, ") is empty or outside the ",
                  height, "x", width, " image");
    require(b.label >= 0 && b.label < 255, component, "box label must be in [0, 255), got ", b.label);
    for (index_t y = b.y0; y < b.y1; ++y)
      for (index_t x = b.x0; x < b.x1; ++x) m(y, x) = ignore_label;
  }
  std::vector<box> order(boxes.begin(), boxes.end());
  std::stable_sort(order.begin(), order.end(), [](const box& a, const box& b) {
    return (a.x1 - a.x0) * (a.y1 - a.y0) > (b.x1 - b.x0) * (b.y1 - b.y0);
  });
  const double f = std::sqrt(static_cast<double>(alpha));
  for (const box& b : order) {
    const double cx = 0.5 * (b.x0 + b.x1), cy = 0.5 * (b.y0 + b.y1);
    const double hw = 0.5 * f * (b.x1 - b.x0), hh = 0.5 * f * (b.y1 - b.y0);
    const auto x0 = static_cast<index_t>(std::lround(cx - hw)), x1 = static_cast<index_t>(std::lround(cx + hw));
    const auto y0 = static_cast<index_t>(std::lround(cy - hh)), y1 = static_cast<index_t>(std::lround(cy + hh));
    for (index_t y = y0; y < y1; ++y)
      for (index_t x = x0; x < x1; ++x) m(y, x) = static_cast<std::uint8_t>(b.label);
  }
  return m;
}

/// Unary energies 1 x K x H x W for Bbox-Seg: at each free pixel uniform over background and
/// the classes of the boxes covering it, -log(clip) for every other class.
inline tensor box_unary(index_t height, index_t width, index_t labels, std::span<const box> boxes, int background = 0,
                        float clip = 1e-5f) {
  require(labels >= 1, "crf::box_unary", "needs at least one label, got ", labels);
  for (const box& b : boxes)
    require(b.label >= 0 && b.label < labels, "crf::box_unary", "box label ", b.label, " is not < K = ", labels);
  const index_t n = height * width;
  std::vector<std::uint8_t> allowed(static_cast<std::size_t>(labels * n), 0);
  for (index_t p = 0; p < n; ++p) allowed[static_cast<std::size_t>(background * n + p)] = 1;
  for (const box& b : boxes)
    for (index_t y = std::max<index_t>(b.y0, 0); y < std::min(b.y1, height); ++y)
      for (index_t x = std::max<index_t>(b.x0, 0); x < std::min(b.x1, width); ++x)
        allowed[static_cast<std::size_t>(b.label * n + y * width + x)] = 1;
  tensor u({1, labels, height, width});
  const float far = -std::log(clip);
  for (index_t p = 0; p < n; ++p) {
    int cnt = 0;
    for (index_t c = 0; c < labels; ++c) cnt += allowed[static_cast<std::size_t>(c * n + p)];
    for (index_t c = 0; c < labels; ++c)
      u[c * n + p] = allowed[static_cast<std::size_t>(c * n + p)] ? std::log(static_cast<float>(cnt)) : far;
  }
  return u;
}

/// Bbox-Seg labels for one image: the box-clamped CRF's MAP (per-pixel argmax of Q). Any
/// CrfEngine: the clamp map reaches it as the batch's label map.
template <CrfEngine Engine = mean_field<>, class Tag = omp_t>
label_map bbox_seg(const rgb_image& image, std::span<const box> boxes, index_t labels, float alpha = 0.2f,
                   const Engine& engine = Engine{}, const exec<Tag>& ex = {}) {
  const label_map clamp = clamp_from_boxes(image.height(), image.width(), boxes, alpha);
  const tensor u = box_unary(image.height(), image.width(), labels, boxes);
  const batch b{.images = std::span<const rgb_image>(&image, 1), .labels = std::span<const label_map>(&clamp, 1)};
  auto pl = engine.prepare(ex, b, u.shape());
  tensor q;
  engine.run(ex, pl, u, q);
  return argmax_labels(q);
}

}  // namespace wsss::crf
