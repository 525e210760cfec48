// SPDX-License-Identifier: MIT
// wsss/nn/optim/schedule.hpp — learning-rate schedules: step decay (Caffe "step") and poly
// (DeepLab, Chen et al. 2016 sec. 4.1; psa's PolyOptimizer): lr0 (1 - it / max_iter)^power
#pragma once

#include <cmath>
#include <concepts>

#include "wsss/core/error.hpp"

namespace wsss::nn::optim {

/// A schedule maps an iteration number (0-based) to a learning rate.
template <class S>
concept LrSchedule = requires(const S& s, long long it) {
  { s(it) } -> std::convertible_to<float>;
};

/// lr0 gamma^floor(it / step_size).
struct step_schedule {
  float lr0 = 0.01f;
  float gamma = 0.1f;
  long long step_size = 1;

  float operator()(long long it) const {
    require(step_size > 0 && it >= 0, "optim::step_schedule", "needs step_size > 0 and it >= 0, got ", step_size,
            " and ", it);
    return lr0 * static_cast<float>(std::pow(static_cast<double>(gamma), static_cast<double>(it / step_size)));
  }
};
static_assert(LrSchedule<step_schedule>);

/// lr0 (1 - it / max_iter)^power, 0 from max_iter on (DeepLab uses power 0.9).
struct poly_schedule {
  float lr0 = 0.01f;
  long long max_iter = 1;
  float power = 0.9f;

  float operator()(long long it) const {
    require(max_iter > 0 && it >= 0, "optim::poly_schedule", "needs max_iter > 0 and it >= 0, got ", max_iter,
            " and ", it);
    if (it >= max_iter) return 0.0f;
    const double f = 1.0 - static_cast<double>(it) / static_cast<double>(max_iter);
    return lr0 * static_cast<float>(std::pow(f, static_cast<double>(power)));
  }
};
static_assert(LrSchedule<poly_schedule>);

}  // namespace wsss::nn::optim
