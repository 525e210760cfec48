// SPDX-License-Identifier: MIT
// tests/support/hostile.hpp — small hostile inputs made in the tests (PNG chunks, JPEGs from
// libjpeg with any scan script, gzip streams that inflate far) and the peak-memory probe the
// reliability tests (docs/reliability.md) measure them with
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <zlib.h>

namespace wsss_test {

using bytes = std::vector<unsigned char>;

/// Appends a PNG chunk; `claimed` (when non-zero) replaces the length field (the CRC covers
/// what is really there, as a forger would write it).
inline void png_chunk(bytes& out, const char* type, const bytes& data, std::uint32_t claimed = 0) {
  const std::uint32_t len = claimed ? claimed : static_cast<std::uint32_t>(data.size());
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(len >> s));
  bytes td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  out.insert(out.end(), td.begin(), td.end());
  const auto crc = static_cast<std::uint32_t>(crc32(0, td.data(), static_cast<uInt>(td.size())));
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(crc >> s));
}

/// PNG signature and the IHDR of a width x height image of the given depth and colour type.
inline bytes png_start(std::uint32_t width, std::uint32_t height, int depth = 8, int colour = 2) {
  bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  bytes ihdr;
  for (const std::uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) ihdr.push_back(static_cast<unsigned char>(v >> s));
  ihdr.insert(ihdr.end(), {static_cast<unsigned char>(depth), static_cast<unsigned char>(colour), 0, 0, 0});
  png_chunk(out, "IHDR", ihdr);
  return out;
}

/// A JPEG of `components` (1 gray, 3 RGB) made by libjpeg from pixels f(x, y, c); progressive
/// with libjpeg's simple script when `progressive`, or with `scans` when given.
inline bytes jpeg_bytes(int width, int height, int components, bool progressive,
                        const std::function<unsigned char(int, int, int)>& f,
                        const std::vector<jpeg_scan_info>& scans = {}, int quality = 90) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  c.input_components = components;
  c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  if (!scans.empty()) {
    c.scan_info = scans.data();
    c.num_scans = static_cast<int>(scans.size());
  }
  jpeg_start_compress(&c, TRUE);
  std::vector<unsigned char> row(static_cast<std::size_t>(width * components));
  while (c.next_scanline < c.image_height) {
    const int y = static_cast<int>(c.next_scanline);
    for (int x = 0; x < width; ++x)
      for (int k = 0; k < components; ++k) row[static_cast<std::size_t>(x * components + k)] = f(x, y, k);
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  bytes out(buf, buf + size);
  std::free(buf);
  jpeg_destroy_compress(&c);
  return out;
}

/// Overwrites the height and width of the first SOF0/SOF2 marker of a JPEG.
inline void jpeg_claim_size(bytes& jpeg, unsigned height, unsigned width) {
  for (std::size_t i = 0; i + 8 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
      jpeg[i + 5] = static_cast<unsigned char>(height >> 8);
      jpeg[i + 6] = static_cast<unsigned char>(height);
      jpeg[i + 7] = static_cast<unsigned char>(width >> 8);
      jpeg[i + 8] = static_cast<unsigned char>(width);
      return;
    }
}

/// A gzip stream of `prefix` followed by `zero_mib` MiB of zeros, made by deflating one MiB of
/// zeros once and repeating that block (valid: the window is all zeros each time), so a few
/// hundred KB inflate to gigabytes without the test deflating them. The trailer's CRC is not
/// that of the data (a reader that stops early never gets there).
inline bytes gzip_zeros(const bytes& prefix, int zero_mib) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  const bytes mib(std::size_t{1} << 20, 0);
  auto deflate_some = [&](const bytes& in, int flush) {
    bytes block(deflateBound(&z, static_cast<uLong>(in.size())) + 64);
    z.next_in = const_cast<unsigned char*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = block.data();
    z.avail_out = static_cast<uInt>(block.size());
    deflate(&z, flush);
    block.resize(block.size() - z.avail_out);
    return block;
  };
  bytes first = prefix;
  first.insert(first.end(), mib.begin(), mib.end());
  const bytes head = deflate_some(first, Z_SYNC_FLUSH);
  const bytes repeat = deflate_some(mib, Z_SYNC_FLUSH);
  const bytes tail = deflate_some({}, Z_FINISH);
  deflateEnd(&z);
  out.insert(out.end(), head.begin(), head.end());
  for (int i = 1; i < zero_mib; ++i) out.insert(out.end(), repeat.begin(), repeat.end());
  out.insert(out.end(), tail.begin(), tail.end());
  out.insert(out.end(), 8, 0);  // CRC32 and ISIZE, not checked by a reader that stops early
  return out;
}

/// n as 8 little-endian bytes.
inline bytes le64(std::uint64_t n) {
  bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(n >> (8 * i)));
  return out;
}

/// A safetensors file: the header length, the header text, the data buffer.
inline bytes safetensors_bytes(const std::string& header, const bytes& data) {
  bytes out = le64(header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

/// A line of /proc/self/status in kB ("VmRSS", "VmHWM"); -1 when absent.
inline long long proc_status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  return -1;
}

/// Runs f and returns by how many bytes the process's peak resident set rose above its
/// resident set before f (Linux: "5" in /proc/self/clear_refs resets the peak); -1 when the
/// peak cannot be reset here. The hostile inputs of the reliability tests once made the
/// decoders touch gigabytes; now they must stay within a few MB.
inline long long peak_rss_growth(const std::function<void()>& f) {
  {
    std::ofstream reset("/proc/self/clear_refs");
    if (!(reset << "5" << std::flush)) {
      f();
      return -1;
    }
  }
  const long long before = proc_status_kb("VmRSS");
  f();
  const long long peak = proc_status_kb("VmHWM");
  return before < 0 || peak < 0 ? -1 : (peak - before) * 1024;
}

}  // namespace wsss_test
