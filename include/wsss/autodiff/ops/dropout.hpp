// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/dropout.hpp — inverted dropout (Srivastava et al. 2014) per element and
// per channel (spatial dropout, Tompson et al. 2015: ResNet38's Dropout2d)
#pragma once

#include <memory>
#include <span>

#include "wsss/autodiff/ops/common.hpp"

namespace wsss::ad {

namespace detail {

/// y = x * mask, where mask holds 0 or 1 / (1 - p) per element (block = 1) or per channel
/// plane of `block` elements (dropout2d). The mask is drawn before the op runs.
struct dropout_op {
  static constexpr std::string_view name = "dropout";
  std::shared_ptr<const tensor> mask;
  index_t block = 1;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    tensor y = tensor::uninitialized(x.shape());
    const index_t groups = mask->numel();
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t gi = 0; gi < groups; ++gi) {
      const float m = (*mask)[gi];
      for (index_t i = gi * block; i < (gi + 1) * block; ++i) y[i] = x[i] * m;
    }
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const index_t groups = mask->numel();
#pragma omp parallel for schedule(static) if (gy.numel() > parallel_grain)
    for (index_t gi = 0; gi < groups; ++gi) {
      const float m = (*mask)[gi];
      for (index_t i = gi * block; i < (gi + 1) * block; ++i) (*gx[0])[i] += gy[i] * m;
    }
  }
};
static_assert(Op<dropout_op>);

inline var dropout_impl(var x, float p, index_t groups, index_t block, std::string_view component) {
  tape& t = tape_of(x, component);
  if (!(p >= 0.0f && p < 1.0f)) throw_value(component, "p must be in [0, 1), got ", p);
  if (!t.training() || p == 0.0f) return x;
  auto mask = std::make_shared<tensor>(tensor::uninitialized({groups}));
  const float keep = 1.0f / (1.0f - p);
  for (float& m : *mask) m = t.rng().uniform() >= static_cast<double>(p) ? keep : 0.0f;
  return apply(t, dropout_op{std::move(mask), block}, x);
}

}  // namespace detail

/// Zeroes each element with probability p and scales survivors by 1/(1-p) while
/// tape.training(); the identity (the same var) in evaluation. Masks come from tape.rng().
inline var dropout(var x, float p) {
  const tensor& v = detail::tape_of(x, "ad::dropout").value(x);
  return detail::dropout_impl(x, p, v.numel(), 1, "ad::dropout");
}
/// Zeroes whole channels of N x C x ... with probability p (scaled by 1/(1-p)) while training.
inline var dropout2d(var x, float p) {
  const tensor& v = detail::tape_of(x, "ad::dropout2d").value(x);
  if (v.rank() < 3) throw_shape("ad::dropout2d", "x must be N x C x H x W (rank >= 3), got ", v.shape());
  const index_t planes = v.dim(0) * v.dim(1);
  return detail::dropout_impl(x, p, planes, planes ? v.numel() / planes : 0, "ad::dropout2d");
}

}  // namespace wsss::ad
