// SPDX-License-Identifier: MIT
// tests/nn/nets_preprocess.test.cpp — the input normalisations of the reference networks
#include <doctest/doctest.h>

#include <vector>

#include "wsss/nn/preprocess.hpp"

using namespace wsss;

TEST_CASE("imagenet_rgb is psa's Normalize: (x / 255 - mean) / std per RGB channel") {
  rgb_image img(2, 3);
  for (index_t y = 0; y < 2; ++y)
    for (index_t x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(40 * y + 20 * x + 70 * c);
  const tensor t = nn::normalize(img, nn::imagenet_rgb);
  REQUIRE(t.shape() == wsss::shape{1, 3, 2, 3});
  const double mean[] = {0.485, 0.456, 0.406}, sd[] = {0.229, 0.224, 0.225};
  for (index_t y = 0; y < 2; ++y)
    for (index_t x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c)
        CHECK(t(0, c, y, x) == doctest::Approx((img(y, x, c) / 255.0 - mean[c]) / sd[c]).epsilon(1e-6));
}

TEST_CASE("caffe_bgr swaps to BGR and subtracts the ILSVRC mean without scaling") {
  rgb_image img(1, 2);
  img(0, 0, 0) = 200;  // R
  img(0, 0, 1) = 100;  // G
  img(0, 0, 2) = 10;   // B
  const tensor t = nn::normalize(img, nn::caffe_bgr);
  CHECK(t(0, 0, 0, 0) == doctest::Approx(10 - 104.008));
  CHECK(t(0, 1, 0, 0) == doctest::Approx(100 - 116.669));
  CHECK(t(0, 2, 0, 0) == doctest::Approx(200 - 122.675));
  CHECK(nn::normalize(img, nn::caffe_bgr_sec)(0, 2, 0, 0) == doctest::Approx(200 - 123.0));
}

TEST_CASE("normalize batches equal-sized images and rejects mixed sizes") {
  std::vector<rgb_image> imgs{rgb_image(4, 5, 10), rgb_image(4, 5, 250)};
  const tensor t = nn::normalize(std::span<const rgb_image>(imgs), nn::caffe_bgr);
  REQUIRE(t.shape() == wsss::shape{2, 3, 4, 5});
  CHECK(t(1, 0, 3, 4) == doctest::Approx(250 - 104.008));
  imgs.emplace_back(5, 4, 0);
  CHECK_THROWS_WITH_AS(nn::normalize(std::span<const rgb_image>(imgs), nn::caffe_bgr),
                       doctest::Contains("[wsss.shape] nn::normalize: image 5x4 does not fit slot 2"), wsss::shape_error);
}
