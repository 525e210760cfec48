// SPDX-License-Identifier: MIT
// eval.cpp — `wsss eval --pred DIR --data DIR`: per-class IoU, mIoU (VOC convention), pixel
// and mean accuracy of a folder of predicted label PNGs against a split's masks.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <unistd.h>

#include "commands.hpp"
#include "dataset.hpp"
#include "methods.hpp"
#include "wsss/eval/folder.hpp"
#include "wsss/report/progress.hpp"

namespace wsss_cli {

namespace {

constexpr std::string_view component = "wsss eval";

// Scores <pred>/<id>.png against <root>/SegmentationClass/<id>.png for the ids of the split
// (eval::evaluate_folder: the split list and the masks only, no JPEGs), with a progress bar.
wsss::eval::confusion_matrix evaluate_masks(const std::filesystem::path& pred, const std::filesystem::path& root,
                                            const std::string& split, int classes) {
  // Evaluation is quick (VOC's 1449 val masks in about a second): a bar on a terminal, but
  // no ten lines of it in a log.
  std::optional<wsss::report::progress_bar> bar;
  const auto m = wsss::eval::evaluate_folder(pred, root, split, classes, [&](std::size_t, std::size_t total) {
    if (!bar) bar.emplace("eval " + split, total, stderr,
                          wsss::report::progress_options{.quiet = globals().quiet || ::isatty(::fileno(stderr)) != 1});
    bar->tick();
  });
  if (bar) bar->finish();
  return m;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "score predicted label PNGs against a VOC-layout split (per-class IoU, mIoU)");
  cmd->footer(
      "Reads PRED/<id>.png (palette or 8-bit gray label PNGs) and DATA/SegmentationClass/<id>.png for\n"
      "every id of DATA/ImageSets/Segmentation/<split>.txt; images are not read. Class names come from\n"
      "--names, else DATA/classes.txt, else the PASCAL VOC names for 21 classes.");
  struct state {
    std::filesystem::path pred, data, names;
    std::string split = "val";
    int classes = 0;
  };
  auto s = std::make_shared<state>();
  cmd->add_option("--pred", s->pred, "folder of predicted label PNGs, <id>.png")->type_name("DIR")->required();
  cmd->add_option("--data", s->data, "VOC-layout dataset folder")->type_name("DIR")->required();
  cmd->add_option("--split", s->split, "split to score")->type_name("NAME")->capture_default_str();
  cmd->add_option("--classes", s->classes, "classes including background (default: the number of class names, else 21)")
      ->type_name("N")
      ->check(CLI::Range(2, 255));
  cmd->add_option("--names", s->names, "class names file, line k = class k (default: DATA/classes.txt)")->type_name("FILE");
  cmd->callback([s] {
    auto names = s->names.empty() ? dataset_class_names(s->data) : read_class_names(s->names);
    const int classes = class_count(s->classes, names);
    if (!s->names.empty() && names.size() != static_cast<std::size_t>(classes))
      wsss::throw_io(component, s->names, "has ", names.size(), " class names, --classes is ", classes);
    names = table_names(classes, std::move(names));
    const auto m = evaluate_masks(s->pred, s->data, s->split, classes);
    std::printf("%s split '%s', %d classes: %s\n%s", s->data.string().c_str(), s->split.c_str(), classes,
                s->pred.string().c_str(), m.table(names).c_str());
  });
}

}  // namespace wsss_cli
