// SPDX-License-Identifier: MIT
// tests/crf/photo.test.cpp — on a real photo (scikit-image's coffee.png, CC0) the dense CRF
// turns noisy unaries into a labelling closer to a colour-based reference
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "wsss/core/random.hpp"
#include "wsss/crf.hpp"
#include "wsss/eval/confusion.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/png.hpp"

using namespace wsss;

TEST_CASE("mean_field on a real photo raises mIoU of noisy unaries against the reference labelling") {
  const std::filesystem::path dir = std::filesystem::path(WSSS_TEST_DATA_DIR) / "crf";
  const rgb_image img = io::read_png(dir / "coffee_crop.png");
  const label_map ref = io::read_label_png(dir / "coffee_ref.png");
  REQUIRE(img.height() == 80);
  REQUIRE(img.width() == 120);
  REQUIRE(ref.height() == 80);
  const index_t k = 3, n = img.pixels();
  // Noisy class probabilities: logit 1 on the reference label plus N(0, 1) on every label.
  rng g(2024);
  tensor p({1, k, img.height(), img.width()});
  for (index_t i = 0; i < n; ++i) {
    double z[3], s = 0;
    for (index_t c = 0; c < k; ++c) s += (z[c] = std::exp((c == ref[i] ? 1.0 : 0.0) + g.normal()));
    for (index_t c = 0; c < k; ++c) p[c * n + i] = static_cast<float>(z[c] / s);
  }
  eval::confusion_matrix before(3), after(3);
  before.add(argmax_labels(p), ref);
  crf::mean_field_config cfg;
  cfg.kernels.spatial_scale = 4.0f;  // a 120x80 crop of a 2x-reduced photo: sxy 20 and 0.75
  crf::mean_field<> mf(cfg);
  const tensor q = mf.infer(crf::unary_from_probabilities(p), std::span<const rgb_image>(&img, 1));
  after.add(argmax_labels(q), ref);
  MESSAGE("mIoU unaries " << before.miou() << " -> CRF " << after.miou());
  // Stated margin: at least +0.3 mIoU (measured 0.46 -> 0.93, docs/crf.md).
  CHECK(after.miou() > before.miou() + 0.3);
  CHECK(after.miou() > 0.85);
}
