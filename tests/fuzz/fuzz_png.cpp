// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_png.cpp — libFuzzer driver: PNG bytes through the RGB decoder and the label
// (palette / 8-bit gray) decoder. Anything but success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "wsss/io/label_png.hpp"
#include "wsss/io/png.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> bytes(data, size);
  try {
    const auto img = wsss::io::decode_png(bytes);
    if (img.height() < 1 || img.width() < 1) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  try {
    const auto labels = wsss::io::decode_label_png(bytes);
    if (labels.pixels() < 1) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  return 0;
}
