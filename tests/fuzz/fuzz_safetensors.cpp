// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_safetensors.cpp — libFuzzer driver: whole safetensors files (length field,
// JSON header, data buffer) through decode_safetensors; every tensor must come back with the
// element count its shape gives. Anything but success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "wsss/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    for (const auto& [name, t] : wsss::io::decode_safetensors(std::span<const unsigned char>(data, size)))
      if (t.numel() != t.shape().numel() || (t.numel() > 0 && t.data() == nullptr)) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  return 0;
}
