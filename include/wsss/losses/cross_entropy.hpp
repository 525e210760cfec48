// SPDX-License-Identifier: MIT
// wsss/losses/cross_entropy.hpp — pixel-wise softmax cross-entropy with an ignore label: the
// segmentation loss of DeepLab (Chen et al. 2016) and the M-step of EM (Papandreou et al. 2015)
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/common.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/math.hpp"
#include "wsss/core/policy.hpp"

namespace wsss::losses {

namespace detail {

/// L = -(1 / |P|) sum_{(n, i) in P} log softmax(x[n, :, i])[l(n, i)], P = pixels whose label
/// is not `ignore`. dL/dx[n, k, i] = (softmax_k - [k = l]) / |P| on P, 0 elsewhere. With no
/// labelled pixel (P empty) the loss and its gradient are 0 (PyTorch returns NaN there).
struct softmax_cross_entropy_op {
  static constexpr std::string_view name = "softmax_cross_entropy";
  std::shared_ptr<const std::vector<std::uint8_t>> labels;  // N x H x W, row-major
  std::uint8_t ignore = ignore_label;
  struct saved {
    index_t count = 0;
    tensor lse;  // per pixel log-sum-exp over classes (N x H x W flattened)
  };

  static void geometry(const tensor& x, index_t& n, index_t& c, index_t& hw) {
    n = x.dim(0);
    c = x.dim(1);
    hw = x.numel() / std::max<index_t>(n * c, 1);
  }

  tensor forward(saved& s, const tensor& x) const {
    index_t n, c, hw;
    geometry(x, n, c, hw);
    const std::uint8_t* lab = labels->data();
    const std::uint8_t ign = ignore;
    s.lse = tensor::uninitialized({n * hw});
    float* lse = s.lse.data();
    double total = 0;
    index_t count = 0, bad = -1;
    // Blocks of pixels of one image: the class loops run unit-stride over a block's pixels.
    constexpr index_t block = 256;
    const index_t blocks_per_image = (hw + block - 1) / block;
#pragma omp parallel for reduction(+ : total, count) schedule(static) if (x.numel() > ad::detail::parallel_grain)
    for (index_t q = 0; q < n * blocks_per_image; ++q) {
      const index_t b = q / blocks_per_image, i0 = (q % blocks_per_image) * block, len = std::min(block, hw - i0);
      const float* xs = x.data() + b * c * hw + i0;
      float* ls = lse + b * hw + i0;
      float m[block], se[block];
      for (index_t i = 0; i < len; ++i) {
        m[i] = xs[i];
        se[i] = 0.0f;
      }
      for (index_t k = 1; k < c; ++k)
        for (index_t i = 0; i < len; ++i) m[i] = std::max(m[i], xs[k * hw + i]);
      for (index_t k = 0; k < c; ++k)
        for (index_t i = 0; i < len; ++i) se[i] += wsss::detail::exp_nonpositive(xs[k * hw + i] - m[i]);
      const std::uint8_t* l = lab + b * hw + i0;
      for (index_t i = 0; i < len; ++i) {
        ls[i] = m[i] + std::log(se[i]);
        if (l[i] == ign) continue;
        if (l[i] >= c) {
#pragma omp critical(wsss_ce_bad)
          bad = b * hw + i0 + i;
          continue;
        }
        total += static_cast<double>(ls[i] - xs[static_cast<index_t>(l[i]) * hw + i]);
        ++count;
      }
    }
    if (bad >= 0)
      throw_value("losses::softmax_cross_entropy", "label ", static_cast<int>(lab[bad]), " at flat pixel ", bad,
                  " is >= the number of classes ", c, " (and is not the ignore label ", static_cast<int>(ign), ")");
    s.count = count;
    return tensor(shape{1}, count ? static_cast<float>(total / static_cast<double>(count)) : 0.0f);
  }

  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0] || s.count == 0) return;
    const tensor& x = *xs[0];
    index_t n, c, hw;
    geometry(x, n, c, hw);
    const float scale = gy[0] / static_cast<float>(s.count);
    const std::uint8_t* lab = labels->data();
    const float* lse = s.lse.data();
    // Class-major sweep: for each (image, class) plane, one exp per labelled pixel.
#pragma omp parallel for schedule(static) if (x.numel() > ad::detail::parallel_grain)
    for (index_t q = 0; q < n * c; ++q) {
      const index_t b = q / c, k = q % c;
      const float* in = x.data() + q * hw;
      float* d = gx[0]->data() + q * hw;
      const std::uint8_t* l = lab + b * hw;
      const float* ls = lse + b * hw;
      for (index_t i = 0; i < hw; ++i) {
        if (l[i] == ignore) continue;
        d[i] += scale * (wsss::detail::exp_nonpositive(in[i] - ls[i]) - (l[i] == k ? 1.0f : 0.0f));
      }
    }
  }
};
static_assert(ad::Op<softmax_cross_entropy_op>);

}  // namespace detail

/// Mean softmax cross-entropy as a policy (a Loss): logits N x C x H x W (or N x C with 1 x 1
/// label maps) against one label map per image from batch.labels (cfg.ignore, 255 by default,
/// skipped). record returns a {1} var; 0 with a zero gradient when every pixel is ignored.
/// Labels >= C other than the ignore value throw value_error.
struct cross_entropy {
  static constexpr std::string_view name = "losses::softmax_cross_entropy";
  struct config {
    std::uint8_t ignore = ignore_label;
  };
  /// The label maps flattened (N x H x W) and the logits' shape they were checked against.
  struct plan {
    std::shared_ptr<const std::vector<std::uint8_t>> labels;
    shape logits;
  };

  config cfg{};

  cross_entropy() = default;
  explicit cross_entropy(config c) : cfg(c) {}

  /// Labels from batch.labels; s = the logits' shape.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    b.validate(name);
    batch::need(b.labels, name, "label maps");
    return prepare_labels(b.labels, s);
  }

  /// The plan from label maps given directly (one per image, H x W).
  plan prepare_labels(std::span<const label_map> labels, const shape& s) const {
    if (s.rank() != 4 && s.rank() != 2) throw_shape(name, "logits must be N x C x H x W or N x C, got ", s);
    const index_t n = s[0], h = s.rank() == 4 ? s[2] : 1, w = s.rank() == 4 ? s[3] : 1;
    if (static_cast<index_t>(labels.size()) != n)
      throw_shape(name, "got ", labels.size(), " label maps for a batch of ", n, " (logits ", s, ")");
    if (s[1] == 0) throw_shape(name, "logits have no class channel: ", s);
    auto flat = std::make_shared<std::vector<std::uint8_t>>();
    flat->reserve(static_cast<std::size_t>(n * h * w));
    for (index_t b = 0; b < n; ++b) {
      const label_map& l = labels[static_cast<std::size_t>(b)];
      if (l.height() != h || l.width() != w)
        throw_shape(name, "label map ", b, " is ", l.height(), "x", l.width(), ", logits are ", h, "x", w);
      flat->insert(flat->end(), l.data(), l.data() + l.pixels());
    }
    return {std::move(flat), s};
  }

  /// The loss of logits shaped as prepared.
  ad::var record(ad::tape& t, plan& pl, ad::var logits) const {
    if (!pl.labels) throw_value(name, "the plan was never prepared");
    if (logits.shape() != pl.logits)
      throw_shape(name, "logits are ", logits.shape(), " but the plan was prepared for ", pl.logits);
    return ad::apply(t, detail::softmax_cross_entropy_op{pl.labels, cfg.ignore}, logits);
  }
};
static_assert(Policy<cross_entropy>);

/// cross_entropy's loss against label maps given directly, in one call.
inline ad::var softmax_cross_entropy(ad::var logits, std::span<const label_map> labels,
                                     std::uint8_t ignore = ignore_label) {
  ad::tape& t = ad::detail::tape_of(logits, cross_entropy::name);
  const cross_entropy loss({ignore});
  cross_entropy::plan pl = loss.prepare_labels(labels, logits.shape());
  return loss.record(t, pl, logits);
}

/// Single-image form: logits 1 x C x H x W against one H x W label map.
inline ad::var softmax_cross_entropy(ad::var logits, const label_map& labels, std::uint8_t ignore = ignore_label) {
  return softmax_cross_entropy(logits, std::span<const label_map>(&labels, 1), ignore);
}

}  // namespace wsss::losses
