// SPDX-License-Identifier: MIT
// embedded_data.hpp — where the embedded Fashion-MNIST subset lives (installed beside the
// binary, or in the source tree) and the bounds of the dataset flags; no CLI11, so the
// hand-parsed examples share it too.
#pragma once

#include <filesystem>
#include <system_error>

#include "wsss/data/scenes.hpp"

namespace wsss_cli {

// Bounds of the dataset flags (--train, --val, --size, --seed, --objects).
inline constexpr int max_split_images = 1000000;
inline constexpr long long max_seed = 1LL << 62;
inline constexpr int min_scene_size = 32;
inline constexpr int max_scene_size = 4096;
inline constexpr int max_scene_objects = 20;

// The folder of the embedded subset: <prefix>/share/wsss/data for an installed binary
// (<prefix>/bin/wsss), else examples/data of the source tree it was built from.
inline std::filesystem::path embedded_data_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "wsss" / "data";
    if (std::filesystem::exists(wsss::data::embedded_fashion_subset(installed).images, ec)) return installed;
  }
  return std::filesystem::path(WSSS_EXAMPLES_DIR) / "data";
}

// Scene options drawing items from the embedded subset.
inline wsss::data::scenes_options embedded_scenes_options() {
  wsss::data::scenes_options opt;
  opt.items = wsss::data::embedded_fashion_subset(embedded_data_dir());
  return opt;
}

}  // namespace wsss_cli
