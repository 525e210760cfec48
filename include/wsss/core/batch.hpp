// SPDX-License-Identifier: MIT
// wsss/core/batch.hpp — the per-image data of the stage protocol: images, image-level tags,
// boxes and superpixels travel in one batch, never inside a policy object
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/superpixel/segmentation.hpp"

namespace wsss {

/// Image-level labels: the foreground class ids present in an image (1 .. C-1 when class 0 is
/// background), sorted, without repeats.
using tag_set = std::vector<int>;

/// An axis-aligned box [x0, x1) x [y0, y1) in pixels with its class id (EM's box annotations).
struct box {
  index_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int label = 1;
};
using box_list = std::vector<box>;

/// The images of one step and what is known about each. Every span is either empty (not given)
/// or holds one entry per image; spans view the caller's storage, which must outlive the
/// plans prepared from the batch.
struct batch {
  std::span<const rgb_image> images{};
  std::span<const tag_set> tags{};
  std::span<const box_list> boxes{};
  std::span<const superpixel::segmentation> superpixels{};
  /// Per-pixel supervision when a stage has it: ground-truth masks of strongly annotated
  /// images, pseudo-labels, localisation cues, confident regions (255 = ignore).
  std::span<const label_map> labels{};

  /// Number of items: the length of the first non-empty span (0 when all are empty).
  std::size_t size() const noexcept {
    for (std::size_t n : {images.size(), tags.size(), boxes.size(), superpixels.size(), labels.size()})
      if (n) return n;
    return 0;
  }
  bool empty() const noexcept { return size() == 0; }

  /// Throws shape_error unless every given span has size() entries.
  void validate(std::string_view component) const {
    const std::size_t n = size();
    auto check = [&](std::size_t got, const char* what) {
      if (got != 0 && got != n)
        throw_shape(component, "batch holds ", n, " items but ", got, " ", what);
    };
    check(images.size(), "images");
    check(tags.size(), "tag sets");
    check(boxes.size(), "box lists");
    check(superpixels.size(), "superpixel maps");
    check(labels.size(), "label maps");
  }

  /// Throws value_error naming `component` and `what` when that span is not given.
  template <class T>
  static void need(std::span<const T> s, std::string_view component, std::string_view what) {
    if (s.empty()) throw_value(component, "needs ", what, " in the batch, none given");
  }

  /// Items [first, first + count).
  batch slice(std::size_t first, std::size_t count) const {
    auto sub = [&](auto s) { return s.empty() ? s : s.subspan(first, count); };
    return {sub(images), sub(tags), sub(boxes), sub(superpixels), sub(labels)};
  }
};

/// A batch of images only.
inline batch images_only(std::span<const rgb_image> images) { return batch{.images = images}; }

/// Checks one tag set: sorted, unique, every id in [first, classes).
inline void validate_tags(const tag_set& t, int classes, std::string_view component, int first = 1) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] < first || t[i] >= classes)
      throw_value(component, "tag ", t[i], " is outside [", first, ", ", classes, ")");
    if (i > 0 && t[i] <= t[i - 1]) throw_value(component, "tags must be sorted and unique, got ", t[i - 1], " then ", t[i]);
  }
}

}  // namespace wsss
