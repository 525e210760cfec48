// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_voc.cpp — libFuzzer driver: the text of a VOC split list, of an image-level
// labels file and of an Annotations/<id>.xml. Every id a split list yields must be a plain file
// name (no way out of the dataset root), every box inside its image with a named class;
// anything but success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/io/voc.hpp"
#include "wsss/io/voc_annotation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& id : wsss::io::parse_voc_split(text))
      if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  try {
    for (const auto& [id, tags] : wsss::io::parse_voc_labels(text, 21))
      for (const int c : tags)
        if (c < 1 || c > 20) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  try {
    static const std::vector<std::string> names{"background", "cat", "dog", "person"};
    const auto a = wsss::io::parse_voc_annotation(text, names);
    for (const auto& b : a.boxes)
      if (b.label < 1 || b.label > 3 || b.x0 < 0 || b.y0 < 0 || b.x0 >= b.x1 || b.y0 >= b.y1 || b.x1 > a.width ||
          b.y1 > a.height)
        __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  return 0;
}
