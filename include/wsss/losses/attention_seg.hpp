// SPDX-License-Identifier: MIT
// wsss/losses/attention_seg.hpp — the object segmentation "loss" of the attention paper (Roy &
// Todorovic 2017, eq. 15): a per-pixel binary cross-entropy between the attention maps p^A and
// the segmentation p^S over the classes present in the image
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::losses {

namespace detail {

/// L = (1/B) sum_n -1/(N |Y_n|) sum_i sum_{y in Y_n} [a log q + (1 - a) log(1 - q)],
/// q clamped to [eps, 1 - eps] (no gradient where clamped), a = p^A a constant target.
struct attention_seg_op {
  static constexpr std::string_view name = "losses::attention_segmentation";
  std::shared_ptr<const tensor> target;   // B x K x H x W, p^A
  std::shared_ptr<const tensor> present;  // B x K, 1 for y in Y_n
  float eps = 1e-5f;
  struct saved {};

  /// The weight of image n's terms: 1 / (B N |Y_n|), 0 for absent classes.
  double weight(const tensor& q, index_t n, index_t y) const {
    const index_t b = q.dim(0), k = q.dim(1), pixels = q.dim(2) * q.dim(3);
    if ((*present)[n * k + y] == 0.0f) return 0.0;
    double count = 0;
    for (index_t c = 0; c < k; ++c) count += (*present)[n * k + c] != 0.0f;
    return 1.0 / (static_cast<double>(b) * static_cast<double>(pixels) * count);
  }

  tensor forward(saved&, const tensor& q) const {
    check(q);
    const index_t b = q.dim(0), k = q.dim(1), pixels = q.dim(2) * q.dim(3);
    double total = 0;
    for (index_t n = 0; n < b; ++n)
      for (index_t y = 0; y < k; ++y) {
        const double w = weight(q, n, y);
        if (w == 0.0) continue;
        const float* qs = q.data() + (n * k + y) * pixels;
        const float* as = target->data() + (n * k + y) * pixels;
        double s = 0;
        for (index_t i = 0; i < pixels; ++i) {
          const double v = std::clamp(static_cast<double>(qs[i]), static_cast<double>(eps), 1.0 - eps);
          s += as[i] * std::log(v) + (1.0 - as[i]) * std::log1p(-v);
        }
        total -= w * s;
      }
    return tensor(shape{1}, static_cast<float>(total));
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const tensor& q = *xs[0];
    const index_t b = q.dim(0), k = q.dim(1), pixels = q.dim(2) * q.dim(3);
    for (index_t n = 0; n < b; ++n)
      for (index_t y = 0; y < k; ++y) {
        const double w = weight(q, n, y) * gy[0];
        if (w == 0.0) continue;
        const index_t off = (n * k + y) * pixels;
        for (index_t i = 0; i < pixels; ++i) {
          const double v = q[off + i], a = (*target)[off + i];
          if (v < eps || v > 1.0 - eps) continue;
          (*gx[0])[off + i] += static_cast<float>(-w * (a / v - (1.0 - a) / (1.0 - v)));
        }
      }
  }

  void check(const tensor& q) const {
    expect_rank(q, 4, name, "segmentation", "B x K x H x W");
    expect_shape(*target, q.shape(), name, "attention maps");
    expect_shape(*present, shape{q.dim(0), q.dim(1)}, name, "present classes");
  }
};
static_assert(ad::Op<attention_seg_op>);

}  // namespace detail

/// Eq. 15 on the tape: q = p^S (B x K x H x W probabilities: the CRF-RNN's output in the full
/// model), target = p^A (eq. 4's maps, a constant), present = B x K (1 for the image's classes,
/// background included). Returns the {1} batch mean; an image without present classes adds 0.
inline ad::var attention_segmentation(ad::tape& t, const ad::var& q, std::shared_ptr<const tensor> target,
                                      std::shared_ptr<const tensor> present, float eps = 1e-5f) {
  require(eps > 0.0f && eps < 0.5f, detail::attention_seg_op::name, "eps must be in (0, 0.5), got ", eps);
  detail::attention_seg_op op{std::move(target), std::move(present), eps};
  op.check(q.value());
  for (index_t i = 0; i < op.target->numel(); ++i)
    if (!((*op.target)[i] >= 0.0f && (*op.target)[i] <= 1.0f))
      throw_value(op.name, "attention maps must lie in [0, 1], got ", (*op.target)[i], " at ", i);
  return ad::apply(t, std::move(op), q);
}

}  // namespace wsss::losses
