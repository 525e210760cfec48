// SPDX-License-Identifier: MIT
// wsss/io/atomic_file.hpp — all-or-nothing file writes: a temp file in the target's folder,
// fsync, rename over the target, fsync the folder (POSIX rename is atomic within one file system)
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "wsss/core/error.hpp"

namespace wsss::io {

namespace detail {
/// fsyncs a folder, making renames in it durable; failure is not an error (some file systems
/// refuse).
inline void sync_folder(const std::filesystem::path& folder) noexcept {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace detail

/// A file being written. Data goes to `<target>.tmp.<pid>.<n>` beside the target; commit()
/// flushes, fsyncs and renames it over the target. If commit() is never reached (an exception,
/// an early return), the destructor removes the temp file, so the target is either the old
/// file or the complete new one, never a half-written one.
///
///   io::atomic_file f(path);
///   std::fwrite(buf, 1, n, f.stream());
///   f.commit();
class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path target) : target_(std::move(target)) {
    if (target_.empty()) throw_io("io::atomic_file", target_, "empty path");
    const auto folder = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec))
      throw_io("io::atomic_file", target_, "folder ", folder.string(), " does not exist");
    // open(O_EXCL, 0666) applies the process umask like any new file (mkstemp would force 0600).
    int fd = -1;
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
      const auto name = target_.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
      fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) temp_ = name;
      else if (errno != EEXIST) break;
    }
    if (fd < 0) throw_io("io::atomic_file", target_, "cannot create a temp file: ", std::strerror(errno));
    file_ = ::fdopen(fd, "wb");
    if (!file_) {
      ::close(fd);
      discard();
      throw_io("io::atomic_file", target_, "fdopen failed: ", std::strerror(errno));
    }
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() { discard(); }

  /// The stdio stream of the temp file (for libpng/libjpeg's FILE* interfaces).
  std::FILE* stream() const noexcept { return file_; }
  const std::filesystem::path& target() const noexcept { return target_; }

  /// Appends n bytes; throws io_error on a short write.
  void write(const void* data, std::size_t n) {
    if (!file_) throw_io("io::atomic_file", target_, "write after commit");
    if (n && std::fwrite(data, 1, n, file_) != n)
      throw_io("io::atomic_file", target_, "write failed: ", std::strerror(errno));
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  /// Flushes, fsyncs and renames the temp file over the target.
  void commit() {
    if (!file_) throw_io("io::atomic_file", target_, "commit called twice");
    if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
      const int e = errno;
      discard();
      throw_io("io::atomic_file", target_, "flush failed: ", std::strerror(e));
    }
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) {
      const int e = errno;
      discard();
      throw_io("io::atomic_file", target_, "close failed: ", std::strerror(e));
    }
    std::error_code ec;
    std::filesystem::rename(temp_, target_, ec);
    if (ec) {
      discard();
      throw_io("io::atomic_file", target_, "rename failed: ", ec.message());
    }
    temp_.clear();
    detail::sync_folder(target_.has_parent_path() ? target_.parent_path() : std::filesystem::path("."));
  }

 private:
  void discard() noexcept {
    if (file_) {
      std::fclose(file_);
      file_ = nullptr;
    }
    if (!temp_.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp_, ec);
      temp_.clear();
    }
  }
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
};

/// Writes `bytes` to `path` atomically (see atomic_file).
inline void write_file_atomic(const std::filesystem::path& path, std::span<const unsigned char> bytes) {
  atomic_file f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}
inline void write_file_atomic(const std::filesystem::path& path, std::string_view text) {
  atomic_file f(path);
  f.write(text);
  f.commit();
}

/// Whether `name` is an atomic_file temp name: "<target>.tmp.<pid>.<n>".
inline bool is_atomic_temp(std::string_view name) {
  const auto at = name.rfind(".tmp.");
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view rest = name.substr(at + 5);
  const auto dot = rest.find('.');
  const auto digits = [](std::string_view d) {
    return !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return dot != std::string_view::npos && digits(rest.substr(0, dot)) && digits(rest.substr(dot + 1));
}

/// Removes the temp files a killed writer left in `folder` (not recursive) and returns how many.
/// Only while nothing writes there: a live writer's temp file would go too.
inline std::size_t remove_stale_temps(const std::filesystem::path& folder) {
  std::error_code ec;
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec))
    if (e.is_regular_file(ec) && is_atomic_temp(e.path().filename().string()) && std::filesystem::remove(e.path(), ec)) ++n;
  return n;
}

}  // namespace wsss::io
