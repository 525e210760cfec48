// SPDX-License-Identifier: MIT
// tests/io/mutation.test.cpp — randomly damaged files: every reader either succeeds or throws
// wsss::io_error (never another exception, a crash or a hang); run under ASan/UBSan in CI
#include <doctest/doctest.h>

#include <functional>
#include <span>

#include "io/temp_dir.hpp"
#include "wsss/core/random.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/safetensors.hpp"

namespace {

using decoder = std::function<void(std::span<const unsigned char>)>;

// Applies `trials` random edits (byte flips, truncations) to `original` and decodes each.
void mutate_and_load(const std::vector<unsigned char>& original, const decoder& load, std::uint64_t seed, int trials) {
  wsss::rng g(seed);
  INFO("seed " << seed);
  int failures = 0;
  for (int t = 0; t < trials; ++t) {
    auto bytes = original;
    const int kind = static_cast<int>(g.below(3));
    if (kind == 0) {
      bytes.resize(g.below(bytes.size()));
    } else {
      const int edits = 1 + static_cast<int>(g.below(4));
      for (int e = 0; e < edits; ++e)
        bytes[g.below(bytes.size())] = kind == 1 ? static_cast<unsigned char>(g.below(256)) : static_cast<unsigned char>(bytes[g.below(bytes.size())] ^ 0x80);
    }
    try {
      load(bytes);
    } catch (const wsss::io_error&) {
      ++failures;
    }
  }
  CHECK(failures > 0);  // the edits did reach the parsers
}

}  // namespace

TEST_CASE("io readers survive random damage with io_error only") {
  const auto data = std::filesystem::path(WSSS_TEST_DATA_DIR) / "io";
  mutate_and_load(wsss_test::read_bytes(data / "reference.safetensors"),
                  [](auto b) { wsss::io::decode_safetensors(b); }, 1, 300);
  mutate_and_load(wsss_test::read_bytes(data / "palette8.png"), [](auto b) { wsss::io::decode_png(b); }, 2, 300);
  mutate_and_load(wsss_test::read_bytes(data / "palette4.png"), [](auto b) { wsss::io::decode_label_png(b); }, 3, 300);

  wsss_test::temp_dir dir;
  wsss::rgb_image img(16, 16);
  for (wsss::index_t i = 0; i < 16 * 16 * 3; ++i) img.data()[i] = static_cast<std::uint8_t>(i * 7);
  wsss::io::write_jpeg(dir / "a.jpg", img, 80);
  mutate_and_load(wsss_test::read_bytes(dir / "a.jpg"), [](auto b) { wsss::io::decode_jpeg(b); }, 4, 300);
}
