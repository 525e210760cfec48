// SPDX-License-Identifier: MIT
// dataset.hpp — what the subcommands read from a VOC-layout folder besides images and masks:
// the class names of <root>/classes.txt, and the class count they imply.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/io/voc.hpp"

namespace wsss_cli {

// The non-empty lines of a class-names file (line k = class k); io_error if unreadable.
inline std::vector<std::string> read_class_names(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) wsss::throw_io("wsss class names", path, "file not found");
  std::ifstream in(path);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (in.bad()) wsss::throw_io("wsss class names", path, "read failed");
  return names;
}

// The names of <root>/classes.txt; empty when the dataset has none.
inline std::vector<std::string> dataset_class_names(const std::filesystem::path& root) {
  std::error_code ec;
  const auto file = root / "classes.txt";
  return std::filesystem::exists(file, ec) ? read_class_names(file) : std::vector<std::string>{};
}

// The class count: `given` when non-zero, else the number of names, else 21 (PASCAL VOC).
inline int class_count(int given, const std::vector<std::string>& names) {
  if (given) return given;
  return names.empty() ? 21 : static_cast<int>(names.size());
}

// Names for a table of `classes` classes: `names` when they fit, else the PASCAL VOC names
// for 21 classes, else none (the table then shows class ids).
inline std::vector<std::string> table_names(int classes, std::vector<std::string> names) {
  if (names.size() == static_cast<std::size_t>(classes)) return names;
  return classes == 21 ? wsss::io::voc_class_names() : std::vector<std::string>{};
}

}  // namespace wsss_cli
