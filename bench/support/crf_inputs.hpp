// SPDX-License-Identifier: MIT
// bench/support/crf_inputs.hpp — the dense-CRF benchmarks' inputs (500x375, 21 labels): a
// photo crop and smooth class probabilities, shared by bench_crf and bench_cuda
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "wsss/core/image.hpp"
#include "wsss/core/random.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/io/png.hpp"

namespace bench_crf {

using namespace wsss;

constexpr index_t kH = 375, kW = 500, kLabels = 21;

/// A 500x375 crop of scikit-image's astronaut.png when present, else a synthetic scene.
inline rgb_image bench_image() {
  const std::filesystem::path photo = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
  rgb_image out(kH, kW);
  if (std::filesystem::exists(photo)) {
    const rgb_image src = io::read_png(photo);
    if (src.height() >= kH && src.width() >= kW) {
      for (index_t y = 0; y < kH; ++y)
        for (index_t x = 0; x < kW; ++x)
          for (int c = 0; c < 3; ++c) out(y, x, c) = src(y, x, c);
      return out;
    }
  }
  rng g(1);
  for (index_t y = 0; y < kH; ++y)
    for (index_t x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c)
        out(y, x, c) = static_cast<std::uint8_t>(std::clamp(128.0 + 90.0 * std::sin(0.02 * x * (c + 1) + 0.03 * y) + 10.0 * g.normal(), 0.0, 255.0));
  return out;
}

/// Smooth random class probabilities 1 x K x H x W: three Gaussian blobs per class, softmax.
inline tensor bench_probabilities(index_t h, index_t w, index_t k) {
  rng g(7);
  tensor s({1, k, h, w});
  for (index_t c = 0; c < k; ++c)
    for (int b = 0; b < 3; ++b) {
      const double cy = g.uniform(0, h), cx = g.uniform(0, w), r = g.uniform(30, 120), a = g.uniform(1, 4);
      for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x)
          s(0, c, y, x) += static_cast<float>(a * std::exp(-((y - cy) * (y - cy) + (x - cx) * (x - cx)) / (2 * r * r)));
    }
  const index_t n = h * w;
  for (index_t i = 0; i < n; ++i) {
    double z = 0;
    for (index_t c = 0; c < k; ++c) z += std::exp(s[c * n + i] + 0.5 * g.normal());
    for (index_t c = 0; c < k; ++c) s[c * n + i] = static_cast<float>(std::exp(s[c * n + i]) / z);
  }
  return s;
}

struct inputs {
  rgb_image image = bench_image();
  tensor unary = crf::unary_from_probabilities(bench_probabilities(kH, kW, kLabels));
};
}  // namespace bench_crf
