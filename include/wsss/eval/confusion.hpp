// SPDX-License-Identifier: MIT
// wsss/eval/confusion.hpp — confusion-matrix segmentation metrics with the PASCAL VOC
// conventions: per-class IoU = TP / (TP + FP + FN), mIoU, pixel and mean class accuracy
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>
#include <span>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"

namespace wsss::eval {

/// Accumulates a num_classes x num_classes matrix of pixel counts, rows = ground truth,
/// columns = prediction. Ground-truth pixels equal to `ignore` (255, VOC's void border) are
/// skipped. Any other ground-truth value >= num_classes, or any prediction value >=
/// num_classes at a counted pixel, is a value_error (the reference evaluators drop such pixels
/// silently; here they signal a class-count mismatch).
class confusion_matrix {
 public:
  explicit confusion_matrix(int num_classes, int ignore = ignore_label) : c_(num_classes), ignore_(ignore) {
    if (num_classes < 1 || num_classes > 256)
      throw_value("eval::confusion_matrix", "num_classes must be in 1..256, got ", num_classes);
    counts_.assign(static_cast<std::size_t>(c_) * static_cast<std::size_t>(c_), 0);
  }

  int num_classes() const noexcept { return c_; }
  int ignore() const noexcept { return ignore_; }

  /// Adds one image; pred and gt must have the same size.
  void add(const label_map& pred, const label_map& gt) {
    if (pred.height() != gt.height() || pred.width() != gt.width())
      throw_shape("eval::confusion_matrix", "prediction is ", pred.height(), "x", pred.width(), ", ground truth ",
                  gt.height(), "x", gt.width());
    // Validate first, so a bad pixel leaves the matrix unchanged.
    for (index_t i = 0; i < gt.pixels(); ++i) {
      const int g = gt[i];
      if (g == ignore_) continue;
      if (g >= c_ || pred[i] >= c_)
        throw_value("eval::confusion_matrix", g >= c_ ? "ground-truth" : "predicted", " label ",
                    static_cast<int>(g >= c_ ? g : pred[i]), " >= num_classes ", c_, " at pixel (", i / gt.width(),
                    ", ", i % gt.width(), ")");
    }
    for (index_t i = 0; i < gt.pixels(); ++i)
      if (gt[i] != ignore_) ++counts_[static_cast<std::size_t>(gt[i] * c_ + pred[i])];
  }

  /// Pixels with ground truth `gt` predicted as `pred`.
  std::uint64_t count(int gt, int pred) const {
    if (gt < 0 || gt >= c_ || pred < 0 || pred >= c_)
      throw_value("eval::confusion_matrix", "count(", gt, ", ", pred, ") outside ", c_, " classes");
    return counts_[static_cast<std::size_t>(gt * c_ + pred)];
  }
  /// All counted pixels.
  std::uint64_t total() const noexcept {
    std::uint64_t t = 0;
    for (auto v : counts_) t += v;
    return t;
  }

  /// Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both ground truth and
  /// prediction (0 / 0), so that it can be told apart from a class that is always missed (0).
  std::vector<double> iou() const {
    std::vector<double> out(static_cast<std::size_t>(c_));
    for (int k = 0; k < c_; ++k) {
      const auto tp = at(k, k);
      const auto uni = row_sum(k) + col_sum(k) - tp;
      out[static_cast<std::size_t>(k)] = uni ? static_cast<double>(tp) / static_cast<double>(uni) : nan();
    }
    return out;
  }
  /// Mean IoU over the classes with a non-zero union (VOC convention); NaN if there are none.
  double miou() const { return nan_mean(iou()); }

  /// Correct pixels / counted pixels; NaN when nothing was counted.
  double pixel_accuracy() const {
    const auto t = total();
    std::uint64_t tp = 0;
    for (int k = 0; k < c_; ++k) tp += at(k, k);
    return t ? static_cast<double>(tp) / static_cast<double>(t) : nan();
  }
  /// Per-class accuracy (recall) TP / (TP + FN); NaN for a class absent from the ground truth.
  std::vector<double> class_accuracy() const {
    std::vector<double> out(static_cast<std::size_t>(c_));
    for (int k = 0; k < c_; ++k) {
      const auto n = row_sum(k);
      out[static_cast<std::size_t>(k)] = n ? static_cast<double>(at(k, k)) / static_cast<double>(n) : nan();
    }
    return out;
  }
  /// Mean of class_accuracy over the classes present in the ground truth.
  double mean_accuracy() const { return nan_mean(class_accuracy()); }

  /// Adds another matrix's counts (e.g. from another thread or shard); class counts must match.
  confusion_matrix& merge(const confusion_matrix& other) {
    if (other.c_ != c_ || other.ignore_ != ignore_)
      throw_value("eval::confusion_matrix", "cannot merge a ", other.c_, "-class matrix (ignore ", other.ignore_,
                  ") into a ", c_, "-class matrix (ignore ", ignore_, ")");
    for (std::size_t k = 0; k < counts_.size(); ++k) counts_[k] += other.counts_[k];
    return *this;
  }
  confusion_matrix& operator+=(const confusion_matrix& other) { return merge(other); }
  /// The counts, row-major (ground truth x prediction): how shards on other processes are summed.
  std::span<std::uint64_t> counts() noexcept { return counts_; }
  void reset() noexcept { std::fill(counts_.begin(), counts_.end(), 0); }

  /// A text table: one line per class with IoU and accuracy (in %; "-" where undefined), then
  /// mIoU, pixel accuracy and mean accuracy. `names` (optional) labels the classes.
  std::string table(const std::vector<std::string>& names = {}) const {
    if (!names.empty() && names.size() != static_cast<std::size_t>(c_))
      throw_value("eval::confusion_matrix", "table needs ", c_, " class names, got ", names.size());
    const auto ious = iou();
    const auto accs = class_accuracy();
    std::string out = "class                 IoU%    acc%\n";
    char line[128];
    for (int k = 0; k < c_; ++k) {
      const std::string name = names.empty() ? std::to_string(k) : names[static_cast<std::size_t>(k)];
      std::snprintf(line, sizeof line, "%-18.18s %7s %7s\n", name.c_str(), pct(ious[static_cast<std::size_t>(k)]).c_str(),
                    pct(accs[static_cast<std::size_t>(k)]).c_str());
      out += line;
    }
    std::snprintf(line, sizeof line, "mIoU %s%%  pixel accuracy %s%%  mean accuracy %s%%  (%llu pixels)\n",
                  pct(miou()).c_str(), pct(pixel_accuracy()).c_str(), pct(mean_accuracy()).c_str(),
                  static_cast<unsigned long long>(total()));
    out += line;
    return out;
  }
  friend std::ostream& operator<<(std::ostream& os, const confusion_matrix& m) { return os << m.table(); }

 private:
  static double nan() noexcept { return std::numeric_limits<double>::quiet_NaN(); }
  static double nan_mean(const std::vector<double>& v) {
    double s = 0;
    int n = 0;
    for (double x : v)
      if (!std::isnan(x)) {
        s += x;
        ++n;
      }
    return n ? s / n : nan();
  }
  static std::string pct(double v) {
    if (std::isnan(v)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", 100.0 * v);
    return buf;
  }
  std::uint64_t at(int g, int p) const noexcept { return counts_[static_cast<std::size_t>(g * c_ + p)]; }
  std::uint64_t row_sum(int g) const noexcept {
    std::uint64_t s = 0;
    for (int p = 0; p < c_; ++p) s += at(g, p);
    return s;
  }
  std::uint64_t col_sum(int p) const noexcept {
    std::uint64_t s = 0;
    for (int g = 0; g < c_; ++g) s += at(g, p);
    return s;
  }

  int c_;
  int ignore_;
  std::vector<std::uint64_t> counts_;
};

}  // namespace wsss::eval
