// SPDX-License-Identifier: MIT
// tag_baseline — the comparison row of the main job: a colour heuristic that uses the image
// tags only (examples/baseline/tag_baseline.hpp). It is tuned to how the scenes dataset is
// drawn (two-colour backgrounds, uniformly coloured items), so it says how hard the data is,
// not what a learned method should reach elsewhere.
//
//   tag_baseline DATA [OUT]      (DATA: a scenes folder from `wsss scenes`; OUT: label PNGs)
//
// Prints the per-class IoU and mIoU of its labels on train (pseudo-labels) and val.
#include <cstdio>
#include <filesystem>
#include <string>

#include "baseline/tag_baseline.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/eval/folder.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: tag_baseline DATA [OUT]\n");
    return argc == 2 ? 0 : 2;
  }
  try {
    const std::filesystem::path root = argv[1], out = argc == 3 ? argv[2] : root / "tag_baseline";
    const int classes = wsss::data::scenes_num_classes;
    const auto names = wsss::data::scenes_class_names();
    // The heuristic sees images and their tags, never a mask.
    baseline::tag_baseline model(classes);
    const wsss::io::voc_dataset train(root, "train", {.num_classes = classes, .labels_file = "cls_labels.txt"});
    for (std::size_t i = 0; i < train.size(); ++i) model.fit(train.image(i), train.tags(i));
    for (const char* split : {"train", "val"}) {
      const wsss::io::voc_dataset d(root, split, {.num_classes = classes, .labels_file = "cls_labels.txt"});
      std::filesystem::create_directories(out / split);
      for (std::size_t i = 0; i < d.size(); ++i)
        wsss::io::write_label_png(out / split / (d.id(i) + ".png"), model.predict(d.image(i), d.tags(i)));
      const auto m = wsss::eval::evaluate_folder(out / split, root, split, classes);
      std::printf("tag-only colour heuristic, %s (tags given):\n%s\n", split, m.table(names).c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tag_baseline: %s\n", e.what());
    return 1;
  }
}
