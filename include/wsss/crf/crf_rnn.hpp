// SPDX-License-Identifier: MIT
// wsss/crf/crf_rnn.hpp — CRF-RNN: mean field as a trainable layer with a learned compatibility
// and learned kernel weights (Zheng et al. 2015; attention paper section 5; reference-semantics §6)
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/image.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field_op.hpp"

namespace wsss::crf {

/// CRF-RNN's deploy settings: theta_gamma 3 (smoothness sxy), theta_alpha 160 and theta_beta 3
/// (appearance sxy, srgb), kernel weights 3 and 5, per-pixel row normalisation, 10 iterations.
inline mean_field_config crf_rnn_defaults() {
  mean_field_config c;
  c.kernels.smoothness = {3.0f, 3.0f};
  c.kernels.appearance = {160.0f, 3.0f, 5.0f};
  c.kernels.norm = normalization::after;
  c.iterations = 10;
  return c;
}

/// The trainable dense CRF: parameters mu (K x K, initialised to -I = Potts) and the kernel
/// weights (smoothness, appearance); the image guides receive no gradient.
template <GaussianFilter Filter = permutohedral>
class crf_rnn {
 public:
  static constexpr std::string_view name = "crf::crf_rnn";
  using config = mean_field_config;
  using op = mean_field_op<Filter>;

  ad::parameter compat;
  ad::parameter kernel_weights;

  explicit crf_rnn(index_t labels, config c = crf_rnn_defaults()) : cfg_(std::move(c)) {
    require(labels >= 1, name, "needs at least one label, got ", labels);
    cfg_.kernels.validate(name);
    compat = ad::parameter("crf.compat", potts{}.matrix(labels));
    kernel_weights = ad::parameter("crf.kernel_weights",
                                   tensor::from({2}, std::span<const float>(std::vector<float>{
                                                         cfg_.kernels.smoothness.weight, cfg_.kernels.appearance.weight})));
  }

  const config& settings() const noexcept { return cfg_; }

  /// Q from unary energies N x K x H x W with the current parameters (no tape).
  tensor infer(const tensor& unary, std::span<const rgb_image> images) {
    ad::tape t;
    ad::no_grad ng(t);
    return (*this)(t, t.leaf(unary), images, false).value();
  }

  /// Records Q_T on the tape: x = unaries (energies, or logits when `logits`), mu and the
  /// kernel weights as the layer's parameters.
  ad::var operator()(ad::tape& t, const ad::var& x, std::span<const rgb_image> images, bool logits = true) {
    return record(t, x, t.param(compat), t.param(kernel_weights), images, logits);
  }

  /// Records Q_T with caller-given mu and kernel-weight vars.
  ad::var record(ad::tape& t, const ad::var& x, const ad::var& mu, const ad::var& w, std::span<const rgb_image> images,
                 bool logits = false) const {
    op o;
    o.plans = std::make_shared<std::vector<image_plan<Filter>>>(images.size());
    for (std::size_t i = 0; i < images.size(); ++i) (*o.plans)[i].build(rgb_guide(images[i]), cfg_.kernels);
    o.iterations = cfg_.iterations;
    o.logits = logits;
    return ad::apply(t, o, x, mu, w);
  }

 private:
  config cfg_;
};

static_assert(DifferentiableCrf<crf_rnn<>>);

}  // namespace wsss::crf
