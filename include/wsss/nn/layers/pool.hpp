// SPDX-License-Identifier: MIT
// wsss/nn/layers/pool.hpp — pooling layers over NCHW maps (max with optional switches,
// average, global average)
#pragma once

#include <memory>

#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/nn/concepts.hpp"

namespace wsss::nn {

/// Max pooling. With keep_switches, the argmax of the last forward stays in `switches` for
/// an ad::max_unpool2d (SPN's upsampler).
struct max_pool2d {
  static constexpr std::string_view name = "max_pool2d";
  ad::pool2d_config config;
  bool keep_switches = false;
  std::shared_ptr<ad::pool_switches> switches;

  max_pool2d() = default;
  explicit max_pool2d(ad::pool2d_config c, bool keep = false) : config(c), keep_switches(keep) {}

  ad::var operator()(ad::tape&, ad::var x) {
    return keep_switches ? ad::max_pool2d(x, config, switches) : ad::max_pool2d(x, config);
  }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<max_pool2d>);

/// Average pooling (count_include_pad as PyTorch's default).
struct avg_pool2d {
  static constexpr std::string_view name = "avg_pool2d";
  ad::pool2d_config config;
  bool count_include_pad = true;

  avg_pool2d() = default;
  explicit avg_pool2d(ad::pool2d_config c, bool include_pad = true) : config(c), count_include_pad(include_pad) {}

  ad::var operator()(ad::tape&, ad::var x) { return ad::avg_pool2d(x, config, count_include_pad); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<avg_pool2d>);

/// N x C x H x W -> N x C x 1 x 1 spatial mean.
struct global_avg_pool {
  static constexpr std::string_view name = "global_avg_pool";
  ad::var operator()(ad::tape&, ad::var x) { return ad::global_avg_pool(x); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<global_avg_pool>);

}  // namespace wsss::nn
