// SPDX-License-Identifier: MIT
// affinitynet_slots — AffinityNet from C++ with other policies in its slots: the same paper,
// a Chebyshev expansion of the random walk instead of t sparse products, on any VOC-layout folder.
//
//   affinitynet_slots DATA WORK        (e.g. ./wsss-scenes after `wsss scenes wsss-scenes`)
//
// The run is resumable like `wsss run affinitynet`: run it again with the same WORK and it
// continues where it stopped.
#include <cstdio>
#include <filesystem>

#include "wsss/methods/affinitynet.hpp"
#include "wsss/walk/chebyshev.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: affinitynet_slots DATA WORK\n");
    return 2;
  }
  const std::filesystem::path data = argv[1], work = argv[2];
  try {
    // example-begin affinitynet_slots
    using namespace wsss;
    // The type is the pipeline: one policy per slot, each checked against its concept.
    using method = methods::affinitynet<pool::gap,                           // classifier pooling (eq. 1)
                                        graph::radius,                       // neighbourhood of eq. 4
                                        walk::chebyshev,                     // T^t v (eq. 12)
                                        crf::mean_field<crf::permutohedral, crf::potts>>;  // dCRF
    method m(method::config::scenes());  // the main job's schedules; the paper's: method::config{}
    m.graph.cfg.gamma = 5.0;             // every slot carries its own numbers in `cfg`
    m.walk.cfg.tol = 1e-6;
    m.cfg.beta = 8.0f;                   // what no slot owns is the method's (eq. 11's beta)

    methods::run_options opt;            // a VOC-layout folder in, a resumable work folder out
    opt.data = data;
    opt.work = work;
    methods::run_context cx(opt);
    const methods::run_summary s = m.run(cx);  // Table 1's rows and the segmentation network's
    // example-end
    std::printf("report: %s\n", s.report_html.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "affinitynet_slots: %s\n", e.what());
    return 1;
  }
}
