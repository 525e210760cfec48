// SPDX-License-Identifier: MIT
// tests/support/label_folders.hpp — how many pixels two folders of label PNGs disagree on
// (a run's labels against the same labels made on another backend)
#pragma once

#include <cstddef>
#include <filesystem>

#include <doctest/doctest.h>

#include "wsss/io/label_png.hpp"

namespace wsss_test {

struct label_difference {
  std::size_t differ = 0, pixels = 0;
};

/// Compares every PNG of `want` with the file of the same name in `got` (which must exist and
/// have the same size).
inline label_difference compare_label_folders(const std::filesystem::path& want, const std::filesystem::path& got) {
  label_difference d;
  for (const auto& f : std::filesystem::directory_iterator(want)) {
    const auto a = wsss::io::read_label_png(f.path());
    const auto b = wsss::io::read_label_png(got / f.path().filename());
    REQUIRE(a.pixels() == b.pixels());
    for (wsss::index_t p = 0; p < a.pixels(); ++p) d.differ += a[p] != b[p];
    d.pixels += static_cast<std::size_t>(a.pixels());
  }
  return d;
}

}  // namespace wsss_test
