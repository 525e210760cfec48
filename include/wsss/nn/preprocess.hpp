// SPDX-License-Identifier: MIT
// wsss/nn/preprocess.hpp — input normalisation the reference networks expect: ImageNet mean/std
// on RGB in [0, 1] (ResNet38, torchvision), BGR mean subtraction on 0..255 (Caffe VGG16/DeepLab)
#pragma once

#include <array>
#include <span>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::nn {

/// Per-channel affine normalisation of 8-bit RGB: out[c] = (in[src[c]] * scale - mean[c]) / std[c],
/// where src picks the input channel feeding output channel c (identity for RGB, {2, 1, 0} for BGR).
struct normalization {
  std::array<int, 3> src{0, 1, 2};
  float scale = 1.0f;
  std::array<float, 3> mean{0, 0, 0};
  std::array<float, 3> stddev{1, 1, 1};
};

/// psa's resnet38d.Normalize and torchvision: RGB, (x / 255 - mean) / std with the ImageNet
/// statistics mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
inline constexpr normalization imagenet_rgb{{0, 1, 2}, 1.0f / 255.0f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

/// Caffe's VGG16 (psa's VGG variant, DeepLab): BGR order, 0..255 minus the ILSVRC mean
/// (104.008, 116.669, 122.675), no scaling. SEC's prototxt rounds the mean to (104, 117, 123).
inline constexpr normalization caffe_bgr{{2, 1, 0}, 1.0f, {104.008f, 116.669f, 122.675f}, {1.0f, 1.0f, 1.0f}};
/// SEC's rounded BGR mean (train.prototxt).
inline constexpr normalization caffe_bgr_sec{{2, 1, 0}, 1.0f, {104.0f, 117.0f, 123.0f}, {1.0f, 1.0f, 1.0f}};

/// Writes image into batch slot n of an N x 3 x H x W tensor, normalised.
inline void normalize_into(const rgb_image& img, const normalization& nz, tensor& batch, index_t n) {
  expect_rank(batch, 4, "nn::normalize", "batch", "N x 3 x H x W");
  if (batch.dim(1) != 3 || batch.dim(2) != img.height() || batch.dim(3) != img.width() || n < 0 || n >= batch.dim(0))
    throw_shape("nn::normalize", "image ", img.height(), "x", img.width(), " does not fit slot ", n, " of batch ",
                batch.shape());
  for (int c = 0; c < 3; ++c)
    if (!(nz.stddev[static_cast<std::size_t>(c)] > 0.0f) || nz.src[static_cast<std::size_t>(c)] < 0 ||
        nz.src[static_cast<std::size_t>(c)] > 2)
      throw_value("nn::normalize", "channel ", c, " needs a positive std and a source channel in 0..2");
  const index_t hw = img.pixels();
  const std::uint8_t* px = img.data();
  float* out = batch.data() + n * 3 * hw;
  for (std::size_t c = 0; c < 3; ++c) {
    const float a = nz.scale / nz.stddev[c], b = -nz.mean[c] / nz.stddev[c];
    const int s = nz.src[c];
    float* o = out + static_cast<index_t>(c) * hw;
    for (index_t i = 0; i < hw; ++i) o[i] = a * static_cast<float>(px[i * 3 + s]) + b;
  }
}

/// One image as a normalised 1 x 3 x H x W network input.
inline tensor normalize(const rgb_image& img, const normalization& nz) {
  tensor t = tensor::uninitialized({1, 3, img.height(), img.width()});
  normalize_into(img, nz, t, 0);
  return t;
}

/// Equal-sized images as one normalised N x 3 x H x W batch.
inline tensor normalize(std::span<const rgb_image> imgs, const normalization& nz) {
  if (imgs.empty()) throw_value("nn::normalize", "needs at least one image");
  tensor t = tensor::uninitialized({static_cast<index_t>(imgs.size()), 3, imgs[0].height(), imgs[0].width()});
  for (std::size_t i = 0; i < imgs.size(); ++i) normalize_into(imgs[i], nz, t, static_cast<index_t>(i));
  return t;
}

}  // namespace wsss::nn
