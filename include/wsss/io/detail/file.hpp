// SPDX-License-Identifier: MIT
// wsss/io/detail/file.hpp — whole-file reads that fail with io_error naming the path
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

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

/// The whole content of `path`.
inline std::vector<unsigned char> read_bytes(const std::filesystem::path& path, std::string_view component) {
  std::unique_ptr<std::FILE, file_closer> f(open_for_reading(path, component));
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
    out.insert(out.end(), buf, buf + n);
    if (n < sizeof buf) {
      if (std::ferror(f.get())) throw_io(component, path, "read failed");
      break;
    }
  }
  return out;
}

}  // namespace wsss::io::detail
