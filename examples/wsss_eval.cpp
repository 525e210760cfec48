// SPDX-License-Identifier: MIT
// wsss_eval — scores a folder of predicted label PNGs against a VOC-layout split: per-class
// IoU, mIoU (VOC convention), pixel and mean accuracy.
//
//   wsss_eval PRED_DIR VOC_ROOT [--split val] [--classes N]
//
// PRED_DIR holds <id>.png for every id of VOC_ROOT/ImageSets/Segmentation/<split>.txt (palette
// or 8-bit gray PNGs; value = class id). Class names come from VOC_ROOT/classes.txt when it
// exists (one per line; its line count is also the default N), else the PASCAL VOC names when N
// is 21, else the class ids. N defaults to 21 without classes.txt.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "wsss/eval/folder.hpp"
#include "wsss/io/voc.hpp"

namespace {

using wsss_cli::usage_error;

constexpr const char* usage =
    "usage: wsss_eval PRED_DIR VOC_ROOT [--split val] [--classes N]\n"
    "  evaluates PRED_DIR/<id>.png against VOC_ROOT/SegmentationClass/<id>.png for the ids of the split\n";

// The lines of VOC_ROOT/classes.txt (empty when the file does not exist).
std::vector<std::string> names_file(const std::filesystem::path& root) {
  std::vector<std::string> names;
  if (std::ifstream in(root / "classes.txt"); in)
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) names.push_back(line);
  return names;
}

int run(int argc, char** argv) {
  std::vector<std::string_view> positional;
  std::string split = "val";
  int classes = 0;  // 0: the line count of classes.txt, else 21
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (a == "--split" || a == "--classes") {
      const std::string_view v = wsss_cli::flag_value(argc, argv, i);
      if (a == "--split")
        split = v;
      else
        classes = static_cast<int>(wsss_cli::parse_int(a, v, 2, 255));
    } else if (!a.empty() && a[0] == '-') {
      throw usage_error{"unknown option '" + std::string(a) + "'"};
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) throw usage_error{"expected PRED_DIR and VOC_ROOT"};
  const std::filesystem::path pred(positional[0]), root(positional[1]);
  auto names = names_file(root);
  if (classes == 0) classes = names.empty() ? 21 : static_cast<int>(names.size());
  if (names.size() != static_cast<std::size_t>(classes))
    names = classes == 21 ? wsss::io::voc_class_names() : std::vector<std::string>{};
  const auto m = wsss::eval::evaluate_folder(pred, root, split, classes);
  std::printf("%s split '%s', %d classes: %s\n%s", root.string().c_str(), split.c_str(), classes,
              pred.string().c_str(), m.table(names).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return wsss_cli::guarded_main("wsss_eval", usage, argc, argv, run); }
