// SPDX-License-Identifier: MIT
// scenes_flags.hpp — the dataset flags of `wsss scenes` (--train, --val, --size, --seed,
// --objects, --full, --test-items), for any subcommand that makes a scenes dataset.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "embedded_data.hpp"
#include "wsss/data/scenes.hpp"

namespace wsss_cli {

// Adds the dataset flags to `cmd`; parsing writes them into *opt (which starts from the
// caller's defaults, e.g. embedded_scenes_options()). Returns the options added, so a caller
// can make other options exclude them.
inline std::vector<CLI::Option*> add_scenes_flags(CLI::App& cmd, const std::shared_ptr<wsss::data::scenes_options>& opt) {
  std::vector<CLI::Option*> added;
  added.push_back(cmd.add_option("--train", opt->train_images, "train images")
                      ->type_name("N")
                      ->check(CLI::Range(1, max_split_images))
                      ->capture_default_str());
  added.push_back(
      cmd.add_option("--val", opt->val_images, "val images")
          ->type_name("N")
          ->check(CLI::Range(1, max_split_images))
          ->capture_default_str());
  added.push_back(cmd.add_option("--size", opt->scene.size, "image side in pixels (square images)")
                      ->type_name("S")
                      ->check(CLI::Range(min_scene_size, max_scene_size))
                      ->capture_default_str());
  added.push_back(cmd.add_option("--seed", opt->seed, "random seed (same seed, same files)")
                      ->type_name("S")
                      ->check(CLI::Range(0LL, max_seed))
                      ->capture_default_str());
  added.push_back(cmd.add_option_function<std::vector<int>>(
                         "--objects",
                         [opt](const std::vector<int>& v) {
                           if (v[0] > v[1])
                             throw CLI::ValidationError("--objects", "MIN " + std::to_string(v[0]) +
                                                                         " is above MAX " + std::to_string(v[1]));
                           opt->scene.min_objects = v[0];
                           opt->scene.max_objects = v[1];
                         },
                         "MIN MAX objects tried per image (default " + std::to_string(opt->scene.min_objects) + " " +
                             std::to_string(opt->scene.max_objects) + ")")
                      ->expected(2)
                      ->type_name("MIN MAX")
                      ->check(CLI::Range(1, max_scene_objects)));
  CLI::Option* full = cmd.add_flag_callback(
      "--full", [opt] { opt->items = wsss::data::debian_fashion_mnist("train"); },
      "draw items from Debian's full Fashion-MNIST (dataset-fashion-mnist) instead of the embedded subset");
  added.push_back(full);
  added.push_back(cmd.add_flag_callback(
                         "--test-items", [opt] { opt->items = wsss::data::debian_fashion_mnist("t10k"); },
                         "draw items from Debian's Fashion-MNIST test set (t10k), none of which is in the embedded "
                         "subset (the stand-in for ImageNet of `wsss pretrain`)")
                      ->excludes(full));
  return added;
}

}  // namespace wsss_cli
