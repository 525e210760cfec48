// SPDX-License-Identifier: MIT
// wsss/io/label_png.hpp — label maps as palette PNGs with the PASCAL VOC colour map (the
// format of VOC's SegmentationClass/*.png: palette index = class id, 255 = ignore)
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <vector>

#include "wsss/core/label_map.hpp"
#include "wsss/io/png.hpp"

namespace wsss::io {

/// The PASCAL VOC palette: the bits of the class id, read three at a time, fill the colour
/// channels from the most significant bit down (id 0 = black, 1 = (128,0,0), 15 = (192,128,128),
/// 255 = (224,224,192), the "void" border colour).
inline const std::array<std::array<std::uint8_t, 3>, 256>& voc_colormap() {
  static const auto table = [] {
    std::array<std::array<std::uint8_t, 3>, 256> t{};
    for (int id = 0; id < 256; ++id) {
      int r = 0, g = 0, b = 0, c = id;
      for (int bit = 7; bit >= 0; --bit) {
        r |= (c & 1) << bit;
        g |= ((c >> 1) & 1) << bit;
        b |= ((c >> 2) & 1) << bit;
        c >>= 3;
      }
      t[static_cast<std::size_t>(id)] = {static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(g),
                                         static_cast<std::uint8_t>(b)};
    }
    return t;
  }();
  return table;
}

/// Writes labels as an 8-bit palette PNG (palette = voc_colormap()), atomically.
inline void write_label_png(const std::filesystem::path& path, const label_map& labels) {
  std::array<detail::png_palette_entry, 256> palette{};
  const auto& cmap = voc_colormap();
  for (std::size_t i = 0; i < 256; ++i) palette[i] = {cmap[i][0], cmap[i][1], cmap[i][2]};
  detail::png_encode(path, labels.data(), labels.height(), labels.width(), PNG_COLOR_TYPE_PALETTE, palette);
}

/// Decodes a label PNG: palette PNGs give their palette indices (any palette; the colours are
/// not consulted), 8-bit gray PNGs give their gray values. Any other PNG is an io_error, since
/// its pixel values are colours, not class ids.
inline label_map decode_label_png(std::span<const unsigned char> bytes, const std::filesystem::path& path = "<memory>") {
  std::vector<std::uint8_t> px;
  const auto [h, w] = detail::png_decode(bytes, path, detail::png_target::label, px);
  label_map out(h, w);
  if (!px.empty()) std::memcpy(out.data(), px.data(), px.size());
  return out;
}

/// Reads a label PNG file (see decode_label_png).
inline label_map read_label_png(const std::filesystem::path& path) {
  return decode_label_png(detail::read_bytes(path, detail::png_component), path);
}

}  // namespace wsss::io
