// SPDX-License-Identifier: MIT
// wsss/core/error.hpp — the error hierarchy; every message starts with a stable tag
// such as "[wsss.shape] component: ..." and names the values seen.
#pragma once

#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace wsss {

/// Base of every exception wsss throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A tensor or image had the wrong rank, extent or size relative to another input.
class shape_error : public error {
 public:
  using error::error;
};

/// A value was out of range: a negative width, a non-finite score, a class id >= C.
class value_error : public error {
 public:
  using error::error;
};

/// A file could not be read or written, or its content was malformed. Carries the path.
class io_error : public error {
 public:
  io_error(const std::string& what, std::filesystem::path path)
      : error(what), path_(std::move(path)) {}
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

/// A compute backend failed (CUDA error string, OpenCL build log).
class backend_error : public error {
 public:
  backend_error(const std::string& what, std::string log = {})
      : error(what), log_(std::move(log)) {}
  const std::string& log() const noexcept { return log_; }

 private:
  std::string log_;
};

namespace detail {

/// Concatenates any streamable values into one string.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

/// Extents joined by 'x' ("2x3x5"), for messages about sizes that may not form a valid shape.
template <class Range>
std::string dims_string(const Range& extents) {
  std::ostringstream os;
  bool first = true;
  for (const auto& e : extents) {
    os << (first ? "" : "x") << e;
    first = false;
  }
  return os.str();
}

template <class E, class... Args>
[[noreturn]] void raise(std::string_view tag, std::string_view component, const Args&... args) {
  throw E(cat("[wsss.", tag, "] ", component, ": ", args...));
}

}  // namespace detail

/// Throws shape_error "[wsss.shape] component: <args...>".
template <class... Args>
[[noreturn]] void throw_shape(std::string_view component, const Args&... args) {
  detail::raise<shape_error>("shape", component, args...);
}

/// Throws value_error "[wsss.value] component: <args...>".
template <class... Args>
[[noreturn]] void throw_value(std::string_view component, const Args&... args) {
  detail::raise<value_error>("value", component, args...);
}

/// Throws io_error "[wsss.io] component: <args...> (path)" carrying the path.
template <class... Args>
[[noreturn]] void throw_io(std::string_view component, const std::filesystem::path& path,
                           const Args&... args) {
  throw io_error(detail::cat("[wsss.io] ", component, ": ", args..., " (", path.string(), ")"),
                 path);
}

/// Throws value_error unless cond holds; the arguments are formatted only on failure.
template <class... Args>
void require(bool cond, std::string_view component, const Args&... args) {
  if (!cond) throw_value(component, args...);
}

}  // namespace wsss
