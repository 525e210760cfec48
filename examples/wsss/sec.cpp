// SPDX-License-Identifier: MIT
// sec.cpp — `wsss run sec` (localisation cues, DeepLab-LargeFOV trained with the seeding,
// expansion and constrain-to-boundary losses, the test-time CRF; resumable), with the pooler
// and loss ablations of the paper's Fig. 6 and 7 and `--device opencl|cuda` (the pooling and
// the CRFs on OpenCL or CUDA), and `wsss pretrain sec` (the VGG16 backbone on single-object
// images, the ImageNet stand-in).
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "method_flags.hpp"
#include "methods.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/methods/sec.hpp"
#include "wsss/pool/device.hpp"
#include "wsss/pool/gap.hpp"
#include "wsss/pool/gmp.hpp"
#include "wsss/pool/gwrp.hpp"
#if WSSS_CLI_HAVE_OPENCL
#include "wsss/opencl.hpp"
#endif
#if WSSS_CLI_HAVE_CUDA
#include "cuda_methods.hpp"
#endif

namespace {

namespace m = wsss::methods;

struct common_flags : wsss_cli::method_flags {
  int epochs = 0;

  void add(CLI::App& cmd) {
    method_flags::add(cmd, "'paper' (the reference's solver, 321 x 321 input, full width) or 'scenes' (1/8 width on 128 x 128 scenes, minutes on 2 cores)",
                      "DeepLab-LargeFOV",
                      "pretrained VGG16 + fc6 + fc7 weights (safetensors, nn::deeplab_largefov names, e.g. from "
                      "`wsss pretrain sec`) for both networks");
  }
  template <class Method>
  typename Method::config config() const {
    return preset_config<typename Method::config>();
  }
};

void add_run(CLI::App& cmd) {
  struct flags : common_flags {
    m::run_options run;
    std::string pooler = "gwrp";
    std::vector<std::string> without;
    std::filesystem::path cues;
    bool through_crf = false, no_test_crf = false;
    std::string device = "cpu";
  };
  auto f = std::make_shared<flags>();
  wsss_cli::add_run_options(cmd, f->run, "the run's folder: weights, cues, labels, logs, report; a rerun resumes it");
  cmd.add_option("--pooler", f->pooler, "pooler of the expansion loss (Fig. 6): gwrp (the paper), gmp or gap")
      ->check(CLI::IsMember({"gwrp", "gmp", "gap"}))
      ->capture_default_str();
  cmd.add_option("--without", f->without, "drop a loss term (Fig. 7): seed, expand or constrain (repeatable)")
      ->check(CLI::IsMember({"seed", "expand", "constrain"}));
  cmd.add_option("--cues", f->cues,
                 "folder of localisation cues, <id>.png label maps (0 background, c class c, 255 none; any size), "
                 "instead of computing them (e.g. another run's <work>/cues)")
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--epochs", f->epochs, "segmentation network epochs (default: the preset's)")->check(CLI::PositiveNumber);
  cmd.add_flag("--through-crf", f->through_crf, "constrain loss: gradient through the CRF's mean-field iterations");
  cmd.add_flag("--no-test-crf", f->no_test_crf, "no dense CRF at test time");
  wsss_cli::add_device_option(cmd, f->device,
                              "the expansion loss's pooling and the dense CRFs (the constrain loss's, forward and "
                              "backward, and the test-time one)");
  f->add(cmd);
  cmd.callback([f] {
    f->run.classes = f->classes;
    f->run.variant = f->preset + (f->pooler == "gwrp" ? "" : ", " + f->pooler);
    for (const auto& w : f->without) f->run.variant += ", without " + w;
    if (!f->cues.empty()) f->run.variant += ", given cues";
    auto set = [&](auto c) {
      for (const auto& w : f->without) (w == "seed" ? c.terms.seed : w == "expand" ? c.terms.expand : c.terms.constrain) = false;
      c.cues_dir = f->cues;
      c.constrain.through_crf = f->through_crf;
      c.test_crf = !f->no_test_crf;
      if (f->epochs > 0) c.segmentation.epochs = f->epochs;
      return c;
    };
    auto go = [&](auto method) {
      using M = typename decltype(method)::type;
      wsss_cli::run_and_report(M(set(f->config<M>())), f->run);
    };
    if (f->device == "cuda") {  // the stand-in picks the pooler (sec_cuda.cu)
#if WSSS_CLI_HAVE_CUDA
      return wsss_cli::run_and_report(wsss_cli::sec_cuda{set(f->config<m::sec<>>()), f->pooler}, f->run);
#else
      wsss_cli::no_device(f->device);
#endif
    }
    // The method with host pooler P, or P's device twin and the device CRF on OpenCL.
    auto run = [&](auto pooler) {
      using P = typename decltype(pooler)::type;
      if (f->device == "cpu") return go(std::type_identity<m::sec<P>>{});
#if WSSS_CLI_HAVE_OPENCL
      go(std::type_identity<m::sec<wsss::pool::device_pool<P, wsss::opencl_t>, wsss::crf::device_mean_field<wsss::opencl_t>>>{});
#else
      wsss_cli::no_device(f->device);
#endif
    };
    if (f->pooler == "gmp") run(std::type_identity<wsss::pool::gmp>{});
    else if (f->pooler == "gap") run(std::type_identity<wsss::pool::gap>{});
    else run(std::type_identity<wsss::pool::gwrp>{});
  });
}

void add_pretrain(CLI::App& cmd) {
  struct flags : common_flags {
    m::run_options run;
    std::filesystem::path out;
    float lr = 0;
  };
  auto f = std::make_shared<flags>();
  f->preset = "scenes";
  wsss_cli::add_pretrain_options(cmd, f->run, f->out, f->epochs, "sec");
  cmd.add_option("--lr", f->lr, "base learning rate (default: the preset's)")->check(CLI::PositiveNumber);
  f->add(cmd);
  cmd.callback([f] {
    f->run.classes = f->classes;
    f->run.variant = "pretrain";
    using method = m::sec<>;
    auto c = f->config<method>();
    if (f->epochs > 0) c.localisation.epochs = f->epochs;
    if (f->lr > 0) c.localisation.lr = f->lr;
    const method sec(c);
    m::run_context cx(wsss_cli::with_globals(f->run));
    const double top1 = sec.pretrain(cx, f->out);
    if (wsss_cli::prints()) std::printf("backbone: %s\n", f->out.string().c_str());
    if (top1 >= 0 && wsss_cli::prints()) std::printf("top-1 accuracy on %s: %.1f%%\n", f->run.val_split.c_str(), 100.0 * top1);
  });
}

const wsss_cli::register_method reg{{
    .name = "sec",
    .summary = "SEC (Kolesnikov & Lampert 2016): localisation cues, seed / expand / constrain losses, DeepLab-LargeFOV, dCRF",
    .add_run = add_run,
    .add_label = {},  // SEC's labels are its network's predictions: `wsss run` writes them
    .add_pretrain = add_pretrain,
}};

}  // namespace
