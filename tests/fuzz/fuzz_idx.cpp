// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_idx.cpp — libFuzzer driver: IDX files, plain or gzipped (with a 64 MiB cap,
// so a legitimate bomb within it stays under the fuzzer's memory limit). A decoded array must
// hold exactly the bytes its dims give; anything but success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "wsss/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto a = wsss::data::decode_idx(std::vector<unsigned char>(data, data + size), "<fuzz>", std::uint64_t{64} << 20);
    std::uint64_t n = 1;
    for (const auto d : a.dims) n *= static_cast<std::uint64_t>(d);
    if (n != a.data.size()) __builtin_trap();
  } catch (const wsss::io_error&) {
  }
  return 0;
}
