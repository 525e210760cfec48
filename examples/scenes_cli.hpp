// SPDX-License-Identifier: MIT
// scenes_cli.hpp — wsss_demo's hand-parsed dataset flags (--train, --val, --size, --seed,
// --full); the `wsss` command parses the same flags with CLI11 (wsss/scenes_flags.hpp). Goes
// when wsss_demo does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "cli.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/embedded_data.hpp"  // examples/wsss/embedded_data.hpp

namespace wsss_cli {

// Applies flag `a` to opt if it is a shared dataset flag (value() fetches its argument);
// false if it is not one of them.
template <class Value>
bool apply_scenes_flag(std::string_view a, Value&& value, wsss::data::scenes_options& opt) {
  if (a == "--train") {
    opt.train_images = static_cast<int>(parse_int(a, value(), 1, max_split_images));
  } else if (a == "--val") {
    opt.val_images = static_cast<int>(parse_int(a, value(), 1, max_split_images));
  } else if (a == "--size") {
    opt.scene.size = static_cast<int>(parse_int(a, value(), min_scene_size, max_scene_size));
  } else if (a == "--seed") {
    opt.seed = static_cast<std::uint64_t>(parse_int(a, value(), 0, max_seed));
  } else if (a == "--full") {
    opt.items = wsss::data::debian_fashion_mnist("train");
  } else {
    return false;
  }
  return true;
}

}  // namespace wsss_cli
