// SPDX-License-Identifier: MIT
// wsss/report/overlay.hpp — label maps made visible: VOC palette colours, blended over the
// image, panels side by side; write_overlay saves [image | prediction | ground truth] as a PNG
// (needs wsss::io)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/png.hpp"

namespace wsss::report {

/// The labels in the PASCAL VOC palette (io::voc_colormap: 0 black, 1 dark red, ..., 255 the
/// cream "void" colour), the colours VOC's own masks show.
inline rgb_image colour_labels(const label_map& labels) {
  const auto& cmap = io::voc_colormap();
  rgb_image out(labels.height(), labels.width());
  for (index_t i = 0; i < labels.pixels(); ++i) std::memcpy(out.data() + 3 * i, cmap[labels[i]].data(), 3);
  return out;
}

/// (1 - alpha) * image + alpha * colour_labels(labels), rounded. alpha in 0..1 (0: the image,
/// 1: the colours); the image and the labels must have the same size.
inline rgb_image blend(const rgb_image& image, const label_map& labels, double alpha = 0.5) {
  if (image.height() != labels.height() || image.width() != labels.width())
    throw_shape("report::blend", "image is ", image.height(), "x", image.width(), ", labels ", labels.height(), "x",
                labels.width());
  if (!(alpha >= 0.0 && alpha <= 1.0)) throw_value("report::blend", "alpha must be in 0..1, got ", alpha);
  const auto& cmap = io::voc_colormap();
  rgb_image out(image.height(), image.width());
  for (index_t i = 0; i < labels.pixels(); ++i)
    for (int c = 0; c < 3; ++c) {
      const double v = (1.0 - alpha) * image.data()[3 * i + c] + alpha * cmap[labels[i]][static_cast<std::size_t>(c)];
      out.data()[3 * i + c] = static_cast<std::uint8_t>(std::lround(v));
    }
  return out;
}

/// The images left to right, `gap` pixels of `background` between them, top-aligned; a
/// shorter image is padded below with `background`. No images: an empty image.
inline rgb_image side_by_side(std::span<const rgb_image> images, index_t gap = 4, std::uint8_t background = 255) {
  if (gap < 0) throw_value("report::side_by_side", "gap must be >= 0, got ", gap);
  if (images.empty()) return {};
  index_t h = 0, w = gap * static_cast<index_t>(images.size() - 1);
  for (const auto& im : images) {
    h = std::max(h, im.height());
    w += im.width();
  }
  rgb_image out(h, w, background);
  index_t x0 = 0;
  for (const auto& im : images) {
    for (index_t y = 0; y < im.height(); ++y)
      std::memcpy(out.data() + 3 * (y * w + x0), im.data() + 3 * y * im.width(), static_cast<std::size_t>(3 * im.width()));
    x0 += im.width() + gap;
  }
  return out;
}

/// Writes [image | blend(image, pred) | blend(image, gt)] as an RGB PNG, atomically; pred and
/// gt must have the image's size.
inline void write_overlay(const std::filesystem::path& path, const rgb_image& image, const label_map& pred,
                          const label_map& gt) {
  const rgb_image panels[] = {image, blend(image, pred), blend(image, gt)};
  io::write_png(path, side_by_side(panels));
}

}  // namespace wsss::report
