// SPDX-License-Identifier: MIT
// method_flags.hpp — the options every method's `wsss run` / `wsss pretrain` shares: the
// configuration's preset, width, seed, threads, classes and backbone file, and the dataset /
// work folder options of a run and of a pretraining.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/methods/run.hpp"
#include "methods.hpp"

namespace wsss_cli {

struct method_flags {
  std::string preset = "paper";
  double width = 0;     // 0: the preset's
  long long seed = -1;  // -1: the preset's
  int threads = 0;      // 0: all cores
  int classes = 0;      // 0: from the dataset
  std::filesystem::path backbone;

  // `presets` describes 'paper' and 'scenes'; `net` names the network the width and the
  // backbone file are of.
  void add(CLI::App& cmd, const std::string& presets, const std::string& net, const std::string& backbone_help) {
    cmd.add_option("--preset", preset, "configuration: " + presets)->check(CLI::IsMember({"paper", "scenes"}))->capture_default_str();
    cmd.add_option("--width", width, net + " width multiplier (default: the preset's)")->check(CLI::PositiveNumber);
    cmd.add_option("--seed", seed, "seed of every random stream (default: the preset's, 1)")->check(CLI::NonNegativeNumber);
    cmd.add_option("--threads", threads, "OpenMP threads (default: all cores)")->check(CLI::PositiveNumber);
    cmd.add_option("--backbone", backbone, backbone_help)->check(CLI::ExistingFile);
    cmd.add_option("--classes", classes, "class count incl. background (default: lines of <data>/classes.txt, else 21)")
        ->check(CLI::Range(2, 255));
  }
  // Sets the thread count; call before building the method.
  void apply_threads() const {
    if (threads > 0) wsss::backend::set_num_threads(threads);
  }
  // A one-network method's configuration (SEC, EM): the preset with --width, --seed and
  // --backbone applied; sets the thread count.
  template <class Config>
  Config preset_config() const {
    Config c = preset == "scenes" ? Config::scenes() : Config{};
    if (width > 0) c.net.width = width;
    if (seed >= 0) c.seed = static_cast<std::uint64_t>(seed);
    if (!backbone.empty()) c.backbone_weights = backbone;
    apply_threads();
    return c;
  }
};

// --device of a method whose `what` (its pooler / walk / CRF slots) have device twins: cpu (the
// host engines), opencl or cuda. The method's file instantiates the OpenCL method under
// WSSS_CLI_HAVE_OPENCL and calls its CUDA stand-in (cuda_methods.hpp) under WSSS_CLI_HAVE_CUDA;
// otherwise no_device() names what the build lacks.
inline void add_device_option(CLI::App& cmd, std::string& device, const std::string& what) {
  cmd.add_option("--device", device,
                 "where " + what + " run: cpu (the host engines, fastest on a CPU), opencl (the system's default "
                 "OpenCL device) or cuda (a build configured with -DWSSS_CLI_CUDA=ON); the networks run on the CPU, and "
                 "every device gives cpu's results up to float rounding")
      ->check(CLI::IsMember({"cpu", "opencl", "cuda"}))
      ->capture_default_str();
}
[[noreturn]] inline void no_device(const std::string& device) {
  wsss::throw_value("wsss", "--device ", device, ": this wsss was built without it (",
                    device == "cuda" ? "configure with -DWSSS_CLI_CUDA=ON where nvcc is, or build the method with its "
                                       "cuda_t slots in a .cu file with nvcc and wsss/cuda.hpp"
                                     : "apt-get install ocl-icd-opencl-dev opencl-headers pocl-opencl-icd, then "
                                       "configure again",
                    ")");
}

// Runs a configured method in a work folder and prints where its report went.
// What the global flags and the MPI job (main.cpp) set in a run's options: -q, --sync-bn, the
// ranks; only rank 0 prints the tables.
inline wsss::methods::run_options with_globals(wsss::methods::run_options run) {
  run.quiet = globals().quiet;
  run.group = globals().group;
  run.sync_batch_norm = globals().sync_batch_norm;
  if (run.group && !run.group->root()) run.out = nullptr;
  return run;
}

// Whether this process prints the command's closing lines (rank 0, or the only process).
inline bool prints() { return !globals().group || globals().group->root(); }

template <class Method>
void run_and_report(const Method& method, wsss::methods::run_options run) {
  wsss::methods::run_context cx(with_globals(std::move(run)));
  const auto s = method.run(cx);
  if (prints()) std::printf("report: %s\n", s.report_html.string().c_str());
}

// --data, --work, --train-split, --val-split, --labels of `wsss run METHOD`.
inline void add_run_options(CLI::App& cmd, wsss::methods::run_options& run, const std::string& work_help) {
  cmd.add_option("--data", run.data, "VOC-layout dataset folder (JPEGImages, SegmentationClass, ImageSets)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--work", run.work, work_help)->required();
  cmd.add_option("--train-split", run.train_split, "split the networks train on and the pseudo-labels are made for")
      ->capture_default_str();
  cmd.add_option("--val-split", run.val_split, "split the segmentation network is evaluated on ('' = none)")
      ->capture_default_str();
  cmd.add_option("--labels", run.labels_file, "image tags file (default: <data>/cls_labels.txt, else from the masks)");
}

// --data, --work, --out, --epochs, --val-split of `wsss pretrain METHOD`.
inline void add_pretrain_options(CLI::App& cmd, wsss::methods::run_options& run, std::filesystem::path& out, int& epochs,
                                 const std::string& method) {
  cmd.add_option("--data", run.data, "single-object VOC-layout dataset (e.g. wsss scenes DIR --objects 1 1 --test-items)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--work", run.work, "folder for checkpoints and the training log; a rerun resumes it")->required();
  cmd.add_option("--out", out, "the backbone's weights (safetensors), for --backbone of `wsss run " + method + "`")->required();
  cmd.add_option("--epochs", epochs, "classification network epochs (default: the preset's)")->check(CLI::PositiveNumber);
  cmd.add_option("--val-split", run.val_split, "split the top-1 accuracy is measured on ('' = none)")->capture_default_str();
}

}  // namespace wsss_cli
