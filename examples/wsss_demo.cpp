// SPDX-License-Identifier: MIT
// wsss_demo — builds the scenes dataset (VOC layout, from the embedded Fashion-MNIST subset)
// and evaluates the tag-only baseline on it: per-class IoU and mIoU of its pseudo labels on
// train and of its predictions on val (both given the image tags, the weak labels).
//
//   wsss_demo [OUT_DIR] [--train N] [--val N] [--size S] [--seed S] [--full]
//
// OUT_DIR defaults to ./wsss-scenes. --full draws items from Debian's complete Fashion-MNIST
// (package dataset-fashion-mnist) instead of the embedded subset.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "cli.hpp"
#include "scenes_cli.hpp"
#include "wsss/data/baseline.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/eval/folder.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"

namespace {

using wsss_cli::parse_int;
using wsss_cli::usage_error;

constexpr const char* usage =
    "usage: wsss_demo [OUT_DIR] [--train N] [--val N] [--size S] [--seed S] [--full]\n"
    "  builds the scenes dataset in OUT_DIR (default ./wsss-scenes) and evaluates the tag-only baseline\n";

// Predicts every image of a split with the baseline, writes the label PNGs, evaluates them.
wsss::eval::confusion_matrix run_split(const wsss::data::tag_baseline& model, const std::filesystem::path& root,
                                       const std::string& split) {
  const wsss::io::voc_dataset data(root, split, {.num_classes = wsss::data::scenes_num_classes,
                                                 .labels_file = "cls_labels.txt"});
  const auto out = root / "baseline" / split;
  std::filesystem::create_directories(out);
  for (std::size_t i = 0; i < data.size(); ++i)
    wsss::io::write_label_png(out / (data.id(i) + ".png"), model.predict(data.image(i), data.tags(i)));
  return wsss::eval::evaluate_folder(out, root, split, wsss::data::scenes_num_classes);
}

int run(int argc, char** argv) {
  std::filesystem::path root = "wsss-scenes";
  auto opt = wsss_cli::embedded_scenes_options();
  bool root_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&] { return wsss_cli::flag_value(argc, argv, i); };
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (wsss_cli::apply_scenes_flag(a, value, opt)) {
    } else if (!a.empty() && a[0] != '-' && !root_given) {
      root = a;
      root_given = true;
    } else {
      throw usage_error{"unexpected argument '" + std::string(a) + "'"};
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  const auto sum = wsss::data::make_scenes(root, opt);
  const auto names = wsss::data::scenes_class_names();
  std::printf("scenes dataset: %zu train + %zu val images of %dx%d in %s (%zu Fashion-MNIST items)\n",
              sum.train_images, sum.val_images, opt.scene.size, opt.scene.size, root.string().c_str(), sum.items);
  std::printf("objects per class:");
  for (int c = 1; c < wsss::data::scenes_num_classes; ++c) std::printf(" %s %zu%s", names[static_cast<std::size_t>(c)].c_str(),
                                                                         sum.objects_per_class[static_cast<std::size_t>(c)],
                                                                         c + 1 < wsss::data::scenes_num_classes ? "," : "\n");

  // Weak supervision only: the baseline sees images and their tags, never the masks.
  wsss::data::tag_baseline model(wsss::data::scenes_num_classes);
  const wsss::io::voc_dataset train(root, "train", {.num_classes = wsss::data::scenes_num_classes,
                                                    .labels_file = "cls_labels.txt"});
  std::size_t used = 0;
  for (std::size_t i = 0; i < train.size(); ++i) used += model.fit(train.image(i), train.tags(i));
  std::printf("baseline: border-colour foreground, shape prototypes from %zu single-tag train images\n\n", used);

  for (const char* split : {"train", "val"}) {
    const auto m = run_split(model, root, split);
    std::printf("== %s (%s), predictions in %s\n%s\n", split,
                std::string_view(split) == "train" ? "pseudo labels" : "tags given", (root / "baseline" / split).string().c_str(),
                m.table(names).c_str());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("done in %.1f s\n", secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return wsss_cli::guarded_main("wsss_demo", usage, argc, argv, run); }
