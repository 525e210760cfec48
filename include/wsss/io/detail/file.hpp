// SPDX-License-Identifier: MIT
// wsss/io/detail/file.hpp — whole-file reads that fail with io_error naming the path
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#include "wsss/core/error.hpp"

namespace wsss::io::detail {

/// Closes a FILE* on scope exit.
struct file_closer {
  void operator()(std::FILE* f) const noexcept {
    if (f) std::fclose(f);
  }
};

/// Opens `path` for binary reading or throws io_error "<component>: cannot open ...".
inline std::FILE* open_for_reading(const std::filesystem::path& path, std::string_view component) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw_io(component, path, "file not found");
  if (std::filesystem::is_directory(path, ec)) throw_io(component, path, "is a folder, not a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw_io(component, path, "cannot open: ", std::strerror(errno));
  return f;
}

/// Size in bytes of an open regular file.
inline std::uint64_t file_size(std::FILE* f, const std::filesystem::path& path, std::string_view component) {
  struct stat st {};
  if (::fstat(::fileno(f), &st) != 0) throw_io(component, path, "cannot stat: ", std::strerror(errno));
  return static_cast<std::uint64_t>(st.st_size);
}

/// The whole content of `path`, read in one pass into a buffer of the file's size.
inline std::vector<unsigned char> read_bytes(const std::filesystem::path& path, std::string_view component) {
  std::unique_ptr<std::FILE, file_closer> f(open_for_reading(path, component));
  std::vector<unsigned char> out(static_cast<std::size_t>(file_size(f.get(), path, component)));
  const std::size_t n = out.empty() ? 0 : std::fread(out.data(), 1, out.size(), f.get());
  if (n != out.size()) throw_io(component, path, "read failed: got ", n, " of ", out.size(), " bytes");
  return out;
}

}  // namespace wsss::io::detail
