// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_voc.cpp — libFuzzer driver: the text of a VOC split list and of an
// image-level labels file. Every id a split list yields must be a plain file name (no way out
// of the dataset root); anything but success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wsss/io/voc.hpp"

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
  return 0;
}
