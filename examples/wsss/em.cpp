// SPDX-License-Identifier: MIT
// em.cpp — `wsss run em` (EM for DeepLab: DeepLab-LargeFOV trained with an on-line E-step from
// image tags or boxes, optionally with a few strongly annotated images in every batch; the
// test-time CRF cross-validated on held-out images; resumable), one variant per row of the
// paper's Tables 1-3; `--device opencl|cuda` runs the CRF's cross-validation and the val
// predictions' CRF there.
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "method_flags.hpp"
#include "methods.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/em/bias.hpp"
#include "wsss/em/boxes.hpp"
#include "wsss/methods/em_deeplab.hpp"
#if WSSS_CLI_HAVE_OPENCL
#include "wsss/opencl.hpp"
#endif
#if WSSS_CLI_HAVE_CUDA
#include "cuda_methods.hpp"
#endif

namespace {

namespace m = wsss::methods;

void add_run(CLI::App& cmd) {
  struct flags : wsss_cli::method_flags {
    m::run_options run;
    std::string variant = "adapt";
    long long strong = -1;  // -1: the variant's (semi: 20, else 0)
    std::string strong_split = "strong";
    int epochs = 0;
    bool no_test_crf = false;
    long long holdout = -1;
    float fg_bias = 5.0f, bg_bias = 3.0f, fg_portion = 0.2f, bg_portion = 0.4f, alpha = 0.2f;
    std::string optimizer;  // "": the preset's
    float lr = 0;           // 0: the preset's
    std::string device = "cpu";
  };
  auto f = std::make_shared<flags>();
  wsss_cli::add_run_options(cmd, f->run, "the run's folder: weights, box labels, labels, logs, report; a rerun resumes it");
  cmd.add_option("--variant", f->variant,
                 "E-step: fixed (EM-Fixed), adapt (EM-Adapt), bbox-rect, bbox-seg, bbox-em-fixed (boxes from "
                 "<data>/Annotations), semi (EM-Fixed with 20 strong images unless --strong says otherwise), or strong (those "
                 "strong images alone: Semi's baseline)")
      ->check(CLI::IsMember({"fixed", "adapt", "bbox-rect", "bbox-seg", "bbox-em-fixed", "semi", "strong"}))
      ->capture_default_str();
  cmd.add_option("--strong", f->strong,
                 "strongly annotated images (their masks train them): the first N of --strong-split (any variant; "
                 "default 20 for semi and strong, else 0)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--strong-split", f->strong_split,
                 "split listing the strong images in order (scenes: 'strong', a quarter of train; VOC: 'train')")
      ->capture_default_str();
  cmd.add_option("--epochs", f->epochs, "training epochs (default: the preset's)")->check(CLI::PositiveNumber);
  cmd.add_option("--optimizer", f->optimizer,
                 "sgd (the paper's: momentum 0.9, weight decay 5e-4, poly) or adam (default: the preset's)")
      ->check(CLI::IsMember({"sgd", "adam"}));
  cmd.add_option("--lr", f->lr, "base learning rate (default: the preset's)")->check(CLI::PositiveNumber);
  cmd.add_option("--crf-holdout", f->holdout, "val images the dCRF's parameters are cross-validated on (0: the engine's own)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--fg-bias", f->fg_bias, "EM-Fixed / Bbox-EM-Fixed: b_fg")->capture_default_str();
  cmd.add_option("--bg-bias", f->bg_bias, "EM-Fixed / Bbox-EM-Fixed: b_bg")->capture_default_str();
  cmd.add_option("--fg-portion", f->fg_portion, "EM-Adapt: rho_fg, the least share of the image for each tagged class")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--bg-portion", f->bg_portion, "EM-Adapt: rho_bg, the least share of the image for background")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--alpha", f->alpha, "Bbox-Seg: the share of each box's area (about its centre) clamped to its class")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_flag("--no-test-crf", f->no_test_crf, "no dense CRF at test time");
  wsss_cli::add_device_option(cmd, f->device,
                              "the test-time dense CRF (its cross-validation on the held-out images and the val "
                              "predictions')");
  f->add(cmd, "'paper' (DeepLab's solver, 321 x 321 input, full width) or 'scenes' (1/8 width on 128 x 128 scenes, minutes on 2 cores)",
         "DeepLab-LargeFOV",
         "pretrained VGG16 + fc6 + fc7 weights (safetensors, nn::deeplab_largefov names, e.g. from `wsss pretrain sec`)");
  cmd.callback([f] {
    f->run.classes = f->classes;
    const bool strong_variant = f->variant == "semi" || f->variant == "strong";
    const std::size_t strong = f->strong >= 0 ? static_cast<std::size_t>(f->strong) : strong_variant ? 20 : 0;
    f->run.variant = f->preset + ", " + f->variant + (strong > 0 && !strong_variant ? ", semi" : "") +
                     (strong > 0 ? " (" + std::to_string(strong) + " strong)" : "");
    const auto param = [&](const char* key, float value, float paper) {  // non-default parameters name the variant
      if (value == paper) return;
      char text[48];
      std::snprintf(text, sizeof text, ", %s %g", key, static_cast<double>(value));
      f->run.variant += text;
    };
    param("b_fg", f->fg_bias, 5.0f);
    param("b_bg", f->bg_bias, 3.0f);
    param("rho_fg", f->fg_portion, 0.2f);
    param("rho_bg", f->bg_portion, 0.4f);
    param("alpha", f->alpha, 0.2f);
    if (!f->optimizer.empty()) f->run.variant += ", " + f->optimizer;
    param("lr", f->lr, 0.0f);
    auto set = [&](auto c) {
      c = f->preset_config<decltype(c)>();
      if (f->epochs > 0) c.training.epochs = f->epochs;
      if (f->optimizer == "sgd") {
        c.training.update = m::optimizer::sgd;
        c.training.momentum = 0.9f;
        c.training.weight_decay = 5e-4f;
      } else if (f->optimizer == "adam") {
        c.training.update = m::optimizer::adam;
      }
      if (f->lr > 0) c.training.lr = f->lr;
      if (f->holdout >= 0) c.crf_holdout = static_cast<std::size_t>(f->holdout);
      c.test_crf = !f->no_test_crf;
      c.strong = strong;
      c.strong_split = f->strong_split;
      c.weak = f->variant != "strong";
      return c;
    };
    namespace em = wsss::em;
    const std::string& v = f->variant;
    const em::fixed::config fixed{.fg_bias = f->fg_bias, .bg_bias = f->bg_bias};
    // The method with E-step estep and the host CRF, or the CRF on --device.
    auto go = [&](auto estep) {
      using E = decltype(estep);
      const m::em_config c = set(m::em_config{});
      if (f->device == "cpu") return wsss_cli::run_and_report(m::em_deeplab<E>(c, estep), f->run);
#if WSSS_CLI_HAVE_OPENCL
      if (f->device == "opencl")
        return wsss_cli::run_and_report(m::em_deeplab<E, wsss::crf::device_mean_field<wsss::opencl_t>>(c, estep), f->run);
#endif
#if WSSS_CLI_HAVE_CUDA
      if (f->device == "cuda") return wsss_cli::run_and_report(wsss_cli::em_cuda{c, estep}, f->run);
#endif
      wsss_cli::no_device(f->device);
    };
    if (v == "fixed" || v == "semi" || v == "strong") go(em::fixed(fixed));  // strong: the E-step labels row
    else if (v == "adapt") go(em::adapt({.fg_portion = f->fg_portion, .bg_portion = f->bg_portion}));
    else if (v == "bbox-rect") go(em::bbox_rect{});
    else if (v == "bbox-seg") go(em::bbox_seg<>({.alpha = f->alpha}));
    else go(em::bbox_fixed(fixed));
  });
}

const wsss_cli::register_method reg{{
    .name = "em",
    .summary = "EM for DeepLab (Papandreou et al. 2015): on-line E-step from tags or boxes, semi-supervised batches, dCRF",
    .add_run = add_run,
    .add_label = {},  // the network's predictions and E-step labels are written by `wsss run`
    .add_pretrain = {},
}};

}  // namespace
