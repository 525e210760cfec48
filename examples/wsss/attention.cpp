// SPDX-License-Identifier: MIT
// attention.cpp — `wsss run attention`: DeepLab-LargeFOV with the FCL, top-down attention maps
// (a rectified-Gaussian QP per layer, solver chosen by --solver) and the CRF-RNN, trained end to
// end on the tags (resumable), with Table 1's baselines (--without) and the CRF-RNN on OpenCL
// or CUDA (--device opencl|cuda).
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "method_flags.hpp"
#include "methods.hpp"
#include "wsss/attention/multiplicative.hpp"
#include "wsss/attention/projected_gradient.hpp"
#include "wsss/crf/device_crf_rnn.hpp"
#include "wsss/methods/attention_crf.hpp"
#if WSSS_CLI_HAVE_OPENCL
#include "wsss/opencl.hpp"
#endif
#if WSSS_CLI_HAVE_CUDA
#include "cuda_methods.hpp"
#endif

namespace {

namespace m = wsss::methods;
namespace at = wsss::attention;

void add_run(CLI::App& cmd) {
  struct flags : wsss_cli::method_flags {
    m::run_options run;
    std::vector<std::string> without;
    std::string solver = "coordinate";
    std::string lateral = "laplacian";
    int epochs = 0;
    float lambda = -1;
    std::string device = "cpu";
  };
  auto f = std::make_shared<flags>();
  wsss_cli::add_run_options(cmd, f->run, "the run's folder: weights, labels, logs, report; a rerun resumes it");
  cmd.add_option("--without", f->without,
                 "Table 1's baselines: attention (B1), seg-loss (B2), att-unary (B3), neighbor (B4), crf-rnn (B5; "
                 "then the dense CRF post-processes); repeatable")
      ->check(CLI::IsMember({"attention", "seg-loss", "att-unary", "neighbor", "crf-rnn"}));
  cmd.add_option("--solver", f->solver, "the attention QP's solver: coordinate (ascent), gradient (projected), multiplicative")
      ->check(CLI::IsMember({"coordinate", "gradient", "multiplicative"}))
      ->capture_default_str();
  cmd.add_option("--lateral", f->lateral,
                 "D of eq. 9: laplacian (w/sum w - 1 on the diagonal, plus the Gaussian's unit precision; the default) or "
                 "paper (w/sum w - 1 on every pair, read literally)")
      ->check(CLI::IsMember({"laplacian", "paper"}))
      ->capture_default_str();
  cmd.add_option("--lambda", f->lambda, "eq. 13's weight of the segmentation loss (default 1.5)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--epochs", f->epochs, "training epochs (default: the preset's)")->check(CLI::PositiveNumber);
  wsss_cli::add_device_option(cmd, f->device, "the CRF-RNN's iterations (training, forward and backward, and test time)");
  f->add(cmd, "'paper' (batch 20, SGD, 321 x 321 input, full width) or 'scenes' (1/8 width on 128 x 128 scenes, minutes on 2 cores)",
         "DeepLab-LargeFOV",
         "pretrained VGG16 + fc6 + fc7 weights (safetensors, nn::deeplab_largefov names, e.g. from `wsss pretrain sec`)");
  cmd.callback([f] {
    f->run.classes = f->classes;
    f->run.variant = f->preset;
    for (const auto& w : f->without) f->run.variant += ", without " + w;
    if (f->solver != "coordinate") f->run.variant += ", " + f->solver;
    if (f->lateral != "laplacian") f->run.variant += ", paper D";
    auto set = [&](auto c) {
      for (const auto& w : f->without) {
        auto& u = c.use;
        (w == "attention" ? u.attention : w == "seg-loss" ? u.seg_loss : w == "att-unary" ? u.att_unary : w == "neighbor" ? u.neighbor : u.crf_rnn) = false;
      }
      if (f->lateral == "paper") c.lateral.inhibition = 1.0, c.lateral.precision = 0.0;
      if (f->epochs > 0) c.training.epochs = f->epochs;
      if (f->lambda >= 0) c.lambda = f->lambda;
      return c;
    };
    auto go = [&](auto method) {
      using M = typename decltype(method)::type;
      wsss_cli::run_and_report(M(set(f->template preset_config<typename M::config>())), f->run);
    };
    if (f->device == "cuda") {  // the stand-in picks the solver (attention_cuda.cu)
#if WSSS_CLI_HAVE_CUDA
      return wsss_cli::run_and_report(
          wsss_cli::attention_cuda{set(f->template preset_config<m::attention_config>()), f->solver}, f->run);
#else
      wsss_cli::no_device(f->device);
#endif
    }
    // The method with solver S and the host CRF-RNN, or the CRF-RNN on OpenCL.
    auto run = [&](auto solver) {
      using S = typename decltype(solver)::type;
      if (f->device == "cpu") return go(std::type_identity<m::attention_crf<S>>{});
#if WSSS_CLI_HAVE_OPENCL
      go(std::type_identity<m::attention_crf<S, wsss::crf::device_crf_rnn<wsss::opencl_t>>>{});
#else
      wsss_cli::no_device(f->device);
#endif
    };
    if (f->solver == "gradient") run(std::type_identity<at::projected_gradient>{});
    else if (f->solver == "multiplicative") run(std::type_identity<at::multiplicative>{});
    else run(std::type_identity<at::coordinate_ascent>{});
  });
}

const wsss_cli::register_method reg{{
    .name = "attention",
    .summary = "Attention + CRF-RNN (Roy & Todorovic 2017): FCL, top-down rectified-Gaussian attention, CRF-RNN, end to end",
    .add_run = add_run,
    .add_label = {},  // the labels are the trained model's predictions: `wsss run` writes them
    .add_pretrain = {},
}};

}  // namespace
