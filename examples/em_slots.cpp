// SPDX-License-Identifier: MIT
// em_slots — EM for DeepLab from C++: the E-step and the test-time CRF are the type's slots,
// and a few strongly annotated images turn the run semi-supervised.
//
//   em_slots DATA WORK [STRONG]       (e.g. ./wsss-scenes after `wsss scenes wsss-scenes`)
//
// STRONG, when given, is how many images of DATA's ImageSets/Segmentation/strong.txt train on
// their masks (EM-Fixed on the others, as the paper's Semi rows). Resumable like `wsss run em`.
#include <cstdio>
#include <filesystem>
#include <string>

#include "wsss/em/bias.hpp"
#include "wsss/methods/em_deeplab.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: em_slots DATA WORK [STRONG]\n");
    return 2;
  }
  const std::filesystem::path data = argv[1], work = argv[2];
  try {
    const std::size_t strong = argc == 4 ? std::stoul(argv[3]) : 0;
    // example-begin em_slots
    using namespace wsss;
    using method = methods::em_deeplab<em::fixed,          // the E-step (Algorithm 1)
                                       crf::mean_field<>>;  // the test-time dense CRF
    method::config c = method::config::scenes();           // the paper's numbers: method::config{}
    c.strong = strong;                                     // > 0: semi-supervised (sec. 3.4)
    c.crf_holdout = 10;                                    // val images the CRF is cross-validated on
    const method m(c, em::fixed({.fg_bias = 5.0f, .bg_bias = 3.0f}));

    methods::run_options opt;
    opt.data = data;
    opt.work = work;
    methods::run_context cx(opt);
    const methods::run_summary s = m.run(cx);  // val mIoU without / with the CRF, the E-step's train labels
    // example-end
    std::printf("report: %s\n", s.report_html.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "em_slots: %s\n", e.what());
    return 1;
  }
}
