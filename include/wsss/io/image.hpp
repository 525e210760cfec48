// SPDX-License-Identifier: MIT
// wsss/io/image.hpp — read an image file as RGB, choosing PNG or JPEG by its magic bytes
#pragma once

#include <filesystem>

#include "wsss/core/image.hpp"
#include "wsss/io/detail/file.hpp"
#include "wsss/io/jpeg.hpp"
#include "wsss/io/png.hpp"

namespace wsss::io {

/// Reads a PNG or JPEG (decided by the file's first bytes, not its extension) as 8-bit RGB.
inline rgb_image read_image(const std::filesystem::path& path) {
  const auto bytes = detail::read_bytes(path, "io::read_image");
  if (detail::is_png(bytes)) return decode_png(bytes, path);
  if (detail::is_jpeg(bytes)) return decode_jpeg(bytes, path);
  throw_io("io::read_image", path, "unknown image format (neither PNG nor JPEG signature)");
}

}  // namespace wsss::io
