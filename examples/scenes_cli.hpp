// SPDX-License-Identifier: MIT
// scenes_cli.hpp — the dataset flags wsss_demo and make_scenes share (--train, --val, --size,
// --seed, --full) and their default: items from the embedded Fashion-MNIST subset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "cli.hpp"
#include "wsss/data/scenes.hpp"

namespace wsss_cli {

// Scene options drawing items from examples/data (the embedded subset).
inline wsss::data::scenes_options embedded_scenes_options() {
  wsss::data::scenes_options opt;
  opt.items = wsss::data::embedded_fashion_subset(std::filesystem::path(WSSS_EXAMPLES_DIR) / "data");
  return opt;
}

// Applies flag `a` to opt if it is a shared dataset flag (value() fetches its argument);
// false if it is not one of them.
template <class Value>
bool apply_scenes_flag(std::string_view a, Value&& value, wsss::data::scenes_options& opt) {
  if (a == "--train") {
    opt.train_images = static_cast<int>(parse_int(a, value(), 1, 1000000));
  } else if (a == "--val") {
    opt.val_images = static_cast<int>(parse_int(a, value(), 1, 1000000));
  } else if (a == "--size") {
    opt.scene.size = static_cast<int>(parse_int(a, value(), 32, 4096));
  } else if (a == "--seed") {
    opt.seed = static_cast<std::uint64_t>(parse_int(a, value(), 0, 1LL << 62));
  } else if (a == "--full") {
    opt.items = wsss::data::debian_fashion_mnist("train");
  } else {
    return false;
  }
  return true;
}

}  // namespace wsss_cli
