// SPDX-License-Identifier: MIT
// wsss/data/idx.hpp — IDX files (the MNIST / Fashion-MNIST container), plain or gzipped, and the
// Fashion-MNIST item set built from an images + labels pair
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"

namespace wsss::data {

/// An unsigned-byte IDX array: big-endian dims, row-major data.
struct idx_array {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;
};

namespace detail {

inline constexpr std::string_view idx_component = "data::idx";

/// gunzips `bytes` (or returns them unchanged when they lack the gzip magic).
inline std::vector<unsigned char> maybe_gunzip(std::vector<unsigned char> bytes, const std::filesystem::path& path) {
  if (bytes.size() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
  z_stream s{};
  if (inflateInit2(&s, 15 + 16) != Z_OK) throw_io(idx_component, path, "inflateInit2 failed");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  s.next_in = bytes.data();
  s.avail_in = static_cast<uInt>(bytes.size());
  int rc = Z_OK;
  do {
    s.next_out = buf;
    s.avail_out = sizeof buf;
    rc = inflate(&s, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string msg = s.msg ? s.msg : "inflate error";
      inflateEnd(&s);
      throw_io(idx_component, path, "gzip data is corrupt: ", msg);
    }
    out.insert(out.end(), buf, buf + (sizeof buf - s.avail_out));
    if (rc != Z_STREAM_END && s.avail_in == 0 && s.avail_out != 0) {
      inflateEnd(&s);
      throw_io(idx_component, path, "gzip data is truncated");
    }
  } while (rc != Z_STREAM_END);
  inflateEnd(&s);
  return out;
}

inline std::vector<unsigned char> gzip(const std::vector<unsigned char>& raw) {
  z_stream s{};
  if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw_value(idx_component, "deflateInit2 failed");
  std::vector<unsigned char> out(deflateBound(&s, static_cast<uLong>(raw.size())));
  s.next_in = const_cast<unsigned char*>(raw.data());
  s.avail_in = static_cast<uInt>(raw.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  if (rc != Z_STREAM_END) throw_value(idx_component, "deflate failed");
  return out;
}

}  // namespace detail

/// Reads an unsigned-byte IDX file (magic 0x00 0x00 0x08 <rank>), gzipped or not. A wrong
/// magic, a non-byte type or a size that disagrees with the dims is an io_error.
inline idx_array read_idx(const std::filesystem::path& path) {
  const auto bytes = detail::maybe_gunzip(io::detail::read_bytes(path, detail::idx_component), path);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0)
    throw_io(detail::idx_component, path, "not an IDX file (bad magic)");
  if (bytes[2] != 0x08) throw_io(detail::idx_component, path, "IDX type 0x", std::hex, int{bytes[2]}, " is not unsigned byte");
  const int rank = bytes[3];
  if (rank < 1 || bytes.size() < 4 + 4 * static_cast<std::size_t>(rank))
    throw_io(detail::idx_component, path, "IDX header truncated (rank ", rank, ")");
  idx_array a;
  std::uint64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    const unsigned char* p = bytes.data() + 4 + 4 * d;
    const std::uint64_t extent = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) | (std::uint64_t{p[2]} << 8) | p[3];
    a.dims.push_back(static_cast<std::int64_t>(extent));
    count *= extent;
    if (count > (std::uint64_t{1} << 40)) throw_io(detail::idx_component, path, "IDX dims too large");
  }
  const std::size_t offset = 4 + 4 * static_cast<std::size_t>(rank);
  if (bytes.size() - offset != count)
    throw_io(detail::idx_component, path, "IDX dims need ", count, " bytes of data, file has ", bytes.size() - offset);
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end());
  return a;
}

/// Writes an unsigned-byte IDX file, gzipped (deterministic bytes: no time stamp), atomically.
inline void write_idx_gz(const std::filesystem::path& path, const idx_array& a) {
  std::uint64_t count = 1;
  for (auto d : a.dims) count *= static_cast<std::uint64_t>(d);
  if (a.dims.empty() || a.dims.size() > 255 || count != a.data.size())
    throw_value(detail::idx_component, "dims do not match the ", a.data.size(), " data bytes");
  std::vector<unsigned char> raw = {0, 0, 0x08, static_cast<unsigned char>(a.dims.size())};
  for (auto d : a.dims)
    for (int s = 24; s >= 0; s -= 8) raw.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(d) >> s));
  raw.insert(raw.end(), a.data.begin(), a.data.end());
  const auto gz = detail::gzip(raw);
  io::write_file_atomic(path, gz);
}

/// Fashion-MNIST items: n grayscale 28 x 28 images (0 = empty, 255 = full ink) and their
/// labels 0..9 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag,
/// Ankle boot).
struct fashion_items {
  static constexpr int side = 28;
  static constexpr int classes = 10;
  std::vector<std::uint8_t> pixels;  // n * 28 * 28
  std::vector<std::uint8_t> labels;  // n
  std::size_t size() const noexcept { return labels.size(); }
  const std::uint8_t* item(std::size_t i) const noexcept { return pixels.data() + i * side * side; }
};

/// The Fashion-MNIST class names, index = label.
inline const std::array<std::string_view, 10>& fashion_class_names() {
  static const std::array<std::string_view, 10> names = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                                         "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
  return names;
}

/// Reads an images/labels IDX pair (gzipped or not) and checks that they agree.
inline fashion_items read_fashion_items(const std::filesystem::path& images, const std::filesystem::path& labels) {
  auto img = read_idx(images);
  auto lab = read_idx(labels);
  if (img.dims.size() != 3 || img.dims[1] != fashion_items::side || img.dims[2] != fashion_items::side)
    throw_io(detail::idx_component, images, "expected N x 28 x 28 images");
  if (lab.dims.size() != 1 || lab.dims[0] != img.dims[0])
    throw_io(detail::idx_component, labels, "expected ", img.dims[0], " labels to match ", images.string());
  for (std::size_t i = 0; i < lab.data.size(); ++i)
    if (lab.data[i] >= fashion_items::classes)
      throw_io(detail::idx_component, labels, "label ", int{lab.data[i]}, " at item ", i, " is not in 0..9");
  return {std::move(img.data), std::move(lab.data)};
}

/// The first `per_class` items of each class, in file order (for the embedded subset).
inline fashion_items fashion_subset(const fashion_items& all, std::size_t per_class) {
  fashion_items out;
  std::array<std::size_t, fashion_items::classes> taken{};
  constexpr std::size_t n = fashion_items::side * fashion_items::side;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto c = all.labels[i];
    if (taken[c] == per_class) continue;
    ++taken[c];
    out.labels.push_back(c);
    out.pixels.insert(out.pixels.end(), all.item(i), all.item(i) + n);
  }
  return out;
}

/// Writes items as a gzipped IDX pair.
inline void write_fashion_items(const fashion_items& items, const std::filesystem::path& images,
                                const std::filesystem::path& labels) {
  const auto n = static_cast<std::int64_t>(items.size());
  write_idx_gz(images, {{n, fashion_items::side, fashion_items::side}, items.pixels});
  write_idx_gz(labels, {{n}, items.labels});
}

}  // namespace wsss::data
