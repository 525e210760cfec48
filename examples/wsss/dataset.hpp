// SPDX-License-Identifier: MIT
// dataset.hpp — what the subcommands read from a VOC-layout folder besides images and masks:
// the class names of <root>/classes.txt, and the class count they imply.
#pragma once

#include <string>
#include <vector>

#include "wsss/io/voc.hpp"

namespace wsss_cli {

using wsss::io::dataset_class_names;  // <root>/classes.txt's names, none without the file
using wsss::io::read_class_names;     // a class-names file's non-empty lines

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
