// SPDX-License-Identifier: MIT
// wsss/crf/crf_rnn.hpp — CRF-RNN: mean field as a trainable layer with a learned compatibility
// and learned kernel weights (Zheng et al. 2015; attention paper section 5; reference-semantics §6)
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/crf/mean_field_op.hpp"
#include "wsss/nn/module.hpp"

namespace wsss::crf {

/// The trainable dense CRF (a DifferentiableCrf and wsss::Trainable): parameters mu (K x K,
/// initialised to -I = Potts) and the kernel weights (smoothness, appearance), named
/// "<prefix>.compat" and "<prefix>.kernel_weights" (prefix "crf" by default), visited like a
/// layer's; the image guides receive no gradient. Plans, prepare and the one-call infer are
/// mean_field's (the same lattices).
template <GaussianFilter Filter = permutohedral>
class crf_rnn : public detail::mean_field_engine<crf_rnn<Filter>, Filter> {
 public:
  static constexpr std::string_view name = "crf::crf_rnn";
  /// CRF-RNN's deploy settings: theta_gamma 3 (smoothness sxy), theta_alpha 160 and
  /// theta_beta 3 (appearance sxy, srgb), kernel weights 3 and 5 (the initial values of
  /// kernel_weights), per-pixel row normalisation, 10 iterations; K = 21 (VOC).
  struct config {
    kernel_config kernels{.smoothness = {3.0f, 3.0f}, .appearance = {160.0f, 3.0f, 5.0f}, .norm = normalization::after};
    int iterations = 10;
    index_t labels = 21;
  };
  using plan = mean_field_plan<Filter>;

  config cfg{};
  ad::parameter compat;
  ad::parameter kernel_weights;

  crf_rnn() : crf_rnn(config{}) {}
  explicit crf_rnn(config c, std::string_view prefix = "crf") : cfg(std::move(c)) {
    mean_field_config{cfg.kernels, cfg.iterations}.validate(name);
    require(cfg.labels >= 1, name, "needs at least one label, got ", cfg.labels);
    const std::string p(prefix);
    compat = ad::parameter(nn::join_name(p, "compat"), potts{}.matrix(cfg.labels));
    kernel_weights = ad::parameter(nn::join_name(p, "kernel_weights"),
                                   tensor::from({2}, std::span<const float>(std::vector<float>{
                                                         cfg.kernels.smoothness.weight, cfg.kernels.appearance.weight})));
  }

  /// compat, then kernel_weights.
  template <class F>
  void visit_params(F&& f) {
    f(compat);
    f(kernel_weights);
  }

  /// q = Q_T with the current parameters (no tape).
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& unary, tensor& q) const {
    require_backend<crf_rnn, Tag>();
    expect_shape(kernel_weights.value, {2}, name, "kernel weights");
    detail::solve(ex.tag, name, pl, learned(compat.value), cfg.iterations, kernel_weights.value[0],
                  kernel_weights.value[1], unary, q, detail::ignore_steps{});
  }

  /// Records Q_T on the tape from unary energies (a network's logits z give U = -z:
  /// ad::scale(z, -1)); backward adds into compat.grad and kernel_weights.grad.
  ad::var record(ad::tape& t, plan& pl, ad::var unary) {
    return ad::apply(t, mean_field_op<Filter>{&pl, cfg.iterations}, unary, t.param(compat), t.param(kernel_weights));
  }
};

static_assert(DifferentiableCrf<crf_rnn<>>);
static_assert(Trainable<crf_rnn<>>);

}  // namespace wsss::crf
