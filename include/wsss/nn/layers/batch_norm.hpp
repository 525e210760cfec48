// SPDX-License-Identifier: MIT
// wsss/nn/layers/batch_norm.hpp — 2-D batch normalisation with train/eval modes and a frozen
// mode (ResNet38 as AffinityNet trains it: running statistics always, no gradient on
// gamma/beta); parameter and buffer names as PyTorch's BatchNorm2d
#pragma once

#include <string>

#include "wsss/autodiff/ops/batch_norm.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/module.hpp"

namespace wsss::nn {

/// Parameters "<prefix>.weight" (gamma, ones) and "<prefix>.bias" (beta, zeros); buffers
/// "<prefix>.running_mean" (zeros) and "<prefix>.running_var" (ones), visited by
/// visit_buffers. Training mode (tape.training() and not frozen) normalises by batch moments
/// and updates the buffers; otherwise the buffers normalise and stay unchanged.
struct batch_norm2d {
  static constexpr std::string_view name = "batch_norm2d";
  struct config {
    index_t channels = 1;
    float eps = 1e-5f;
    float momentum = 0.1f;
    bool frozen = false;
  };
  config cfg;
  ad::parameter weight, bias, running_mean, running_var;

  batch_norm2d() = default;
  batch_norm2d(const std::string& prefix, const config& c) : cfg(c) {
    require(c.channels > 0, "nn::batch_norm2d", "channels must be positive, got ", c.channels);
    weight = ad::parameter(join_name(prefix, "weight"), tensor({c.channels}, 1.0f));
    bias = ad::parameter(join_name(prefix, "bias"), tensor({c.channels}, 0.0f));
    running_mean = ad::parameter(join_name(prefix, "running_mean"), tensor({c.channels}, 0.0f));
    running_var = ad::parameter(join_name(prefix, "running_var"), tensor({c.channels}, 1.0f));
    running_mean.trainable = running_var.trainable = false;
    set_frozen(c.frozen);
  }

  /// Frozen: gamma/beta become constants and the running statistics are always used.
  void set_frozen(bool on) {
    cfg.frozen = on;
    weight.trainable = bias.trainable = !on;
  }

  ad::var operator()(ad::tape& t, ad::var x) {
    const bool batch_stats = t.training() && !cfg.frozen;
    return ad::batch_norm(x, t.param(weight), t.param(bias), running_mean.value, running_var.value, batch_stats,
                          cfg.momentum, cfg.eps);
  }
  template <class F>
  void visit_params(F&& f) {
    f(weight);
    f(bias);
  }
  template <class F>
  void visit_buffers(F&& f) {
    f(running_mean);
    f(running_var);
  }
};
static_assert(Layer<batch_norm2d> && HasBuffers<batch_norm2d>);

}  // namespace wsss::nn
