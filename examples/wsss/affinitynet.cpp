// SPDX-License-Identifier: MIT
// affinitynet.cpp — `wsss run affinitynet` (every stage of the paper, resumable) and
// `wsss label affinitynet` (pseudo-labels for a VOC folder from a finished run's networks) and
// `wsss pretrain affinitynet` (the backbone on single-object images, the ImageNet stand-in).
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "dataset.hpp"
#include "method_flags.hpp"
#include "methods.hpp"
#include "wsss/methods/affinitynet.hpp"
#if WSSS_CLI_HAVE_OPENCL
#include "wsss/opencl.hpp"
#endif
#if WSSS_CLI_HAVE_CUDA
#include "cuda_methods.hpp"
#endif

namespace {

using config = wsss::methods::affinitynet_config;

// What every subcommand sets: the configuration, the threads and, for `run` and `label`, the
// backend of the random walk and the dense CRF.
struct common_flags : wsss_cli::method_flags {
  std::string device = "cpu";
  int synthesis_batch = 0;  // 0: by the device (the configuration's default)

  void add(CLI::App& cmd) {
    method_flags::add(cmd, "'paper' (the paper's schedules, ResNet38 at full width) or 'scenes' (the main job: 1/16 width, minutes on 2 cores)",
                      "ResNet38",
                      "pretrained ResNet38 weights (safetensors, nn::resnet38 names, e.g. psa's ImageNet weights "
                      "converted by examples/convert_torch_weights.py) for all three networks");
  }
  void add_device(CLI::App& cmd) {
    wsss_cli::add_device_option(cmd, device,
                                "the steps of label synthesis (eq. 2, eq. 3's affinities, the random walk, the "
                                "upsampling, the dense CRFs)");
    cmd.add_option("--batch", synthesis_batch,
                   "images per device batch of label synthesis (--device opencl|cuda; default: 8 on a GPU, 1 on a CPU "
                   "device such as PoCL): one walk and one CRF for the batch's images of one size and tag count; the "
                   "labels do not depend on it")
        ->check(CLI::Range(1, 4096));
  }
  config make() const {
    config c = preset == "scenes" ? config::scenes() : config{};
    if (width > 0) c.width = width;
    if (seed >= 0) c.seed = static_cast<std::uint64_t>(seed);
    if (!backbone.empty()) c.backbone_weights = backbone;
    if (synthesis_batch > 0) c.synthesis_batch = synthesis_batch;
    apply_threads();
    return c;
  }
  // Calls body with the method whose walk and CRF slots run on --device.
  template <class F>
  void with_method(F&& body) const {
    if (device == "cpu") return body(wsss::methods::affinitynet<>(make()));
#if WSSS_CLI_HAVE_OPENCL
    if (device == "opencl") return body(wsss::methods::affinitynet_on<wsss::opencl_t>(make()));
#endif
#if WSSS_CLI_HAVE_CUDA
    if (device == "cuda") return body(wsss_cli::affinitynet_cuda{make()});
#endif
    wsss_cli::no_device(device);
  }
};

void add_run(CLI::App& cmd) {
  struct flags : common_flags {
    wsss::methods::run_options run;
  };
  auto f = std::make_shared<flags>();
  wsss_cli::add_run_options(cmd, f->run, "the run's folder: weights, CAMs, labels, logs, report; a rerun resumes it");
  f->add(cmd);
  f->add_device(cmd);
  cmd.callback([f] {
    f->run.classes = f->classes;
    f->run.variant = f->preset;
    f->with_method([&](const auto& m) { wsss_cli::run_and_report(m, f->run); });
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
  f->add_device(cmd);
  cmd.callback([f] {
    const int classes = wsss_cli::class_count(f->classes, wsss_cli::dataset_class_names(f->data));
    std::filesystem::path labels = f->labels;
    if (labels.empty() && std::filesystem::exists(f->data / "cls_labels.txt")) labels = "cls_labels.txt";
    const wsss::io::voc_dataset data(f->data, f->split, {.num_classes = classes, .labels_file = labels});
    const wsss::dist::group& g = wsss_cli::globals().group ? *wsss_cli::globals().group : wsss::dist::local();
    f->with_method([&](const auto& m) { m.label(f->weights, data, f->out, wsss_cli::globals().quiet, g); });
    if (wsss_cli::prints()) std::printf("labelled %zu images into %s\n", data.size(), f->out.string().c_str());
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
  wsss_cli::add_pretrain_options(cmd, f->run, f->out, f->epochs, "affinitynet");
  f->add(cmd);
  cmd.callback([f] {
    f->run.classes = f->classes;
    f->run.variant = "pretrain";
    config c = f->make();
    if (f->epochs > 0) c.classifier.epochs = f->epochs;
    const wsss::methods::affinitynet<> m(c);
    wsss::methods::run_context cx(wsss_cli::with_globals(f->run));
    const double top1 = m.pretrain(cx, f->out);
    if (wsss_cli::prints()) std::printf("backbone: %s\n", f->out.string().c_str());
    if (top1 >= 0 && wsss_cli::prints()) std::printf("top-1 accuracy on %s: %.1f%%\n", f->run.val_split.c_str(), 100.0 * top1);
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
