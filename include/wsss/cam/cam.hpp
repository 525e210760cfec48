// SPDX-License-Identifier: MIT
// wsss/cam/cam.hpp — class activation maps (Zhou et al. 2016; AffinityNet eq. 1) aggregated over
// scales and flips as psa's infer_cls does, ReLU'd, absent classes zeroed, max-normalised
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/nn/preprocess.hpp"

namespace wsss::cam {

/// How the CAMs of one image are aggregated (psa infer_cls.py).
struct multiscale_config {
  std::vector<double> scales{1.0, 0.5, 1.5, 2.0};  ///< input sizes round(s * H) x round(s * W)
  bool flip = true;                                ///< also the horizontally flipped input
  float eps = 1e-5f;                               ///< guard of the max normalisation
  nn::normalization input = nn::imagenet_rgb;     ///< the network's input normalisation

  void validate(std::string_view component) const {
    if (scales.empty()) throw_value(component, "needs at least one CAM scale");
    for (double s : scales)
      if (!(s > 0.0) || !std::isfinite(s)) throw_value(component, "CAM scale ", s, " is not a positive number");
    if (!(eps > 0.0f)) throw_value(component, "eps must be > 0, got ", eps);
  }
};

/// Mirrors the last axis of an N x C x H x W tensor.
inline tensor flip_horizontal(const tensor& x) {
  expect_rank(x, 4, "cam::flip_horizontal", "x", "N x C x H x W");
  tensor y = tensor::uninitialized(x.shape());
  const index_t rows = x.dim(0) * x.dim(1) * x.dim(2), w = x.dim(3);
  for (index_t r = 0; r < rows; ++r) std::reverse_copy(x.data() + r * w, x.data() + (r + 1) * w, y.data() + r * w);
  return y;
}

/// Normalises the summed maps in place: absent classes (not in `tags`, ids 1..K) zeroed, each
/// present class divided by its spatial max + eps (psa: values in [0, 1)). sum: K x H x W.
inline void normalise_present(tensor& sum, const tag_set& tags, float eps) {
  const index_t k = sum.dim(0), hw = sum.dim(1) * sum.dim(2);
  std::vector<bool> present(static_cast<std::size_t>(k), false);
  for (int t : tags) {
    if (t < 1 || t > k) throw_value("cam::normalise_present", "tag ", t, " is outside the CAM classes 1..", k);
    present[static_cast<std::size_t>(t - 1)] = true;
  }
  for (index_t c = 0; c < k; ++c) {
    float* p = sum.data() + c * hw;
    if (!present[static_cast<std::size_t>(c)]) {
      std::fill(p, p + hw, 0.0f);
      continue;
    }
    const float inv = 1.0f / (std::max(0.0f, *std::max_element(p, p + hw)) + eps);
    for (index_t i = 0; i < hw; ++i) p[i] = std::max(0.0f, p[i]) * inv;
  }
}

/// Eq. 1 aggregated as the reference does. `cam_of` maps a normalised input N x 3 x h x w to
/// ReLU'd class activation maps N x K x h' x w' (K foreground classes, class c + 1 in channel c);
/// every scale's maps (and its mirrored input's, flipped back) are upsampled bilinearly to
/// H x W and SUMMED, then normalise_present. Returns K x H x W in [0, 1).
/// The input image is rescaled bilinearly (psa: PIL bicubic) in normalised space.
template <class CamOf>
tensor multiscale(CamOf&& cam_of, const rgb_image& img, const tag_set& tags, const multiscale_config& cfg = {}) {
  constexpr std::string_view comp = "cam::multiscale";
  cfg.validate(comp);
  if (img.empty()) throw_shape(comp, "image is empty");
  const index_t h = img.height(), w = img.width();
  const tensor x = nn::normalize(img, cfg.input);
  tensor sum;
  for (double s : cfg.scales) {
    const index_t sh = std::max<index_t>(1, std::llround(s * static_cast<double>(h)));
    const index_t sw = std::max<index_t>(1, std::llround(s * static_cast<double>(w)));
    const tensor xs = (sh == h && sw == w) ? x : resize_bilinear(x, sh, sw);
    // The plain and mirrored inputs go through the network as one batch of two.
    tensor in = xs;
    if (cfg.flip) {
      in = tensor::uninitialized({2, 3, sh, sw});
      const tensor xf = flip_horizontal(xs);
      std::copy_n(xs.data(), xs.numel(), in.data());
      std::copy_n(xf.data(), xf.numel(), in.data() + xs.numel());
    }
    const tensor maps = cam_of(in);
    expect_rank(maps, 4, comp, "network CAMs", "N x K x h x w");
    if (maps.dim(0) != in.dim(0)) throw_shape(comp, "network returned ", maps.dim(0), " maps for ", in.dim(0), " inputs");
    tensor up = resize_bilinear(maps, h, w);
    const index_t k = up.dim(1), n = k * h * w;
    if (sum.empty()) sum = tensor({k, h, w});
    if (sum.dim(0) != k) throw_shape(comp, "network changed its class count from ", sum.dim(0), " to ", k);
    if (cfg.flip) {
      const tensor back = flip_horizontal(tensor::from({1, k, h, w}, std::span<const float>(up.data() + n, n)));
      for (index_t i = 0; i < n; ++i) sum[i] += up[i] + back[i];
    } else {
      for (index_t i = 0; i < n; ++i) sum[i] += up[i];
    }
  }
  normalise_present(sum, tags, cfg.eps);
  return sum;
}

}  // namespace wsss::cam
