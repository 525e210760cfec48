// SPDX-License-Identifier: MIT
// wsss/cam/background.hpp — the background activation map M_bg = (1 - max_c M_c)^alpha
// (AffinityNet eq. 2) and the compact [background, present classes] score stack
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::cam {

namespace detail {
/// Largest magnitude bit pattern of a plane: 0 when every value is +-0, >= 0x7f800000 when
/// some value is NaN or infinite. One vectorised pass (no early exit).
inline std::uint32_t max_magnitude_bits(const float* p, index_t n) noexcept {
  std::uint32_t m = 0;
  for (index_t i = 0; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, p + i, sizeof b);
    m = std::max(m, b & 0x7fffffffu);
  }
  return m;
}

/// The channels of CAMs (K x H x W with pixels, every value finite: checked, naming comp) that
/// hold a non-zero value.
inline std::vector<index_t> nonzero_channels(const tensor& cams, std::string_view comp) {
  expect_rank(cams, 3, comp, "CAMs", "K x H x W");
  const index_t k = cams.dim(0), hw = cams.dim(1) * cams.dim(2);
  if (hw == 0) throw_shape(comp, "CAMs have no pixel: ", cams.shape());
  std::vector<index_t> nonzero;
  for (index_t c = 0; c < k; ++c) {
    const std::uint32_t m = max_magnitude_bits(cams.data() + c * hw, hw);
    if (m >= 0x7f800000u) expect_finite(cams, comp, "CAMs");
    if (m != 0) nonzero.push_back(c);
  }
  return nonzero;
}
}  // namespace detail

/// Eq. 2 on normalised foreground CAMs K x H x W (values in [0, 1]): (K + 1) x H x W with
/// channel 0 = (1 - max_c M_c)^alpha and channel c + 1 = M_c, not renormalised (psa).
inline tensor with_background(const tensor& cams, float alpha) {
  constexpr std::string_view comp = "cam::with_background";
  expect_rank(cams, 3, comp, "CAMs", "K x H x W");
  expect_finite(cams, comp, "CAMs");
  if (!(alpha > 0.0f) || !std::isfinite(alpha)) throw_value(comp, "alpha must be finite and > 0, got ", alpha);
  const index_t k = cams.dim(0), hw = cams.dim(1) * cams.dim(2);
  tensor out = tensor::uninitialized({k + 1, cams.dim(1), cams.dim(2)});
  std::copy_n(cams.data(), cams.numel(), out.data() + hw);
  for (index_t i = 0; i < hw; ++i) {
    float mx = 0.0f;
    for (index_t c = 0; c < k; ++c) mx = std::max(mx, cams[c * hw + i]);
    out[i] = std::pow(std::max(0.0f, 1.0f - mx), alpha);
  }
  return out;
}

/// The channels the reference keeps: [0] + the present classes in ascending order, from a
/// (K + 1) x H x W stack (channel c = class c). Returns (1 + |tags|) x H x W.
inline tensor present_channels(const tensor& scores, const tag_set& tags) {
  constexpr std::string_view comp = "cam::present_channels";
  expect_rank(scores, 3, comp, "scores", "(K + 1) x H x W");
  const index_t hw = scores.dim(1) * scores.dim(2);
  validate_tags(tags, static_cast<int>(scores.dim(0)), comp);
  tensor out = tensor::uninitialized({static_cast<index_t>(tags.size()) + 1, scores.dim(1), scores.dim(2)});
  std::copy_n(scores.data(), hw, out.data());
  for (std::size_t j = 0; j < tags.size(); ++j)
    std::copy_n(scores.data() + tags[j] * hw, hw, out.data() + static_cast<index_t>(j + 1) * hw);
  return out;
}

/// Maps compact labels (0 = background, j = tags[j - 1]) back to class ids; 255 stays 255.
inline label_map expand_labels(const label_map& compact, const tag_set& tags) {
  label_map out(compact.height(), compact.width());
  for (index_t i = 0; i < compact.pixels(); ++i) {
    const std::uint8_t v = compact[i];
    if (v == ignore_label || v == 0) {
      out[i] = v;
    } else {
      if (v > tags.size()) throw_value("cam::expand_labels", "compact label ", int(v), " but only ", tags.size(), " tags");
      out[i] = static_cast<std::uint8_t>(tags[v - 1]);
    }
  }
  return out;
}

/// Makes every pixel of a C x H x W score stack a distribution over its C channels: negative
/// scores count as 0, each pixel divided by its sum (uniform where all are 0). The dense CRF's
/// unary reads the walk's revised scores this way (sec. 3.4).
inline void normalise_pixels(tensor& p) {
  expect_rank(p, 3, "cam::normalise_pixels", "scores", "C x H x W");
  const index_t k = p.dim(0), hw = p.dim(1) * p.dim(2);
  for (index_t i = 0; i < hw; ++i) {
    double s = 0;
    for (index_t c = 0; c < k; ++c) s += std::max(0.0f, p[c * hw + i]);
    const float inv = s > 0 ? static_cast<float>(1.0 / s) : 1.0f / static_cast<float>(k);
    for (index_t c = 0; c < k; ++c) p[c * hw + i] = s > 0 ? std::max(0.0f, p[c * hw + i]) * inv : inv;
  }
}

/// Labels from CAMs alone (psa's --out_cam_pred): argmax over [threshold, M_1 .. M_K] with a
/// constant background score. cams: K x H x W normalised.
inline label_map threshold_labels(const tensor& cams, float background) {
  expect_rank(cams, 3, "cam::threshold_labels", "CAMs", "K x H x W");
  const index_t k = cams.dim(0), hw = cams.dim(1) * cams.dim(2);
  label_map out(cams.dim(1), cams.dim(2));
  for (index_t i = 0; i < hw; ++i) {
    float best = background;
    int lab = 0;
    for (index_t c = 0; c < k; ++c)
      if (cams[c * hw + i] > best) {
        best = cams[c * hw + i];
        lab = static_cast<int>(c + 1);
      }
    out[i] = static_cast<std::uint8_t>(lab);
  }
  return out;
}

}  // namespace wsss::cam
