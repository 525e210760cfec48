// SPDX-License-Identifier: MIT
// wsss/data/augment.hpp — joint random rescale, mirror and crop of an image and its label
// map, the training-time augmentation of psa's loaders (RandomResizeLong, flip, random crop)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/random.hpp"

namespace wsss::data {

/// Ranges of the random transform. The defaults keep the image as it is.
struct augment_config {
  double min_scale = 1.0, max_scale = 1.0;  ///< side scale factor, uniform in [min, max]
  bool flip = true;                          ///< mirror with probability 1/2
  index_t crop = 0;                          ///< square crop side (0: keep the rescaled size)

  void validate(std::string_view component) const {
    if (!(min_scale > 0.0) || !(max_scale >= min_scale) || !std::isfinite(max_scale))
      throw_value(component, "scale range must satisfy 0 < min <= max, got [", min_scale, ", ", max_scale, "]");
    if (crop < 0) throw_value(component, "crop must be >= 0, got ", crop);
  }
};

/// One drawn transform: output pixel (y, x) reads source pixel ((y + oy) / s, (x + ox) / s)
/// (mirrored when flip), nearest neighbour; pixels that fall outside the source are padding.
struct transform {
  double scale = 1.0;
  bool flip = false;
  index_t out_h = 0, out_w = 0;    ///< output size
  index_t off_y = 0, off_x = 0;    ///< crop offset in the rescaled image (negative: padding before)
  index_t src_h = 0, src_w = 0;

  /// Draws a transform for a height x width source.
  static transform draw(const augment_config& cfg, index_t height, index_t width, rng& g) {
    cfg.validate("data::transform");
    transform t;
    t.src_h = height;
    t.src_w = width;
    t.scale = cfg.min_scale == cfg.max_scale ? cfg.min_scale : g.uniform(cfg.min_scale, cfg.max_scale);
    t.flip = cfg.flip && g.uniform() < 0.5;
    const index_t sh = std::max<index_t>(1, std::llround(t.scale * static_cast<double>(height)));
    const index_t sw = std::max<index_t>(1, std::llround(t.scale * static_cast<double>(width)));
    t.out_h = cfg.crop > 0 ? cfg.crop : sh;
    t.out_w = cfg.crop > 0 ? cfg.crop : sw;
    // psa's random crop: a random window when the image is larger, a random placement of the
    // image inside the window when it is smaller.
    auto offset = [&](index_t have, index_t want) -> index_t {
      if (have == want) return 0;
      const index_t span = have > want ? have - want : want - have;
      const auto o = static_cast<index_t>(g.below(static_cast<std::uint64_t>(span) + 1));
      return have > want ? o : -o;
    };
    t.off_y = offset(sh, t.out_h);
    t.off_x = offset(sw, t.out_w);
    return t;
  }

  /// Source pixel of output (y, x), or false when it is padding.
  bool source(index_t y, index_t x, index_t& sy, index_t& sx) const noexcept {
    const index_t ry = y + off_y, rx = x + off_x;
    const index_t sh = std::max<index_t>(1, std::llround(scale * static_cast<double>(src_h)));
    const index_t sw = std::max<index_t>(1, std::llround(scale * static_cast<double>(src_w)));
    if (ry < 0 || rx < 0 || ry >= sh || rx >= sw) return false;
    sy = std::min(src_h - 1, (2 * ry + 1) * src_h / (2 * sh));
    sx = std::min(src_w - 1, (2 * rx + 1) * src_w / (2 * sw));
    if (flip) sx = src_w - 1 - sx;
    return true;
  }

  /// The transformed image; padding is black (psa crops before normalising).
  rgb_image apply(const rgb_image& img) const {
    check(img.height(), img.width());
    rgb_image out(out_h, out_w, 0);
    for (index_t y = 0; y < out_h; ++y)
      for (index_t x = 0; x < out_w; ++x) {
        index_t sy = 0, sx = 0;
        if (source(y, x, sy, sx))
          for (int c = 0; c < 3; ++c) out(y, x, c) = img(sy, sx, c);
      }
    return out;
  }
  /// The transformed label map; padding is `pad` (ignore by default).
  label_map apply(const label_map& lab, std::uint8_t pad = ignore_label) const {
    check(lab.height(), lab.width());
    label_map out(out_h, out_w, pad);
    for (index_t y = 0; y < out_h; ++y)
      for (index_t x = 0; x < out_w; ++x) {
        index_t sy = 0, sx = 0;
        if (source(y, x, sy, sx)) out(y, x) = lab(sy, sx);
      }
    return out;
  }

 private:
  void check(index_t h, index_t w) const {
    if (h != src_h || w != src_w)
      throw_shape("data::transform", "drawn for a ", src_h, "x", src_w, " source, applied to ", h, "x", w);
  }
};

}  // namespace wsss::data
