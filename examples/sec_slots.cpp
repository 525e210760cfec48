// SPDX-License-Identifier: MIT
// sec_slots — SEC from C++: the pooler of the expansion loss and the CRF are the type's slots,
// and cues can come from files the user made (any weak localisation method).
//
//   sec_slots DATA WORK [CUES]        (e.g. ./wsss-scenes after `wsss scenes wsss-scenes`)
//
// CUES, when given, is a folder of <id>.png label maps (0 background, c class c, 255 no cue),
// e.g. the cues/ folder of an earlier run. Resumable like `wsss run sec`.
#include <cstdio>
#include <filesystem>

#include "wsss/methods/sec.hpp"
#include "wsss/pool/gwrp.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: sec_slots DATA WORK [CUES]\n");
    return 2;
  }
  const std::filesystem::path data = argv[1], work = argv[2], cues = argc == 4 ? argv[3] : "";
  try {
    // example-begin sec_slots
    using namespace wsss;
    using method = methods::sec<pool::gwrp,          // G_c of the expansion loss (eq. 3-4)
                                crf::mean_field<>>;  // constrain loss (eq. 5) and test-time CRF
    method::config c = method::config::scenes();     // the paper's numbers: method::config{}
    c.cues_dir = cues;                               // empty: the run computes its own cues
    c.terms.constrain = true;                        // Fig. 7: drop a term with false
    c.constrain.through_crf = false;                 // Q a constant target (the reference since 2018)
    method m(c);
    m.pooler.cfg.d_fg = 0.996f;                      // d+, d-, d_bg live in the pooler's cfg
    m.pooler.cfg.d_bg = 0.999f;

    methods::run_options opt;
    opt.data = data;
    opt.work = work;
    methods::run_context cx(opt);
    const methods::run_summary s = m.run(cx);  // val mIoU without / with the CRF, train pseudo-labels
    // example-end
    std::printf("report: %s\n", s.report_html.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sec_slots: %s\n", e.what());
    return 1;
  }
}
