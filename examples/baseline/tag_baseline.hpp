// SPDX-License-Identifier: MIT
// examples/baseline/tag_baseline.hpp — a colour heuristic tuned to the scenes dataset, kept as a
// comparison row only (not part of the library): foreground = colours far from the image
// border's colour line, split among the tags by chromaticity k-means, clusters matched to tags
// by shape prototypes learnt from single-tag images. It knows how scenes are drawn; a learned
// method does not.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"

namespace baseline {

using namespace wsss;

struct baseline_options {
  int border = 3;               // width of the frame whose colours model the background
  double extend = 0.25;         // the background colour segment is extended by this share each way
  double min_distance = 24.0;   // floor of the foreground threshold (RGB distance, 0..255 scale)
  int kmeans_iterations = 12;
};

/// Shape features of a region (symmetric under left-right mirroring): log(height / width) of
/// its bounding box, fill = area / box area, share of the area in the upper half of the box,
/// and fill of the box's central vertical third.
using shape_features = std::array<double, 4>;

namespace detail {

inline shape_features region_features(const std::vector<std::uint8_t>& region, index_t h, index_t w) {
  index_t y0 = h, y1 = -1, x0 = w, x1 = -1, area = 0;
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      if (region[static_cast<std::size_t>(y * w + x)]) {
        y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
        ++area;
      }
  if (area == 0) return {0, 0, 0, 0};
  const double bh = static_cast<double>(y1 - y0 + 1), bw = static_cast<double>(x1 - x0 + 1);
  index_t upper = 0, centre = 0, centre_box = 0;
  const index_t cx0 = x0 + (x1 - x0 + 1) / 3, cx1 = x1 - (x1 - x0 + 1) / 3;
  for (index_t y = y0; y <= y1; ++y)
    for (index_t x = x0; x <= x1; ++x) {
      const bool in = region[static_cast<std::size_t>(y * w + x)] != 0;
      if (in && 2 * (y - y0) < y1 - y0 + 1) ++upper;
      if (x >= cx0 && x <= cx1) {
        ++centre_box;
        centre += in;
      }
    }
  return {std::log(bh / bw), static_cast<double>(area) / (bh * bw), static_cast<double>(upper) / static_cast<double>(area),
          centre_box ? static_cast<double>(centre) / static_cast<double>(centre_box) : 0.0};
}

}  // namespace detail

/// Per-pixel distance (RGB, 0..255 scale) to the background model: the segment through the
/// border pixels' colours along their principal direction, extended by opt.extend each way.
/// Every procedural scenes background is a blend of two colours, so it lies near this segment.
inline std::vector<float> border_distance(const rgb_image& img, const baseline_options& opt = {}) {
  const index_t h = img.height(), w = img.width();
  if (h < 2 * opt.border + 1 || w < 2 * opt.border + 1)
    throw_shape("baseline::border_distance", "image ", h, "x", w, " is too small for a border of ", opt.border);
  std::vector<std::array<double, 3>> samples;
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      if (y < opt.border || y >= h - opt.border || x < opt.border || x >= w - opt.border)
        samples.push_back({double(img(y, x, 0)), double(img(y, x, 1)), double(img(y, x, 2))});
  std::array<double, 3> mean{};
  for (const auto& s : samples)
    for (int c = 0; c < 3; ++c) mean[c] += s[c] / static_cast<double>(samples.size());
  // Principal direction by power iteration on the 3x3 covariance.
  double cov[3][3] = {};
  for (const auto& s : samples)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) cov[a][b] += (s[a] - mean[a]) * (s[b] - mean[b]);
  std::array<double, 3> dir = {1, 1, 1};
  for (int it = 0; it < 50; ++it) {
    std::array<double, 3> next{};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) next[a] += cov[a][b] * dir[b];
    const double n = std::sqrt(next[0] * next[0] + next[1] * next[1] + next[2] * next[2]);
    if (n < 1e-12) break;
    for (int a = 0; a < 3; ++a) dir[a] = next[a] / n;
  }
  const double dn = std::sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
  for (auto& d : dir) d /= dn;
  double lo = std::numeric_limits<double>::max(), hi = std::numeric_limits<double>::lowest();
  for (const auto& s : samples) {
    const double t = (s[0] - mean[0]) * dir[0] + (s[1] - mean[1]) * dir[1] + (s[2] - mean[2]) * dir[2];
    lo = std::min(lo, t), hi = std::max(hi, t);
  }
  const double pad = opt.extend * (hi - lo);
  lo -= pad, hi += pad;
  std::vector<float> out(static_cast<std::size_t>(h * w));
  for (index_t i = 0; i < h * w; ++i) {
    const double p[3] = {double(img.data()[i * 3]) - mean[0], double(img.data()[i * 3 + 1]) - mean[1],
                         double(img.data()[i * 3 + 2]) - mean[2]};
    const double t = std::clamp(p[0] * dir[0] + p[1] * dir[1] + p[2] * dir[2], lo, hi);
    double d2 = 0;
    for (int c = 0; c < 3; ++c) d2 += (p[c] - t * dir[c]) * (p[c] - t * dir[c]);
    out[static_cast<std::size_t>(i)] = static_cast<float>(std::sqrt(d2));
  }
  return out;
}

/// Otsu's threshold of values in [0, 256): the split maximising the between-class variance
/// of a 256-bin histogram (values above 255 fall in the last bin).
inline double otsu_threshold(const std::vector<float>& values) {
  std::array<double, 256> hist{};
  for (float v : values) hist[static_cast<std::size_t>(std::clamp(v, 0.0f, 255.0f))] += 1;
  const double n = static_cast<double>(values.size());
  double total = 0;
  for (int i = 0; i < 256; ++i) total += i * hist[static_cast<std::size_t>(i)];
  double w0 = 0, sum0 = 0, best = -1, thr = 0;
  for (int t = 0; t < 255; ++t) {
    w0 += hist[static_cast<std::size_t>(t)];
    sum0 += t * hist[static_cast<std::size_t>(t)];
    if (w0 == 0 || w0 == n) continue;
    const double m0 = sum0 / w0, m1 = (total - sum0) / (n - w0);
    const double between = w0 * (n - w0) * (m0 - m1) * (m0 - m1);
    if (between > best) best = between, thr = t + 1.0;
  }
  return thr;
}

/// The tag-only baseline. fit() learns one shape prototype per class from images with exactly
/// one tag (there, all foreground is that class: the weak label says so); predict() labels the
/// foreground of an image with its tags.
class tag_baseline {
 public:
  explicit tag_baseline(int num_classes, baseline_options opt = {}) : c_(num_classes), opt_(opt) {
    if (num_classes < 2 || num_classes > 255)
      throw_value("baseline::tag_baseline", "num_classes must be in 2..255, got ", num_classes);
    sums_.assign(static_cast<std::size_t>(c_), shape_features{});
    sq_.assign(static_cast<std::size_t>(c_), shape_features{});
    counts_.assign(static_cast<std::size_t>(c_), 0);
  }

  /// Foreground (1) / background (0) by thresholding border_distance at
  /// max(opt.min_distance, Otsu).
  std::vector<std::uint8_t> foreground(const rgb_image& img) const {
    const auto d = border_distance(img, opt_);
    const double thr = std::max(opt_.min_distance, otsu_threshold(d));
    std::vector<std::uint8_t> fg(d.size());
    for (std::size_t i = 0; i < d.size(); ++i) fg[i] = d[i] >= thr;
    return fg;
  }

  /// Accumulates the shape features of a single-tag image under its class; other images are
  /// skipped (returns whether the image was used).
  bool fit(const rgb_image& img, const std::vector<int>& tags) {
    check_tags(tags);
    if (tags.size() != 1) return false;
    const auto f = detail::region_features(foreground(img), img.height(), img.width());
    const auto c = static_cast<std::size_t>(tags[0]);
    for (std::size_t k = 0; k < f.size(); ++k) {
      sums_[c][k] += f[k];
      sq_[c][k] += f[k] * f[k];
    }
    ++counts_[c];
    return true;
  }
  /// Number of single-tag images seen for class c.
  int examples(int c) const { return counts_.at(static_cast<std::size_t>(c)); }

  /// Labels: 0 for background; the foreground goes to the tags. One tag: all of it. k tags:
  /// k-means on chromaticity splits it into k colour clusters, and the cluster-to-tag matching
  /// minimising the summed normalised feature distance to the class prototypes wins (classes
  /// without a prototype cost the same for every cluster; ties keep ascending tag order).
  label_map predict(const rgb_image& img, const std::vector<int>& tags) const {
    check_tags(tags);
    const index_t h = img.height(), w = img.width();
    label_map out(h, w, 0);
    if (tags.empty()) return out;
    const auto fg = foreground(img);
    if (tags.size() == 1) {
      for (index_t i = 0; i < h * w; ++i)
        if (fg[static_cast<std::size_t>(i)]) out[i] = static_cast<std::uint8_t>(tags[0]);
      return out;
    }
    const auto cluster = chroma_kmeans(img, fg, static_cast<int>(tags.size()));
    const int k = static_cast<int>(tags.size());
    // cost[j][t]: cluster j as tag t.
    std::vector<std::vector<double>> cost(static_cast<std::size_t>(k), std::vector<double>(static_cast<std::size_t>(k), 0));
    for (int j = 0; j < k; ++j) {
      std::vector<std::uint8_t> region(fg.size());
      for (std::size_t i = 0; i < fg.size(); ++i) region[i] = cluster[i] == j;
      const auto f = detail::region_features(region, h, w);
      for (int t = 0; t < k; ++t) cost[static_cast<std::size_t>(j)][static_cast<std::size_t>(t)] = prototype_distance(f, tags[static_cast<std::size_t>(t)]);
    }
    std::vector<int> perm(static_cast<std::size_t>(k)), best;
    std::iota(perm.begin(), perm.end(), 0);
    double best_cost = std::numeric_limits<double>::max();
    if (k <= 6) {
      do {
        double s = 0;
        for (int j = 0; j < k; ++j) s += cost[static_cast<std::size_t>(j)][static_cast<std::size_t>(perm[static_cast<std::size_t>(j)])];
        if (s < best_cost - 1e-12) best_cost = s, best = perm;
      } while (std::next_permutation(perm.begin(), perm.end()));
    } else {
      best = perm;
    }
    for (std::size_t i = 0; i < fg.size(); ++i)
      if (fg[i]) out[static_cast<index_t>(i)] = static_cast<std::uint8_t>(tags[static_cast<std::size_t>(best[static_cast<std::size_t>(cluster[i])])]);
    return out;
  }

 private:
  void check_tags(const std::vector<int>& tags) const {
    for (int t : tags)
      if (t < 1 || t >= c_) throw_value("baseline::tag_baseline", "tag ", t, " outside 1..", c_ - 1);
  }

  double prototype_distance(const shape_features& f, int c) const {
    const auto n = counts_[static_cast<std::size_t>(c)];
    if (n == 0) return 0.0;
    double d = 0;
    for (std::size_t k = 0; k < f.size(); ++k) {
      const double mean = sums_[static_cast<std::size_t>(c)][k] / n;
      const double var = std::max(sq_[static_cast<std::size_t>(c)][k] / n - mean * mean, 0.0) + 1e-3;
      d += (f[k] - mean) * (f[k] - mean) / var;
    }
    return d;
  }

  // Cluster index per pixel (-1 off the foreground); seeds by farthest-point traversal from the
  // foreground's mean chromaticity, so the result is deterministic.
  std::vector<int> chroma_kmeans(const rgb_image& img, const std::vector<std::uint8_t>& fg, int k) const {
    std::vector<std::array<double, 2>> pts;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < fg.size(); ++i)
      if (fg[i]) {
        const double r = img.data()[i * 3], g = img.data()[i * 3 + 1], b = img.data()[i * 3 + 2];
        const double s = r + g + b + 1.0;
        pts.push_back({r / s, g / s});
        where.push_back(i);
      }
    std::vector<int> label(fg.size(), -1);
    if (pts.empty()) return label;
    const auto d2 = [](const std::array<double, 2>& a, const std::array<double, 2>& b) {
      return (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]);
    };
    std::array<double, 2> mean{};
    for (const auto& p : pts) mean[0] += p[0] / static_cast<double>(pts.size()), mean[1] += p[1] / static_cast<double>(pts.size());
    std::vector<std::array<double, 2>> centres;
    std::vector<double> nearest(pts.size(), std::numeric_limits<double>::max());
    std::array<double, 2> from = mean;
    for (int j = 0; j < k; ++j) {
      std::size_t far = 0;
      for (std::size_t p = 0; p < pts.size(); ++p) {
        nearest[p] = std::min(nearest[p], d2(pts[p], from));
        if (nearest[p] > nearest[far]) far = p;
      }
      centres.push_back(pts[far]);
      from = pts[far];
    }
    std::vector<int> assign(pts.size(), 0);
    for (int it = 0; it < opt_.kmeans_iterations; ++it) {
      for (std::size_t p = 0; p < pts.size(); ++p) {
        int bj = 0;
        for (int j = 1; j < k; ++j)
          if (d2(pts[p], centres[static_cast<std::size_t>(j)]) < d2(pts[p], centres[static_cast<std::size_t>(bj)])) bj = j;
        assign[p] = bj;
      }
      std::vector<std::array<double, 3>> acc(static_cast<std::size_t>(k), {0, 0, 0});
      for (std::size_t p = 0; p < pts.size(); ++p) {
        auto& a = acc[static_cast<std::size_t>(assign[p])];
        a[0] += pts[p][0], a[1] += pts[p][1], a[2] += 1;
      }
      for (int j = 0; j < k; ++j) {
        const auto& a = acc[static_cast<std::size_t>(j)];
        if (a[2] > 0) centres[static_cast<std::size_t>(j)] = {a[0] / a[2], a[1] / a[2]};
      }
    }
    for (std::size_t p = 0; p < pts.size(); ++p) label[where[p]] = assign[p];
    return label;
  }

  int c_;
  baseline_options opt_;
  std::vector<shape_features> sums_, sq_;
  std::vector<int> counts_;
};

}  // namespace baseline
