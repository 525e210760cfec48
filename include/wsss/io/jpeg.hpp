// SPDX-License-Identifier: MIT
// wsss/io/jpeg.hpp — JPEG read (gray, YCbCr -> RGB) and write via libjpeg; libjpeg's
// error_exit longjmps back and becomes io_error naming the path
#pragma once

#include <csetjmp>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"

namespace wsss::io {

namespace detail {

inline constexpr std::string_view jpeg_component = "io::jpeg";

// Even a flat image costs a few bits per 8x8 block, so a JPEG decodes to at most a few hundred
// times its size; a header claiming more is rejected before libjpeg allocates for it.
inline constexpr double jpeg_max_expansion = 2000.0;

// Progressive JPEGs with more scans are refused: encoders write about ten, while a few bytes
// per scan would let a small file make the decoder walk all its coefficients thousands of times.
inline constexpr int jpeg_max_scans = 100;

inline bool is_jpeg(std::span<const unsigned char> bytes) noexcept {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

/// The most RGB output bytes a JPEG of `file_bytes` bytes may claim.
inline double jpeg_output_budget(std::size_t file_bytes) noexcept {
  return jpeg_max_expansion * static_cast<double>(file_bytes) + (1 << 20);
}

// libjpeg's error manager first (libjpeg hands callbacks a jpeg_error_mgr*), then our state.
struct jpeg_ctx {
  jpeg_error_mgr mgr;
  jpeg_progress_mgr progress;
  std::jmp_buf jmp;
  char message[JMSG_LENGTH_MAX + 64];
};

[[noreturn]] inline void jpeg_on_error(j_common_ptr cinfo) {
  auto* ctx = reinterpret_cast<jpeg_ctx*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, ctx->message);
  std::longjmp(ctx->jmp, 1);
}

// libjpeg only warns about corrupt data (a bad Huffman code, a segment cut short by a marker,
// extraneous bytes, a premature end of the file) and goes on, padding or guessing; a decoded
// image of garbage would follow. Every warning is therefore an error here, except the few that
// concern metadata these decoders do not use.
inline bool jpeg_benign_warning(int code) noexcept {
  return code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC;
}
inline void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level >= 0 || jpeg_benign_warning(cinfo->err->msg_code)) return;  // traces, benign warnings
  auto* ctx = reinterpret_cast<jpeg_ctx*>(cinfo->err);
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  std::snprintf(ctx->message, sizeof ctx->message, "%s%s",
                cinfo->err->msg_code == JWRN_JPEG_EOF ? "truncated JPEG: " : "corrupt JPEG: ", text);
  std::longjmp(ctx->jmp, 1);
}
// Called between scans (and rows) of a multi-scan file: enforces jpeg_max_scans.
inline void jpeg_on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  const int scans = reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number;
  if (scans <= jpeg_max_scans) return;
  auto* ctx = reinterpret_cast<jpeg_ctx*>(cinfo->err);
  std::snprintf(ctx->message, sizeof ctx->message, "more than %d scans (progressive JPEG), refused", jpeg_max_scans);
  std::longjmp(ctx->jmp, 1);
}

inline void jpeg_init_ctx(jpeg_ctx& ctx) {
  jpeg_std_error(&ctx.mgr);
  ctx.mgr.error_exit = jpeg_on_error;
  ctx.mgr.emit_message = jpeg_on_message;
  ctx.progress = {};
  ctx.progress.progress_monitor = jpeg_on_progress;
  ctx.message[0] = '\0';
}

// Phase 1: the header only; libjpeg has allocated nothing in proportion to the image yet. Its
// memory for the image (progressive coefficients, buffers) is capped at `max_memory`.
inline bool jpeg_decode_header(jpeg_decompress_struct& cinfo, jpeg_ctx& ctx, const unsigned char* data,
                               std::size_t size, long max_memory) {
  if (setjmp(ctx.jmp)) return false;
  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = max_memory;
  cinfo.progress = &ctx.progress;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_calc_output_dimensions(&cinfo);
  return true;
}

// Phase 2, once the claimed size passed the budget: the decoder's start-up allocations.
inline bool jpeg_decode_start(jpeg_decompress_struct& cinfo, jpeg_ctx& ctx) {
  if (setjmp(ctx.jmp)) return false;
  jpeg_start_decompress(&cinfo);
  return true;
}

inline bool jpeg_decode_rows(jpeg_decompress_struct& cinfo, jpeg_ctx& ctx, std::uint8_t* out) {
  if (setjmp(ctx.jmp)) return false;
  const std::size_t stride = static_cast<std::size_t>(cinfo.output_width) * 3;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out + static_cast<std::size_t>(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

inline bool jpeg_encode_phase(jpeg_compress_struct& cinfo, jpeg_ctx& ctx, std::FILE* out, const std::uint8_t* pixels,
                              index_t height, index_t width, int quality) {
  if (setjmp(ctx.jmp)) return false;
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, out);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(width) * 3;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<std::uint8_t*>(pixels) + static_cast<std::size_t>(cinfo.next_scanline) * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  return true;
}

}  // namespace detail

/// Decodes JPEG bytes (grayscale or YCbCr; baseline or progressive) to 8-bit RGB. Corrupt data
/// is an error, not a warning: a stream that ends early (libjpeg alone would pad it with gray),
/// a bad Huffman code, a segment cut short (jpeg_on_message). A header whose RGB output would
/// exceed 2000 times the file size (+1 MiB) is refused before libjpeg allocates for it, and so
/// is a progressive file of more than 100 scans. `path` names the source in errors.
inline rgb_image decode_jpeg(std::span<const unsigned char> bytes, const std::filesystem::path& path = "<memory>") {
  if (!detail::is_jpeg(bytes)) throw_io(detail::jpeg_component, path, "not a JPEG file (no SOI marker)");
  detail::jpeg_ctx ctx;
  detail::jpeg_init_ctx(ctx);
  jpeg_decompress_struct cinfo{};
  cinfo.err = &ctx.mgr;
  // jpeg_destroy_* is a no-op on a zeroed struct, so the guard is safe before creation.
  struct guard {
    jpeg_decompress_struct* c;
    ~guard() { jpeg_destroy_decompress(c); }
  } g{&cinfo};
  const double budget = detail::jpeg_output_budget(bytes.size());
  // libjpeg's own memory for an image within budget: progressive coefficients are 2 bytes a
  // sample, so four times the RGB output bounds it with room for its buffers.
  const long max_memory = static_cast<long>(std::min(4.0 * budget + (16 << 20), 0x1p62));
  if (!detail::jpeg_decode_header(cinfo, ctx, bytes.data(), bytes.size(), max_memory))
    throw_io(detail::jpeg_component, path, ctx.message);
  if (3.0 * cinfo.output_width * cinfo.output_height > budget)
    throw_io(detail::jpeg_component, path, "header claims ", cinfo.output_width, "x", cinfo.output_height,
             " pixels, impossible for a ", bytes.size(), "-byte file (truncated or corrupt)");
  if (cinfo.out_color_components != 3)
    throw_io(detail::jpeg_component, path, "decoder produces ", cinfo.out_color_components, " components, not RGB");
  if (!detail::jpeg_decode_start(cinfo, ctx)) throw_io(detail::jpeg_component, path, ctx.message);
  rgb_image img(static_cast<index_t>(cinfo.output_height), static_cast<index_t>(cinfo.output_width));
  if (!detail::jpeg_decode_rows(cinfo, ctx, img.data())) throw_io(detail::jpeg_component, path, ctx.message);
  return img;
}

/// Reads a JPEG file as 8-bit RGB (see decode_jpeg).
inline rgb_image read_jpeg(const std::filesystem::path& path) {
  return decode_jpeg(detail::read_bytes(path, detail::jpeg_component), path);
}

/// Writes an RGB JPEG (baseline, 4:2:0, libjpeg's default tables scaled to `quality` 1..100),
/// atomically. The bytes depend only on the pixels and the quality.
inline void write_jpeg(const std::filesystem::path& path, const rgb_image& img, int quality = 95) {
  if (quality < 1 || quality > 100) throw_value("io::write_jpeg", "quality must be in 1..100, got ", quality);
  if (img.empty()) throw_io(detail::jpeg_component, path, "cannot write an empty ", img.height(), "x", img.width(), " image");
  atomic_file file(path);
  detail::jpeg_ctx ctx;
  detail::jpeg_init_ctx(ctx);
  jpeg_compress_struct cinfo{};
  cinfo.err = &ctx.mgr;
  struct guard {
    jpeg_compress_struct* c;
    ~guard() { jpeg_destroy_compress(c); }
  } g{&cinfo};
  if (!detail::jpeg_encode_phase(cinfo, ctx, file.stream(), img.data(), img.height(), img.width(), quality))
    throw_io(detail::jpeg_component, path, ctx.message);
  file.commit();
}

}  // namespace wsss::io
