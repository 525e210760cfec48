// SPDX-License-Identifier: MIT
// spn.cpp — `wsss run spn`: superpixels, SPN on the tags at six sizes, SP-CAM (and CAM)
// annotations, the reliable subset and rounds of DecoupledNet (resumable), with the ablations of
// the paper's Fig. 3 (--no-sanitize, --no-reliable) and the round count.
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "method_flags.hpp"
#include "methods.hpp"
#include "wsss/methods/spn.hpp"

namespace {

namespace m = wsss::methods;

void add_run(CLI::App& cmd) {
  struct flags : wsss_cli::method_flags {
    m::run_options run;
    int rounds = -1, epochs = 0, superpixels = 0, up_stride = 0;
    bool no_reliable = false, no_sanitize = false, train_encoder = false;
    float lr = 0;
  };
  auto f = std::make_shared<flags>();
  wsss_cli::add_run_options(cmd, f->run, "the run's folder: weights, annotations, labels, logs, report; a rerun resumes it");
  cmd.add_option("--rounds", f->rounds, "DecoupledNet rounds (default 2, the paper's; 0: SPN only)")->check(CLI::NonNegativeNumber);
  cmd.add_flag("--no-reliable", f->no_reliable, "the rounds train on every annotation, not the least scattered per class");
  cmd.add_flag("--no-sanitize", f->no_sanitize,
               "annotations without sanitization: every class's map competes, no 50%-of-maximum threshold");
  cmd.add_option("--superpixels", f->superpixels, "SLIC superpixels per image (default: 500 paper, 100 scenes)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--up-stride", f->up_stride, "f_ups's upsampling per deconvolution: 1 or even (default 2: SP features at 1/2)")
      ->check(CLI::PositiveNumber);
  cmd.add_flag("--train-encoder", f->train_encoder, "train VGG16 with SPN (the paper keeps it fixed)");
  cmd.add_option("--lr", f->lr, "Adam learning rate of SPN and the rounds (default: the preset's)")->check(CLI::PositiveNumber);
  cmd.add_option("--epochs", f->epochs, "epochs of SPN and of each round (default: the preset's)")->check(CLI::PositiveNumber);
  f->add(cmd, "'paper' (six sizes 250..500, DecoupledNet at 320, full width) or 'scenes' (1/8 width, sizes 64..128, minutes on 2 cores)",
         "SPN's VGG16", "pretrained VGG16 weights (safetensors, \"features.<i>\" names, e.g. from `wsss pretrain sec`)");
  cmd.callback([f] {
    f->run.classes = f->classes;
    f->run.variant = f->preset;
    if (f->no_sanitize) f->run.variant += ", unsanitized";
    if (f->no_reliable) f->run.variant += ", all annotations";
    if (f->rounds >= 0) f->run.variant += ", " + std::to_string(f->rounds) + " rounds";
    using method = m::spn<>;
    auto c = f->preset_config<method::config>();
    c.sanitize = !f->no_sanitize;
    c.reliable = !f->no_reliable;
    if (f->rounds >= 0) c.rounds = f->rounds;
    if (f->epochs > 0) c.spn_training.epochs = c.decoupled.epochs = f->epochs;
    if (f->lr > 0) c.spn_training.lr = c.decoupled.lr = f->lr;
    c.train_encoder = c.train_encoder || f->train_encoder;
    if (f->up_stride > 0) {
      c.net.up_stride = f->up_stride;
      f->run.variant += ", up stride " + std::to_string(f->up_stride);
    }
    if (f->train_encoder) f->run.variant += ", encoder trained";
    wsss::superpixel::slic_method slic;
    slic.cfg.superpixels = f->superpixels > 0 ? f->superpixels : f->preset == "scenes" ? 100 : 500;
    wsss_cli::run_and_report(method(c, slic), f->run);
  });
}

const wsss_cli::register_method reg{{
    .name = "spn",
    .summary = "SPN (Kwak et al. 2017): superpixel pooling, SP-CAM, sanitized annotations, reliable subsets, DecoupledNet rounds",
    .add_run = add_run,
    .add_label = {},  // SPN's labels are its annotations and networks' predictions: `wsss run` writes them
    .add_pretrain = {},
}};

}  // namespace
