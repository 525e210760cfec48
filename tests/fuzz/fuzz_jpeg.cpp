// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_jpeg.cpp — libFuzzer driver: JPEG bytes through the RGB decoder (corrupt
// data, size budget, scan limit). Anything but success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "wsss/io/jpeg.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto img = wsss::io::decode_jpeg(std::span<const unsigned char>(data, size));
    if (img.height() < 1 || img.width() < 1) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  return 0;
}
