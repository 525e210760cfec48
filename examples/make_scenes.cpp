// SPDX-License-Identifier: MIT
// make_scenes — writes a scenes dataset (VOC layout) with chosen sizes, or regenerates the
// embedded Fashion-MNIST subset in examples/data from Debian's full data.
//
//   make_scenes OUT_DIR [--train N] [--val N] [--size S] [--seed S] [--objects MIN MAX] [--full]
//   make_scenes --make-subset PER_CLASS OUT_DATA_DIR
//
// The embedded subset was made with `make_scenes --make-subset 150 examples/data` (the first 150
// items of each class of Debian's train-*-ubyte.gz).
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "cli.hpp"
#include "scenes_cli.hpp"
#include "wsss/data/idx.hpp"
#include "wsss/data/scenes.hpp"

namespace {

using wsss_cli::parse_int;
using wsss_cli::usage_error;

constexpr const char* usage =
    "usage: make_scenes OUT_DIR [--train N] [--val N] [--size S] [--seed S] [--objects MIN MAX] [--full]\n"
    "       make_scenes --make-subset PER_CLASS OUT_DATA_DIR\n";

int run(int argc, char** argv) {
  namespace wd = wsss::data;
  if (argc == 4 && std::string_view(argv[1]) == "--make-subset") {
    const auto per_class = static_cast<std::size_t>(parse_int("--make-subset", argv[2], 1, 6000));
    const auto src = wd::debian_fashion_mnist("train");
    const auto sub = wd::fashion_subset(wd::read_fashion_items(src.images, src.labels), per_class);
    std::filesystem::create_directories(argv[3]);
    const auto dst = wd::embedded_fashion_subset(argv[3]);
    wd::write_fashion_items(sub, dst.images, dst.labels);
    std::printf("wrote %zu items to %s and %s\n", sub.size(), dst.images.string().c_str(), dst.labels.string().c_str());
    return 0;
  }
  auto opt = wsss_cli::embedded_scenes_options();
  std::filesystem::path root;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&] { return wsss_cli::flag_value(argc, argv, i); };
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (wsss_cli::apply_scenes_flag(a, value, opt)) {
    } else if (a == "--objects") {
      opt.scene.min_objects = static_cast<int>(parse_int(a, value(), 1, 20));
      opt.scene.max_objects = static_cast<int>(parse_int(a, value(), opt.scene.min_objects, 20));
    } else if (!a.empty() && a[0] != '-' && root.empty()) {
      root = a;
    } else {
      throw usage_error{"unexpected argument '" + std::string(a) + "'"};
    }
  }
  if (root.empty()) throw usage_error{"expected OUT_DIR"};
  const auto sum = wd::make_scenes(root, opt);
  std::printf("wrote %zu train + %zu val scenes of %dx%d to %s\n", sum.train_images, sum.val_images, opt.scene.size,
              opt.scene.size, root.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return wsss_cli::guarded_main("make_scenes", usage, argc, argv, run); }
