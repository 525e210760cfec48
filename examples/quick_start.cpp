// SPDX-License-Identifier: MIT
// quick_start — wsss in a few lines: read a VOC-layout dataset (`wsss scenes` builds one), turn
// its ground truth into noisy class probabilities (a stand-in for a network's CAMs), refine
// them with the dense CRF (pydensecrf's computation with psa's parameters) and score both.
//
//   quick_start [VOC_ROOT] [SPLIT]        defaults: wsss-scenes val
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

#include <wsss/wsss.hpp>

namespace {

// 1 x C x H x W: softmax(2 * onehot(gt) + N(0, 1.2^2)) per pixel; ignored pixels uniform.
wsss::tensor noisy_probabilities(const wsss::label_map& gt, int classes, wsss::rng& g) {
  const wsss::index_t hw = gt.pixels();
  wsss::tensor p({1, classes, gt.height(), gt.width()});
  for (wsss::index_t i = 0; i < hw; ++i) {
    double sum = 0;
    for (int c = 0; c < classes; ++c) {
      const double logit = (gt[i] == c ? 2.0 : 0.0) + (gt[i] == wsss::ignore_label ? 0.0 : g.normal(0.0, 1.2));
      p[c * hw + i] = static_cast<float>(std::exp(logit));
      sum += p[c * hw + i];
    }
    for (int c = 0; c < classes; ++c) p[c * hw + i] = static_cast<float>(p[c * hw + i] / sum);
  }
  return p;
}

int run(int argc, char** argv) {
  const std::filesystem::path root = argc > 1 ? argv[1] : "wsss-scenes";
  const std::string split = argc > 2 ? argv[2] : "val";
  constexpr int classes = wsss::data::scenes_num_classes;
  wsss::rng g(1);

  // example-begin quick_start
  const wsss::io::voc_dataset data(root, split, {.num_classes = classes});
  wsss::crf::mean_field<> crf;  // permutohedral lattice, Potts, 10 iterations, psa's kernels
  wsss::eval::confusion_matrix before(classes), after(classes);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const wsss::rgb_image img = data.image(i);                  // H x W x 3
    const wsss::label_map gt = data.mask(i);                    // H x W, 255 = ignore
    const wsss::tensor p = noisy_probabilities(gt, classes, g);  // 1 x C x H x W
    const wsss::tensor q =                                       // 1 x C x H x W marginals
        crf.infer(wsss::crf::unary_from_probabilities(p), img);
    before.add(wsss::argmax_labels(p), gt);
    after.add(wsss::argmax_labels(q), gt);
  }
  // example-end
  std::printf("%zu images of %s/%s: mIoU of the noisy scores %.2f%%, after the dense CRF %.2f%%\n", data.size(),
              root.string().c_str(), split.c_str(), 100 * before.miou(), 100 * after.miou());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 3) {
    std::fprintf(stderr, "usage: quick_start [VOC_ROOT] [SPLIT]   (defaults: wsss-scenes val)\n");
    return 2;
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quick_start: %s\n", e.what());
    return 1;
  }
}
