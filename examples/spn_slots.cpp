// SPDX-License-Identifier: MIT
// spn_slots — SPN from C++: the superpixel method and the SP layer are the type's slots, and the
// annotation rules (sanitization, the reliable subset, the rounds) are its configuration.
//
//   spn_slots DATA WORK [BACKBONE]     (e.g. ./wsss-scenes after `wsss scenes wsss-scenes`,
//                                       examples/data/vgg16bn-w8-pretrained.safetensors)
//
// Resumable like `wsss run spn`.
#include <cstdio>
#include <filesystem>

#include "wsss/methods/spn.hpp"
#include "wsss/pool/superpixel.hpp"
#include "wsss/superpixel/slic.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: spn_slots DATA WORK [BACKBONE]\n");
    return 2;
  }
  const std::filesystem::path data = argv[1], work = argv[2], backbone = argc == 4 ? argv[3] : "";
  try {
    // example-begin spn_slots
    using namespace wsss;
    using method = methods::spn<superpixel::slic_method,  // the superpixels the SP layer pools over
                                pool::sp_layer>;          // eq. 1-3 (a SuperpixelPooler)
    method::config c = method::config::scenes();          // the paper's numbers: method::config{}
    c.backbone_weights = backbone;                        // VGG16's "features.<i>", fixed in training
    c.annotation = {.relative = 0.5f, .background = 0.0f};  // sanitization: 50% of each map's maximum
    c.subset = {.per_class = 0, .fraction = 0.6};         // the least scattered 60% per class
    c.rounds = 2;                                         // DecoupledNet rounds after SPN
    superpixel::slic_method slic;
    slic.cfg.superpixels = 100;                           // per image
    const method m(c, slic);

    methods::run_options opt;
    opt.data = data;
    opt.work = work;
    methods::run_context cx(opt);
    const methods::run_summary s = m.run(cx);  // CAM / SP-CAM / round annotations, SPN and rounds on val
    // example-end
    std::printf("report: %s\n", s.report_html.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spn_slots: %s\n", e.what());
    return 1;
  }
}
