// SPDX-License-Identifier: MIT
// tests/dataset/small_scenes.hpp — options of a tiny scenes dataset (4 + 2 images of 64x64 from
// the embedded Fashion-MNIST subset), for the generator's tests
#pragma once

#include <cstdint>
#include <filesystem>

#include "wsss/data/scenes.hpp"

namespace wsss_test {

inline wsss::data::scenes_options small_options(std::uint64_t seed) {
  wsss::data::scenes_options o;
  o.items = wsss::data::embedded_fashion_subset(std::filesystem::path(WSSS_SOURCE_DIR) / "examples" / "data");
  o.train_images = 4;
  o.val_images = 2;
  o.seed = seed;
  o.scene.size = 64;
  return o;
}

}  // namespace wsss_test
