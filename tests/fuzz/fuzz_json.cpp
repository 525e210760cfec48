// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_json.cpp — libFuzzer driver for the JSON the library reads: the input is a
// safetensors header (framed with a correct length and a 64-byte data buffer, so every input
// reaches the JSON parser and the header checks) and, as is, a results.json. Anything but
// success or wsss::io_error is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/io/safetensors.hpp"
#include "wsss/report/results.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<unsigned char> file;
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(size) >> (8 * i)));
  file.insert(file.end(), data, data + size);
  file.resize(file.size() + 64, 0);
  try {
    wsss::io::decode_safetensors(file);
  } catch (const wsss::io_error&) {
  }
  try {
    wsss::report::parse_results(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const wsss::io_error&) {
  }
  return 0;
}
