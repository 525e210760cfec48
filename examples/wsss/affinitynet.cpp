// SPDX-License-Identifier: MIT
// affinitynet.cpp — `wsss run affinitynet` (every stage of the paper, resumable) and
// `wsss label affinitynet` (pseudo-labels for a VOC folder from a finished run's networks) and
// `wsss pretrain affinitynet` (the backbone on single-object images, the ImageNet stand-in).
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "dataset.hpp"
#include "methods.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/methods/affinitynet.hpp"

namespace {

using method = wsss::methods::affinitynet<>;

// What both subcommands set: the configuration and the threads.
struct common_flags {
  std::string preset = "paper";
  double width = 0;  // 0: the preset's
  long long seed = -1;
  int threads = 0;
  int classes = 0;
  std::filesystem::path backbone;

  void add(CLI::App& cmd) {
    cmd.add_option("--preset", preset, "configuration: 'paper' (the paper's schedules, ResNet38 at full width) or "
                                       "'scenes' (the main job: 1/16 width, from scratch, minutes on 2 cores)")
        ->check(CLI::IsMember({"paper", "scenes"}))
        ->capture_default_str();
    cmd.add_option("--width", width, "ResNet38 width multiplier (default: the preset's)")->check(CLI::PositiveNumber);
    cmd.add_option("--seed", seed, "seed of every random stream (default: the preset's, 1)")->check(CLI::NonNegativeNumber);
    cmd.add_option("--threads", threads, "OpenMP threads (default: all cores)")->check(CLI::PositiveNumber);
    cmd.add_option("--backbone", backbone,
                   "pretrained ResNet38 weights (safetensors, nn::resnet38 names, e.g. psa's ImageNet weights "
                   "converted by examples/convert_torch_weights.py) for all three networks")
        ->check(CLI::ExistingFile);
    cmd.add_option("--classes", classes, "class count incl. background (default: lines of <data>/classes.txt, else 21)")
        ->check(CLI::Range(2, 255));
  }
  method make() const {
    method::config c = preset == "scenes" ? method::config::scenes() : method::config{};
    if (width > 0) c.width = width;
    if (seed >= 0) c.seed = static_cast<std::uint64_t>(seed);
    if (!backbone.empty()) c.backbone_weights = backbone;
    if (threads > 0) wsss::backend::set_num_threads(threads);
    return method(c);
  }
};

void add_run(CLI::App& cmd) {
  struct flags : common_flags {
    wsss::methods::run_options run;
  };
  auto f = std::make_shared<flags>();
  cmd.add_option("--data", f->run.data, "VOC-layout dataset folder (JPEGImages, SegmentationClass, ImageSets)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--work", f->run.work, "the run's folder: weights, CAMs, labels, logs, report; a rerun resumes it")
      ->required();
  cmd.add_option("--train-split", f->run.train_split, "split whose pseudo-labels are made")->capture_default_str();
  cmd.add_option("--val-split", f->run.val_split, "split the segmentation network is evaluated on ('' = none)")
      ->capture_default_str();
  cmd.add_option("--labels", f->run.labels_file, "image tags file (default: <data>/cls_labels.txt, else from the masks)");
  f->add(cmd);
  cmd.callback([f] {
    f->run.quiet = wsss_cli::globals().quiet;
    f->run.classes = f->classes;
    f->run.variant = f->preset;
    const method m = f->make();
    wsss::methods::run_context cx(f->run);
    const auto s = m.run(cx);
    std::printf("report: %s\n", s.report_html.string().c_str());
  });
}

void add_label(CLI::App& cmd) {
  struct flags : common_flags {
    std::filesystem::path weights, data, out, labels;
    std::string split = "train";
  };
  auto f = std::make_shared<flags>();
  cmd.add_option("--weights", f->weights, "the work folder of a finished `wsss run affinitynet`")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--data", f->data, "VOC-layout dataset folder to label")->required()->check(CLI::ExistingDirectory);
  cmd.add_option("--out", f->out, "output folder: one palette PNG per image (existing ones are kept)")->required();
  cmd.add_option("--split", f->split, "split to label")->capture_default_str();
  cmd.add_option("--labels", f->labels, "image tags file (default: <data>/cls_labels.txt, else from the masks)");
  f->add(cmd);
  cmd.callback([f] {
    const method m = f->make();
    const int classes = wsss_cli::class_count(f->classes, wsss_cli::dataset_class_names(f->data));
    std::filesystem::path labels = f->labels;
    if (labels.empty() && std::filesystem::exists(f->data / "cls_labels.txt")) labels = "cls_labels.txt";
    const wsss::io::voc_dataset data(f->data, f->split, {.num_classes = classes, .labels_file = labels});
    m.label(f->weights, data, f->out, wsss_cli::globals().quiet);
    std::printf("labelled %zu images into %s\n", data.size(), f->out.string().c_str());
  });
}

void add_pretrain(CLI::App& cmd) {
  struct flags : common_flags {
    wsss::methods::run_options run;
    std::filesystem::path out;
    int epochs = 0;
  };
  auto f = std::make_shared<flags>();
  f->preset = "scenes";
  cmd.add_option("--data", f->run.data, "single-object VOC-layout dataset (e.g. wsss scenes DIR --objects 1 1 --test-items)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--work", f->run.work, "folder for checkpoints and the training log; a rerun resumes it")->required();
  cmd.add_option("--out", f->out, "the backbone's weights (safetensors), for --backbone of `wsss run affinitynet`")
      ->required();
  cmd.add_option("--epochs", f->epochs, "classifier epochs (default: the preset's)")->check(CLI::PositiveNumber);
  cmd.add_option("--val-split", f->run.val_split, "split the top-1 accuracy is measured on ('' = none)")
      ->capture_default_str();
  f->add(cmd);
  cmd.callback([f] {
    f->run.quiet = wsss_cli::globals().quiet;
    f->run.classes = f->classes;
    f->run.variant = "pretrain";
    method m = f->make();
    if (f->epochs > 0) m.cfg.classifier.epochs = f->epochs;
    wsss::methods::run_context cx(f->run);
    const double top1 = m.pretrain(cx, f->out);
    std::printf("backbone: %s\n", f->out.string().c_str());
    if (top1 >= 0) std::printf("top-1 accuracy on %s: %.1f%%\n", f->run.val_split.c_str(), 100.0 * top1);
  });
}

const wsss_cli::register_method reg{{
    .name = "affinitynet",
    .summary = "AffinityNet (Ahn & Kwak 2018): CAMs, confident regions, AffinityNet, random walk, dCRF, segmentation",
    .add_run = add_run,
    .add_label = add_label,
    .add_pretrain = add_pretrain,
}};

}  // namespace
