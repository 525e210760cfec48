// SPDX-License-Identifier: MIT
// wsss/io/safetensors.hpp — read and write tensors in the safetensors format (huggingface/
// safetensors: u64 LE header length, JSON header, one packed little-endian byte buffer)
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"
#include "wsss/io/detail/strict_json.hpp"

namespace wsss::io {

namespace detail {

enum class st_kind { floating, signed_int, unsigned_int, boolean, unsupported };

struct st_dtype {
  std::string_view name;
  int bytes;
  st_kind kind;
};

/// Every dtype the format defines; F8 types are recognised and refused.
inline const st_dtype* find_st_dtype(std::string_view name) noexcept {
  static constexpr st_dtype table[] = {
      {"F64", 8, st_kind::floating},      {"F32", 4, st_kind::floating},
      {"F16", 2, st_kind::floating},      {"BF16", 2, st_kind::floating},
      {"I64", 8, st_kind::signed_int},    {"I32", 4, st_kind::signed_int},
      {"I16", 2, st_kind::signed_int},    {"I8", 1, st_kind::signed_int},
      {"U64", 8, st_kind::unsigned_int},  {"U32", 4, st_kind::unsigned_int},
      {"U16", 2, st_kind::unsigned_int},  {"U8", 1, st_kind::unsigned_int},
      {"BOOL", 1, st_kind::boolean},      {"F8_E5M2", 1, st_kind::unsupported},
      {"F8_E4M3", 1, st_kind::unsupported}};
  for (const auto& d : table)
    if (d.name == name) return &d;
  return nullptr;
}

/// Little-endian unsigned integer of n <= 8 bytes.
inline std::uint64_t load_le(const unsigned char* p, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// IEEE 754 binary16 -> binary32, exact (subnormals, infinities and NaN included).
inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: value = mant * 2^-24; normalise into a float.
    int e = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      --e;
    }
    bits = sign | (static_cast<std::uint32_t>(e) << 23) | ((mant & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(bits);
}

/// One header entry, checked against the file.
struct st_entry {
  std::string name;
  const st_dtype* dtype = nullptr;
  wsss::shape shape;
  std::uint64_t begin = 0, end = 0;
};

struct st_header {
  std::map<std::string, std::string> metadata;
  std::vector<st_entry> entries;
  std::size_t data_start = 0;  // 8 + header length
};

inline constexpr std::string_view st_component = "io::safetensors";

/// The reference reader's limit on the header (it refuses longer ones before parsing).
inline constexpr std::uint64_t st_max_header = 100'000'000;

/// A non-negative integer of the header (0 .. 2^64-1); a negative number, a fraction, an
/// exponent or a non-number is an error naming the tensor and the field.
inline std::uint64_t st_nonneg_int(const json& v, const std::filesystem::path& path, const std::string& name,
                                   std::string_view field) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  throw_io(st_component, path, "tensor '", name, "': ", field, " must hold non-negative integers");
}

/// The header length field of a file of `file_size` bytes whose first bytes are `prefix`.
inline std::uint64_t st_header_length(std::span<const unsigned char> prefix, std::uint64_t file_size,
                                      const std::filesystem::path& path) {
  if (file_size < 8 || prefix.size() < 8)
    throw_io(st_component, path, "file has ", file_size, " bytes, too short for the 8-byte header length");
  const std::uint64_t n = load_le(prefix.data(), 8);
  if (n > file_size - 8)
    throw_io(st_component, path, "header length ", n, " exceeds the ", file_size - 8,
             " bytes after the length field (truncated file?)");
  if (n > st_max_header)
    throw_io(st_component, path, "header length ", n, " exceeds the format's limit of ", st_max_header, " bytes");
  return n;
}

/// Parses and validates the header: every check that does not need the tensor bytes.
/// `prefix` holds at least the file's first 8 + header-length bytes; the file has `file_size`.
/// The JSON goes through nlohmann/json (parse_json_strict: duplicate keys and nesting over 64
/// refused); the checks below are the format's.
inline st_header parse_st_header(std::span<const unsigned char> prefix, std::uint64_t file_size,
                                 const std::filesystem::path& path) {
  const std::uint64_t n = st_header_length(prefix, file_size, path);
  if (prefix.size() < 8 + n) throw_io(st_component, path, "header incomplete in memory");
  if (n == 0 || prefix[8] != '{') throw_io(st_component, path, "header does not start with '{'");
  const std::string_view text(reinterpret_cast<const char*>(prefix.data() + 8), static_cast<std::size_t>(n));
  const json root = parse_json_strict(text, st_component, path, "header");
  if (!root.is_object()) throw_io(st_component, path, "header is not a JSON object");

  st_header h;
  h.data_start = static_cast<std::size_t>(8 + n);
  const std::uint64_t buffer = file_size - h.data_start;
  h.entries.reserve(root.size());
  for (const auto& [name, v] : root.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw_io(st_component, path, "__metadata__ must be an object of strings");
      for (const auto& [k, mv] : v.items()) {
        if (!mv.is_string())
          throw_io(st_component, path, "__metadata__ value of '", k, "' is a ", json_kind(mv), ", not a string");
        h.metadata.emplace(k, mv.get<std::string>());
      }
      continue;
    }
    if (!v.is_object()) throw_io(st_component, path, "tensor '", name, "': entry is not an object");
    const auto dt = v.find("dtype");
    const auto sh = v.find("shape");
    const auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string())
      throw_io(st_component, path, "tensor '", name, "': missing string field dtype");
    if (sh == v.end() || !sh->is_array())
      throw_io(st_component, path, "tensor '", name, "': missing array field shape");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      throw_io(st_component, path, "tensor '", name, "': data_offsets must be an array [begin, end]");
    st_entry e;
    e.name = name;
    const auto& dtype = dt->get_ref<const std::string&>();
    e.dtype = find_st_dtype(dtype);
    if (!e.dtype) throw_io(st_component, path, "tensor '", name, "': unknown dtype '", dtype, "'");
    if (e.dtype->kind == st_kind::unsupported)
      throw_io(st_component, path, "tensor '", name, "': dtype ", dtype, " is not supported");
    if (sh->size() > static_cast<std::size_t>(wsss::shape::max_rank))
      throw_io(st_component, path, "tensor '", name, "': rank ", sh->size(), " exceeds ", wsss::shape::max_rank);
    // Extents are checked as unsigned 64-bit numbers before any becomes a shape: the product
    // of the non-zero ones times 16 bytes must fit (so every extent and byte count fits index_t).
    std::vector<std::uint64_t> extents;
    std::uint64_t count = 1, nonzero = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
      const std::uint64_t extent = st_nonneg_int(d, path, name, "shape");
      extents.push_back(extent);
      if (extent != 0 && !overflow) overflow = !wsss::detail::checked_mul(nonzero, extent, nonzero) ||
                                               nonzero > std::numeric_limits<std::uint64_t>::max() / 16;
      count *= extent;  // exact unless overflow (then refused below)
    }
    if (overflow)
      throw_io(st_component, path, "tensor '", name, "': shape ", wsss::detail::dims_string(extents), " is too large");
    for (const auto x : extents) e.shape.push_back(static_cast<index_t>(x));
    e.begin = st_nonneg_int((*off)[0], path, name, "data_offsets");
    e.end = st_nonneg_int((*off)[1], path, name, "data_offsets");
    if (e.begin > e.end || e.end > buffer)
      throw_io(st_component, path, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end,
               ") out of range of the ", buffer, "-byte data buffer");
    const std::uint64_t want = count * static_cast<std::uint64_t>(e.dtype->bytes);
    if (e.end - e.begin != want)
      throw_io(st_component, path, "tensor '", name, "': ", e.dtype->name, " shape ", e.shape, " needs ", want,
               " bytes, data_offsets span ", e.end - e.begin);
    h.entries.push_back(std::move(e));
  }

  // The format forbids overlaps and holes: sorted by offset, the tensors tile the buffer.
  std::vector<const st_entry*> order;
  order.reserve(h.entries.size());
  for (const auto& e : h.entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const st_entry* a, const st_entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t cursor = 0;
  const st_entry* prev = nullptr;
  for (const st_entry* e : order) {
    if (e->begin < cursor)
      throw_io(st_component, path, "tensor '", e->name, "' bytes [", e->begin, ", ", e->end, ") overlap tensor '",
               prev->name, "' [", prev->begin, ", ", prev->end, ")");
    if (e->begin > cursor)
      throw_io(st_component, path, "hole in the data buffer: bytes [", cursor, ", ", e->begin, ") belong to no tensor");
    cursor = e->end;
    prev = e;
  }
  if (cursor != buffer)
    throw_io(st_component, path, "data buffer has ", buffer - cursor, " trailing bytes after the last tensor (",
             buffer, " bytes, tensors cover ", cursor, ")");
  return h;
}

/// Converts one tensor's bytes to float; integers must be exactly representable. Integers are
/// compared and reported as integers (a double of a 64-bit value would round, and converting
/// it back would be undefined beyond the integer range).
inline tensor st_decode(const st_entry& e, const unsigned char* p, const std::filesystem::path& path) {
  tensor t = tensor::uninitialized(e.shape);
  const index_t n = e.shape.numel();
  const int b = e.dtype->bytes;
  const std::string_view dt = e.dtype->name;
  constexpr std::int64_t int_limit = std::int64_t{1} << 24;  // every integer up to 2^24 is exact in float
  if (dt == "F32") {
    if constexpr (std::endian::native == std::endian::little) {
      if (n) std::memcpy(t.data(), p, static_cast<std::size_t>(n) * 4);
    } else {
      for (index_t i = 0; i < n; ++i) t[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load_le(p + 4 * i, 4)));
    }
    return t;
  }
  const auto beyond = [&](const auto value, index_t i) {
    throw_io(st_component, path, "tensor '", e.name, "': ", dt, " value ", value, " at flat index ", i,
             " is beyond 2^24 and has no exact float");
  };
  for (index_t i = 0; i < n; ++i) {
    const std::uint64_t raw = load_le(p + b * i, b);
    if (dt == "F64") {
      const double v = std::bit_cast<double>(raw);
      if (std::isfinite(v) && std::abs(v) > std::numeric_limits<float>::max())
        throw_io(st_component, path, "tensor '", e.name, "': F64 value ", v, " at flat index ", i,
                 " is out of float range");
      t[i] = static_cast<float>(v);
    } else if (dt == "F16") {
      t[i] = half_to_float(static_cast<std::uint16_t>(raw));
    } else if (dt == "BF16") {
      t[i] = std::bit_cast<float>(static_cast<std::uint32_t>(raw << 16));
    } else if (e.dtype->kind == st_kind::signed_int) {
      const int shift = 64 - 8 * b;  // sign-extend the b-byte value (C++20: modular cast, arithmetic shift)
      const std::int64_t v = static_cast<std::int64_t>(raw << shift) >> shift;
      if (v > int_limit || v < -int_limit) beyond(v, i);
      t[i] = static_cast<float>(v);
    } else {  // unsigned and BOOL
      if (e.dtype->kind == st_kind::boolean && raw > 1)
        throw_io(st_component, path, "tensor '", e.name, "': BOOL byte ", raw, " at flat index ", i);
      if (raw > static_cast<std::uint64_t>(int_limit)) beyond(raw, i);
      t[i] = static_cast<float>(raw);
    }
  }
  return t;
}

}  // namespace detail

/// Decodes safetensors bytes (see load_safetensors); `path` only names the source in errors.
inline std::map<std::string, tensor> decode_safetensors(std::span<const unsigned char> bytes,
                                                        const std::filesystem::path& path = "<memory>") {
  const auto h = detail::parse_st_header(bytes, bytes.size(), path);
  std::map<std::string, tensor> out;
  for (const auto& e : h.entries)
    out.emplace(e.name, detail::st_decode(e, bytes.data() + h.data_start + e.begin, path));
  return out;
}

namespace detail {

/// Reads the header of an open file: its first 8 + n bytes, validated against the file size.
inline st_header read_st_header(std::FILE* f, std::uint64_t file_size, const std::filesystem::path& path) {
  std::vector<unsigned char> prefix(static_cast<std::size_t>(std::min<std::uint64_t>(file_size, 8)));
  if (std::fread(prefix.data(), 1, prefix.size(), f) != prefix.size()) throw_io(st_component, path, "read failed");
  const std::uint64_t n = st_header_length(prefix, file_size, path);
  prefix.resize(static_cast<std::size_t>(8 + n));
  if (std::fread(prefix.data() + 8, 1, static_cast<std::size_t>(n), f) != n) throw_io(st_component, path, "read failed");
  return parse_st_header(prefix, file_size, path);
}

}  // namespace detail

/// Reads every tensor of a safetensors file, converted to float:
/// F32 as is; F64 rounded (finite values beyond float range are an error); F16 and BF16
/// exactly; integer and BOOL dtypes exactly when |value| <= 2^24, else an error; F8 refused.
/// A malformed file (short or truncated header, bad JSON, unknown dtype, offsets out of range,
/// overlapping or leaving holes, byte counts that disagree with the shape) raises io_error
/// "[wsss.io] io::safetensors: <what> (<path>)". The whole header is validated before any
/// tensor is read; F32 data is read straight into the tensors.
inline std::map<std::string, tensor> load_safetensors(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, detail::file_closer> f(detail::open_for_reading(path, detail::st_component));
  const std::uint64_t size = detail::file_size(f.get(), path, detail::st_component);
  const auto h = detail::read_st_header(f.get(), size, path);
  std::map<std::string, tensor> out;
  std::vector<unsigned char> raw;
  for (const auto& e : h.entries) {
    const auto bytes = static_cast<std::size_t>(e.end - e.begin);
    if (std::fseek(f.get(), static_cast<long>(h.data_start + e.begin), SEEK_SET) != 0)
      throw_io(detail::st_component, path, "seek failed");
    if (e.dtype->name == "F32" && std::endian::native == std::endian::little) {
      tensor t = tensor::uninitialized(e.shape);
      if (bytes && std::fread(t.data(), 1, bytes, f.get()) != bytes)
        throw_io(detail::st_component, path, "tensor '", e.name, "': read failed (file changed while reading?)");
      out.emplace(e.name, std::move(t));
    } else {
      raw.resize(bytes);
      if (bytes && std::fread(raw.data(), 1, bytes, f.get()) != bytes)
        throw_io(detail::st_component, path, "tensor '", e.name, "': read failed (file changed while reading?)");
      out.emplace(e.name, detail::st_decode(e, raw.data(), path));
    }
  }
  return out;
}

/// The header's "__metadata__" string map (empty when absent); validates the whole header.
inline std::map<std::string, std::string> load_safetensors_metadata(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, detail::file_closer> f(detail::open_for_reading(path, detail::st_component));
  const std::uint64_t size = detail::file_size(f.get(), path, detail::st_component);
  return detail::read_st_header(f.get(), size, path).metadata;
}

/// Writes `tensors` as F32 (little-endian) in key order, with optional string metadata, padding
/// the header with spaces to a multiple of 8 bytes as the reference writer does. The file is
/// written atomically (atomic_file): a failure leaves any previous file untouched.
inline void save_safetensors(const std::filesystem::path& path, const std::map<std::string, tensor>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  const auto quote = [&](std::string_view s) { return detail::json_quote(s, detail::st_component, path); };
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      header += quote(k) + ':' + quote(v);
    }
    header += '}';
    first = false;
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw_io(detail::st_component, path, "'__metadata__' is reserved, not a tensor name");
    if (!first) header += ',';
    first = false;
    header += quote(name);
    header += ":{\"dtype\":\"F32\",\"shape\":[";
    for (int i = 0; i < t.rank(); ++i) {
      if (i) header += ',';
      header += std::to_string(t.dim(i));
    }
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * 4;
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');

  atomic_file f(path);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  f.write(len, 8);
  f.write(header);
  for (const auto& [name, t] : tensors) {
    if constexpr (std::endian::native == std::endian::little) {
      f.write(t.data(), static_cast<std::size_t>(t.numel()) * 4);
    } else {
      for (const float v : t) {
        const auto u = std::bit_cast<std::uint32_t>(v);
        const unsigned char le[4] = {static_cast<unsigned char>(u), static_cast<unsigned char>(u >> 8),
                                     static_cast<unsigned char>(u >> 16), static_cast<unsigned char>(u >> 24)};
        f.write(le, 4);
      }
    }
  }
  f.commit();
}

}  // namespace wsss::io
