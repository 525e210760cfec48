// SPDX-License-Identifier: MIT
// wsss/data/idx.hpp — IDX files (the MNIST / Fashion-MNIST container), plain or gzipped, and the
// Fashion-MNIST item set built from an images + labels pair
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"
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

/// The bytes of an IDX file in order: the file itself, or its gzip stream inflated a piece at a
/// time (so no more is ever inflated than the caller asks for).
class idx_source {
 public:
  idx_source(std::vector<unsigned char> bytes, const std::filesystem::path& path)
      : bytes_(std::move(bytes)), path_(path), gz_(bytes_.size() >= 2 && bytes_[0] == 0x1f && bytes_[1] == 0x8b) {
    if (!gz_) return;
    if (inflateInit2(&z_, 15 + 16) != Z_OK) throw_io(idx_component, path_, "inflateInit2 failed");
    z_.next_in = bytes_.data();
    z_.avail_in = static_cast<uInt>(std::min<std::size_t>(bytes_.size(), std::numeric_limits<uInt>::max()));
    fed_ = z_.avail_in;
  }
  idx_source(const idx_source&) = delete;
  idx_source& operator=(const idx_source&) = delete;
  ~idx_source() {
    if (gz_) inflateEnd(&z_);
  }

  /// Reads up to n bytes into out; fewer only at the end of the data.
  std::size_t read(unsigned char* out, std::size_t n) {
    if (!gz_) {
      const std::size_t k = std::min(n, bytes_.size() - pos_);
      if (k) std::memcpy(out, bytes_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    std::size_t got = 0;
    while (got < n && !ended_) {
      z_.next_out = out + got;
      z_.avail_out = static_cast<uInt>(std::min<std::size_t>(n - got, 1u << 30));
      if (z_.avail_in == 0 && fed_ < bytes_.size()) {  // files over 4 GiB: feed the rest
        z_.avail_in = static_cast<uInt>(std::min<std::size_t>(bytes_.size() - fed_, std::numeric_limits<uInt>::max()));
        fed_ += z_.avail_in;
      }
      const uInt before = z_.avail_out;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      got += before - z_.avail_out;
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_BUF_ERROR && z_.avail_in == 0) {
        throw_io(idx_component, path_, "gzip data is truncated");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        throw_io(idx_component, path_, "gzip data is corrupt: ", z_.msg ? z_.msg : "inflate error");
      }
    }
    return got;
  }
  /// Whether the file is a gzip stream, and its size in bytes (compressed).
  bool compressed() const noexcept { return gz_; }
  std::size_t size() const noexcept { return bytes_.size(); }
  /// True when no byte is left.
  bool at_end() {
    unsigned char c;
    return read(&c, 1) == 0;
  }

 private:
  std::vector<unsigned char> bytes_;
  std::filesystem::path path_;
  bool gz_;
  z_stream z_{};
  std::size_t pos_ = 0, fed_ = 0;
  bool ended_ = false;
};

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

/// Largest payload read_idx accepts unless told otherwise: 512 MiB, ten times the full
/// Fashion-MNIST training set (47 MB).
inline constexpr std::uint64_t idx_max_bytes = std::uint64_t{512} << 20;

/// Decodes the bytes of an unsigned-byte IDX file (magic 0x00 0x00 0x08 <rank>), gzipped or
/// not; `path` names the source in errors. A wrong magic, a non-byte type, dims whose product
/// overflows or exceeds `max_bytes`, or data of another size than the dims give is an
/// io_error. A gzip stream is inflated only as far as its header says, and dims no stream of
/// its size could fill are refused before anything is allocated, so a small .gz cannot make it
/// inflate or allocate gigabytes.
inline idx_array decode_idx(std::vector<unsigned char> bytes, const std::filesystem::path& path = "<memory>",
                            std::uint64_t max_bytes = idx_max_bytes) {
  detail::idx_source src(std::move(bytes), path);
  unsigned char head[4];
  if (src.read(head, 4) < 4 || head[0] != 0 || head[1] != 0)
    throw_io(detail::idx_component, path, "not an IDX file (bad magic)");
  if (head[2] != 0x08) throw_io(detail::idx_component, path, "IDX type 0x", std::hex, int{head[2]}, " is not unsigned byte");
  const int rank = head[3];
  std::vector<unsigned char> dims(4 * static_cast<std::size_t>(rank));
  if (rank < 1 || src.read(dims.data(), dims.size()) < dims.size())
    throw_io(detail::idx_component, path, "IDX header truncated (rank ", rank, ")");
  idx_array a;
  std::uint64_t count = 1;
  bool fits = true;
  for (int d = 0; d < rank; ++d) {
    const unsigned char* p = dims.data() + 4 * d;
    const std::uint64_t extent = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) | (std::uint64_t{p[2]} << 8) | p[3];
    a.dims.push_back(static_cast<std::int64_t>(extent));
    fits = fits && wsss::detail::checked_mul(count, extent, count);
  }
  if (!fits || count > max_bytes)
    throw_io(detail::idx_component, path, "IDX dims ", wsss::detail::dims_string(a.dims), " exceed the ", max_bytes,
             "-byte limit");
  // Deflate expands at most about 1032:1, so dims no stream of this size could fill are refused
  // before anything is allocated; the data then grow as they arrive, never beyond the dims.
  if (src.compressed() && static_cast<double>(count) > 1100.0 * static_cast<double>(src.size()) + 4096)
    throw_io(detail::idx_component, path, "IDX dims ", wsss::detail::dims_string(a.dims), " claim ", count,
             " bytes, more than a ", src.size(), "-byte gzip stream can hold");
  std::uint64_t got = 0;
  for (bool more = true; more && got < count;) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(count - got, std::uint64_t{1} << 22));
    a.data.resize(static_cast<std::size_t>(got) + chunk);
    const std::size_t n = src.read(a.data.data() + got, chunk);
    more = n == chunk;
    got += n;
  }
  a.data.resize(static_cast<std::size_t>(got));
  if (got != count)
    throw_io(detail::idx_component, path, "IDX dims need ", count, " bytes of data, file has ", got);
  if (!src.at_end()) throw_io(detail::idx_component, path, "IDX file has data beyond the ", count, " bytes its dims need");
  return a;
}

/// Reads an IDX file (see decode_idx).
inline idx_array read_idx(const std::filesystem::path& path, std::uint64_t max_bytes = idx_max_bytes) {
  return decode_idx(io::detail::read_bytes(path, detail::idx_component), path, max_bytes);
}

/// Writes an unsigned-byte IDX file, gzipped (deterministic bytes: no time stamp), atomically.
inline void write_idx_gz(const std::filesystem::path& path, const idx_array& a) {
  std::uint64_t count = 1;
  bool fits = true;
  for (auto d : a.dims)
    fits = fits && d >= 0 && d <= 0xFFFFFFFF && wsss::detail::checked_mul(count, static_cast<std::uint64_t>(d), count);
  if (!fits || a.dims.empty() || a.dims.size() > 255 || count != a.data.size())
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
