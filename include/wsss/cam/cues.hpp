// SPDX-License-Identifier: MIT
// wsss/cam/cues.hpp — SEC's localisation cues (Kolesnikov & Lampert 2016 sec. 3-4,
// reference-semantics 2.7): foreground cues from a CAM network's heat maps, background cues
// from a gradient saliency map (Simonyan et al. 2014), one label per pixel
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::cam {

/// The numbers of SEC's weak localisation.
struct cue_config {
  float fg_threshold = 0.2f;  ///< foreground cue where h_c > fg_threshold * max_u h_c
  float bg_fraction = 0.1f;   ///< background cue: saliency below the value at rank int(bg_fraction * n)
  int median = 3;             ///< median filter side of the saliency map (odd; 1 = none)

  void validate(std::string_view who) const {
    if (!(fg_threshold >= 0.0f && fg_threshold < 1.0f)) throw_value(who, "fg_threshold must be in [0, 1), got ", fg_threshold);
    if (!(bg_fraction >= 0.0f && bg_fraction <= 1.0f)) throw_value(who, "bg_fraction must be in [0, 1], got ", bg_fraction);
    if (median < 1 || median % 2 == 0) throw_value(who, "median must be odd and >= 1, got ", median);
  }
};

/// Foreground cues from heat maps h (K x h x w, channel c - 1 = foreground class c, e.g. the
/// CAM network's sum_k w_{c,k} f_k without ReLU): for every class c in `tags`, the pixels with
/// h_c > threshold * max_u h_c (none when that max is <= 0). Overlap rule: a pixel claimed by
/// several classes takes the one with the largest h_c / max h_c. Other pixels: ignore_label.
inline label_map foreground_cues(const tensor& heat, const tag_set& tags, float threshold) {
  constexpr std::string_view who = "cam::foreground_cues";
  if (heat.rank() != 3) throw_shape(who, "heat maps must be K x h x w, got ", heat.shape());
  validate_tags(tags, static_cast<int>(heat.dim(0)) + 1, who);
  const index_t h = heat.dim(1), w = heat.dim(2), n = h * w;
  label_map out(h, w);
  std::fill_n(out.data(), n, ignore_label);
  std::vector<float> best(static_cast<std::size_t>(n), 0.0f);
  for (int c : tags) {
    const float* m = heat.data() + static_cast<index_t>(c - 1) * n;
    if (!std::all_of(m, m + n, [](float v) { return std::isfinite(v); }))
      throw_value(who, "heat map of class ", c, " is not finite");
    const float mx = *std::max_element(m, m + n);
    if (!(mx > 0.0f)) continue;
    for (index_t u = 0; u < n; ++u) {
      const float r = m[u] / mx;
      if (r > threshold && r > best[static_cast<std::size_t>(u)]) {
        best[static_cast<std::size_t>(u)] = r;
        out.data()[u] = static_cast<std::uint8_t>(c);
      }
    }
  }
  return out;
}

/// Simonyan et al.'s saliency of a gradient g (C x h x w, d scores / d a layer's input):
/// max_c |g_c|, then a side x side median filter (edges reflected, scipy's default) -> h x w.
inline tensor saliency(const tensor& grad, int side = 3) {
  constexpr std::string_view who = "cam::saliency";
  if (grad.rank() != 3) throw_shape(who, "gradient must be C x h x w, got ", grad.shape());
  if (side < 1 || side % 2 == 0) throw_value(who, "median side must be odd and >= 1, got ", side);
  const index_t c = grad.dim(0), h = grad.dim(1), w = grad.dim(2), n = h * w;
  tensor mx({h, w}, 0.0f);
  for (index_t k = 0; k < c; ++k)
    for (index_t u = 0; u < n; ++u) mx[u] = std::max(mx[u], std::abs(grad[k * n + u]));
  if (side == 1) return mx;
  const index_t r = side / 2;
  auto reflect = [](index_t i, index_t len) {  // ... b a | a b c ... (half-sample symmetric)
    while (i < 0 || i >= len) i = i < 0 ? -i - 1 : 2 * len - i - 1;
    return i;
  };
  tensor out({h, w});
  std::vector<float> win(static_cast<std::size_t>(side * side));
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      std::size_t k = 0;
      for (index_t dy = -r; dy <= r; ++dy)
        for (index_t dx = -r; dx <= r; ++dx) win[k++] = mx(reflect(y + dy, h), reflect(x + dx, w));
      std::nth_element(win.begin(), win.begin() + static_cast<std::ptrdiff_t>(win.size() / 2), win.end());
      out(y, x) = win[win.size() / 2];
    }
  return out;
}

/// Background cues of a saliency map s (h x w): the pixels whose saliency is strictly below the
/// value at ascending rank int(fraction * n), i.e. at most the least salient `fraction` of them
/// (fewer on ties, as the reference's counts of at most 168 of 41 x 41 show).
inline std::vector<bool> background_cues(const tensor& s, float fraction) {
  if (s.rank() != 2) throw_shape("cam::background_cues", "saliency must be h x w, got ", s.shape());
  if (!(fraction >= 0.0f && fraction <= 1.0f)) throw_value("cam::background_cues", "fraction must be in [0, 1], got ", fraction);
  const index_t n = s.numel();
  std::vector<bool> bg(static_cast<std::size_t>(n), false);
  const auto k = static_cast<index_t>(fraction * static_cast<float>(n));
  if (k <= 0) return bg;
  if (k >= n) return std::vector<bool>(static_cast<std::size_t>(n), true);
  std::vector<float> v(s.begin(), s.end());
  std::nth_element(v.begin(), v.begin() + k, v.end());
  const float cut = v[static_cast<std::size_t>(k)];
  for (index_t u = 0; u < n; ++u) bg[static_cast<std::size_t>(u)] = s[u] < cut;
  return bg;
}

/// One cue map from both: foreground cues win over background ones (the reference's cues never
/// label a pixel twice and hold fewer background pixels than the 10% cut), background 0
/// elsewhere in the background set, ignore_label on the rest.
inline label_map combine_cues(const label_map& fg, const std::vector<bool>& bg) {
  if (static_cast<index_t>(bg.size()) != fg.pixels())
    throw_shape("cam::combine_cues", "background mask has ", bg.size(), " pixels, foreground cues ", fg.pixels());
  label_map out = fg;
  for (index_t u = 0; u < out.pixels(); ++u)
    if (out.data()[u] == ignore_label && bg[static_cast<std::size_t>(u)]) out.data()[u] = 0;
  return out;
}

}  // namespace wsss::cam
