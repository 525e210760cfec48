// SPDX-License-Identifier: MIT
// wsss/io/png.hpp — PNG read (every colour type and depth -> 8-bit RGB) and write via libpng;
// libpng's longjmp errors come back as io_error naming the path
#pragma once

#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include <png.h>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"

namespace wsss::io {

namespace detail {

inline constexpr std::string_view png_component = "io::png";
inline constexpr index_t png_max_side = 1 << 15;

inline bool is_png(std::span<const unsigned char> bytes) noexcept {
  return bytes.size() >= 8 && png_sig_cmp(bytes.data(), 0, 8) == 0;
}

// Everything libpng's callbacks touch: trivially destructible, so longjmp over it is defined.
struct png_ctx {
  std::jmp_buf jmp;
  char message[256];
  const unsigned char* data;
  std::size_t size, pos;
};

[[noreturn]] inline void png_on_error(png_structp png, png_const_charp msg) {
  auto* ctx = static_cast<png_ctx*>(png_get_error_ptr(png));
  std::strncpy(ctx->message, msg ? msg : "libpng error", sizeof ctx->message - 1);
  ctx->message[sizeof ctx->message - 1] = '\0';
  std::longjmp(ctx->jmp, 1);
}
inline void png_on_warning(png_structp, png_const_charp) {}

inline void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* ctx = static_cast<png_ctx*>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "unexpected end of file (truncated PNG)");
  std::memcpy(out, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

enum class png_target { rgb, label };

struct png_header {
  png_uint_32 width, height;
  int color_type, bit_depth;
  std::size_t raw_rowbytes;  // as stored, before the transforms
  std::size_t rowbytes;      // after the transforms
};

// Deflate expands at most about 1032:1, so a header whose pixel data could not fit in the file
// is rejected before its rows are allocated (a few bytes must not claim gigabytes).
inline constexpr double png_max_inflate_ratio = 1100.0;

// Phase 1: signature, header chunks, transforms. Only trivially destructible locals between
// setjmp and any libpng call, as the C++ rules for longjmp require.
inline bool png_decode_header(png_structp png, png_infop info, png_ctx& ctx, png_target target, png_header& h) {
  if (setjmp(ctx.jmp)) return false;
  png_set_read_fn(png, &ctx, png_read_memory);
  // Limits, set before libpng reads (and allocates) anything: the sides; every ancillary chunk
  // skipped unread, so its claimed length is never allocated (libpng keeps tRNS, the only one
  // these decoders could use; a tEXt chunk can claim 2 GB in a few bytes); and no chunk buffer
  // larger than the file itself.
  png_set_user_limits(png, png_max_side, png_max_side);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_set_chunk_malloc_max(png, static_cast<png_alloc_size_t>(ctx.size) + 1);
  png_read_info(png, info);
  h.width = png_get_image_width(png, info);
  h.height = png_get_image_height(png, info);
  h.color_type = png_get_color_type(png, info);
  h.bit_depth = png_get_bit_depth(png, info);
  h.raw_rowbytes = png_get_rowbytes(png, info);
  if (target == png_target::rgb) {
    if (h.color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (h.color_type == PNG_COLOR_TYPE_GRAY && h.bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (h.bit_depth == 16) png_set_scale_16(png);
    png_set_strip_alpha(png);
    if (!(h.color_type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
  } else if (h.color_type == PNG_COLOR_TYPE_PALETTE && h.bit_depth < 8) {
    png_set_packing(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  h.rowbytes = png_get_rowbytes(png, info);
  return true;
}

// Phase 2: the pixels, into rows the caller allocated.
inline bool png_decode_rows(png_structp png, png_infop info, png_ctx& ctx, png_bytepp rows) {
  if (setjmp(ctx.jmp)) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

struct png_read_guard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~png_read_guard() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

/// Decodes PNG bytes into `pixels` rows of `channels` bytes per pixel; returns (height, width).
inline std::pair<index_t, index_t> png_decode(std::span<const unsigned char> bytes, const std::filesystem::path& path,
                                               png_target target, std::vector<std::uint8_t>& pixels) {
  if (!is_png(bytes)) throw_io(png_component, path, "not a PNG file (bad signature)");
  png_ctx ctx{};
  ctx.data = bytes.data();
  ctx.size = bytes.size();
  png_read_guard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
  if (!g.png) throw_io(png_component, path, "png_create_read_struct failed");
  g.info = png_create_info_struct(g.png);
  if (!g.info) throw_io(png_component, path, "png_create_info_struct failed");
  png_header h{};
  if (!png_decode_header(g.png, g.info, ctx, target, h)) throw_io(png_component, path, ctx.message);
  if (static_cast<double>(h.raw_rowbytes + 1) * h.height > png_max_inflate_ratio * static_cast<double>(bytes.size()) + 4096)
    throw_io(png_component, path, "header claims ", h.width, "x", h.height, " pixels, impossible for a ", bytes.size(),
             "-byte file (truncated or corrupt)");
  if (target == png_target::label) {
    const bool palette = h.color_type == PNG_COLOR_TYPE_PALETTE;
    const bool gray8 = h.color_type == PNG_COLOR_TYPE_GRAY && h.bit_depth == 8;
    if (!palette && !gray8)
      throw_io(png_component, path, "a label PNG must be palette or 8-bit gray, got colour type ", h.color_type,
               " with bit depth ", h.bit_depth);
  }
  const std::size_t channels = target == png_target::rgb ? 3 : 1;
  if (h.rowbytes != h.width * channels)
    throw_io(png_component, path, "unexpected row size ", h.rowbytes, " for width ", h.width);
  pixels.assign(static_cast<std::size_t>(h.height) * h.rowbytes, 0);
  std::vector<png_bytep> rows(h.height);
  for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = pixels.data() + y * h.rowbytes;
  if (!png_decode_rows(g.png, g.info, ctx, rows.data())) throw_io(png_component, path, ctx.message);
  return {static_cast<index_t>(h.height), static_cast<index_t>(h.width)};
}

struct png_palette_entry {
  std::uint8_t r, g, b;
};

inline bool png_encode_phase(png_structp png, png_infop info, png_ctx& ctx, std::FILE* out, png_uint_32 width,
                             png_uint_32 height, int color_type, png_const_colorp palette, int palette_size,
                             png_bytepp rows) {
  if (setjmp(ctx.jmp)) return false;
  png_init_io(png, out);
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, palette_size);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

struct png_write_guard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~png_write_guard() { png_destroy_write_struct(&png, info ? &info : nullptr); }
};

/// Writes 8-bit rows (RGB, or palette indices with `palette`) atomically.
inline void png_encode(const std::filesystem::path& path, const std::uint8_t* pixels, index_t height, index_t width,
                       int color_type, std::span<const png_palette_entry> palette = {}) {
  if (height <= 0 || width <= 0 || height > png_max_side || width > png_max_side)
    throw_io(png_component, path, "cannot write a ", height, "x", width, " image");
  const std::size_t row_bytes = static_cast<std::size_t>(width) * (color_type == PNG_COLOR_TYPE_RGB ? 3 : 1);
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (index_t y = 0; y < height; ++y) rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(pixels) + y * row_bytes;
  std::vector<png_color> plte;
  for (const auto& c : palette) plte.push_back(png_color{c.r, c.g, c.b});

  atomic_file file(path);
  png_ctx ctx{};
  png_write_guard g;
  g.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
  if (!g.png) throw_io(png_component, path, "png_create_write_struct failed");
  g.info = png_create_info_struct(g.png);
  if (!g.info) throw_io(png_component, path, "png_create_info_struct failed");
  if (!png_encode_phase(g.png, g.info, ctx, file.stream(), static_cast<png_uint_32>(width),
                        static_cast<png_uint_32>(height), color_type, plte.empty() ? nullptr : plte.data(),
                        static_cast<int>(plte.size()), rows.data()))
    throw_io(png_component, path, ctx.message);
  file.commit();
}

}  // namespace detail

/// Decodes PNG bytes (gray, gray+alpha, RGB, RGBA, palette; 1-16 bits; interlaced or not) to
/// 8-bit RGB. Alpha is dropped; 16-bit samples are scaled to 8 bits with rounding. `path` only
/// names the source in errors.
inline rgb_image decode_png(std::span<const unsigned char> bytes, const std::filesystem::path& path = "<memory>") {
  std::vector<std::uint8_t> px;
  const auto [h, w] = detail::png_decode(bytes, path, detail::png_target::rgb, px);
  rgb_image img(h, w);
  if (!px.empty()) std::memcpy(img.data(), px.data(), px.size());
  return img;
}

/// Reads a PNG file as 8-bit RGB (see decode_png).
inline rgb_image read_png(const std::filesystem::path& path) {
  return decode_png(detail::read_bytes(path, detail::png_component), path);
}

/// Writes an 8-bit RGB PNG atomically.
inline void write_png(const std::filesystem::path& path, const rgb_image& img) {
  detail::png_encode(path, img.data(), img.height(), img.width(), PNG_COLOR_TYPE_RGB);
}

}  // namespace wsss::io
