// SPDX-License-Identifier: MIT
// wsss/nn/nets/common.hpp — shared pieces of the networks: the width multiplier
#pragma once

#include <algorithm>
#include <cmath>

#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::nn {

/// The init a network uses for a layer: `kind`, or none when the network is built to be loaded.
template <class Kind>
Kind init_or_none(bool random_init, Kind kind) {
  return random_init ? kind : Kind::none;
}

/// Channels of a layer at width multiplier `width`: round(c * width), at least 1. Width 1 is
/// the published network; e.g. 1/16 gives a ResNet38 that trains on a CPU.
inline index_t scale_channels(index_t c, double width) {
  if (!(width > 0.0) || !std::isfinite(width))
    throw_value("nn::scale_channels", "width multiplier must be positive and finite, got ", width);
  return std::max<index_t>(1, static_cast<index_t>(std::lround(static_cast<double>(c) * width)));
}

}  // namespace wsss::nn
