// SPDX-License-Identifier: MIT
// tests/nn/nets_example.test.cpp — the usage shown in docs/nets.md: build a network, normalise
// an image, run it, save and reload its weights by name.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/nets/resnet38_heads.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/nn/weights.hpp"

using namespace wsss;

TEST_CASE("docs example: DeepLab-LargeFOV and ResNet38 CAMs at a CPU-sized width") {
  const auto file = std::filesystem::temp_directory_path() / "wsss-nets-example.safetensors";
  // example-begin nets-usage
  rng g(7);
  // DeepLab-LargeFOV at 1/8 width: 21 VOC classes, output stride 8.
  nn::deeplab_largefov seg({.width = 0.125, .classes = 21}, g);
  rgb_image img(65, 65, 128);
  const tensor x = nn::normalize(img, nn::caffe_bgr);        // 1 x 3 x 65 x 65, BGR - mean

  ad::tape t;
  t.set_training(false);                                      // dropout off
  const ad::var scores = seg(t, t.leaf(x));                   // 1 x 21 x 9 x 9

  // psa's classification net: ResNet38 + CAM head; CAMs at stride 8.
  nn::resnet38_cls cls({.backbone = {.width = 1.0 / 16}, .classes = 20}, g);
  const ad::var cams = cls.cam(t, t.leaf(nn::normalize(img, nn::imagenet_rgb)));  // 1 x 20 x 9 x 9

  // Weights by name (torch's state_dict keys), to and from safetensors.
  nn::save_weights(cls, file);
  nn::resnet38_cls again({.backbone = {.width = 1.0 / 16}, .classes = 20}, g);
  nn::load_weights(again, file);
  // example-end nets-usage
  CHECK(scores.shape() == wsss::shape{1, 21, 9, 9});
  CHECK(cams.shape() == wsss::shape{1, 20, 9, 9});
  CHECK(nn::state_dict(again).at("fc8.weight").shape() == wsss::shape{20, 256, 1, 1});
  const auto a = nn::state_dict(cls), b = nn::state_dict(again);
  for (const auto& [k, v] : a) CHECK(std::equal(v.begin(), v.end(), b.at(k).begin()));
}
