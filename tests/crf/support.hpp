// SPDX-License-Identifier: MIT
// tests/crf/support.hpp — small synthetic images and unaries shared by the CRF tests
#pragma once

#include <cmath>

#include "wsss/core/image.hpp"
#include "wsss/core/random.hpp"
#include "wsss/core/tensor.hpp"

namespace crf_test {

using namespace wsss;

/// An h x w image with a bright disc on a dark background plus Gaussian noise.
inline rgb_image disc_image(index_t h, index_t w, std::uint64_t seed, double noise = 10.0) {
  rng g(seed);
  rgb_image img(h, w);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      const double dy = y - h / 2.0, dx = x - w / 2.0;
      const bool in = dx * dx + dy * dy < 0.1 * h * w;
      for (int c = 0; c < 3; ++c) {
        const double v = (in ? 190.0 - 30.0 * c : 50.0 + 20.0 * c) + noise * g.normal();
        img(y, x, c) = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  return img;
}

/// Random unary energies N x K x H x W in [0, scale).
inline tensor random_unary(index_t n, index_t k, index_t h, index_t w, std::uint64_t seed, double scale = 2.0) {
  rng g(seed);
  tensor u({n, k, h, w});
  for (auto& v : u) v = static_cast<float>(g.uniform(0.0, scale));
  return u;
}

}  // namespace crf_test
