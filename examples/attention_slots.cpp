// SPDX-License-Identifier: MIT
// attention_slots — attention + CRF-RNN from C++: the attention QP's solver is the type's slot;
// the readings of eq. 9, the top-down pass and Table 1's baselines are its configuration.
//
//   attention_slots DATA WORK [BACKBONE]     (e.g. ./wsss-scenes after `wsss scenes wsss-scenes`,
//                                             examples/data/vgg16bn-w8-pretrained.safetensors)
//
// Resumable like `wsss run attention`.
#include <cstdio>
#include <filesystem>

#include "wsss/attention/multiplicative.hpp"
#include "wsss/methods/attention_crf.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: attention_slots DATA WORK [BACKBONE]\n");
    return 2;
  }
  const std::filesystem::path data = argv[1], work = argv[2], backbone = argc == 4 ? argv[3] : "";
  try {
    // example-begin attention_slots
    using namespace wsss;
    using method = methods::attention_crf<attention::multiplicative>;  // eq. 3's solver (an AttentionSolver)
    method::config c = method::config::scenes();     // the paper's numbers: method::config{}
    c.backbone_weights = backbone;                   // VGG16 + fc6 + fc7 of DeepLab-LargeFOV
    c.lambda = 1.5f;                                 // eq. 13
    c.lateral = {.sigma_z = 10, .sigma_r = 30};      // eq. 8; .inhibition = 1, .precision = 0: eq. 9 literally
    c.top_down.target = "pool4";                     // where the top-down pass stops
    c.use.neighbor = true;                           // false: Table 1's B4 (the Markov chain)
    attention::multiplicative solver;
    solver.cfg.tolerance = 1e-8;                     // relative KKT residual
    const method m(c, solver);

    methods::run_options opt;
    opt.data = data;
    opt.work = work;
    methods::run_context cx(opt);
    const methods::run_summary s = m.run(cx);  // val with and without attention at inference, train pseudo-labels
    // example-end
    std::printf("report: %s\n", s.report_html.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attention_slots: %s\n", e.what());
    return 1;
  }
}
