// SPDX-License-Identifier: MIT
// tests/support/synthesis_batch.hpp — a batch of test scenes as the columns that
// affinitynet::synthesize over a batch takes (images, features, CAMs)
#pragma once

#include <vector>

#include "wsss/core/image.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss_test {

struct synthesis_columns {
  std::vector<wsss::rgb_image> imgs;
  std::vector<wsss::tensor> feats, cams;
};

/// The columns of scenes with members img, features and cams (copies).
template <class Scene>
synthesis_columns columns_of(const std::vector<Scene>& scenes) {
  synthesis_columns c;
  for (const Scene& s : scenes) {
    c.imgs.push_back(s.img);
    c.feats.push_back(s.features);
    c.cams.push_back(s.cams);
  }
  return c;
}

}  // namespace wsss_test
