// SPDX-License-Identifier: MIT
// wsss/nn/optim/common.hpp — what every optimiser shares: parameter slots, parameter groups
// (per-parameter lr/decay multipliers), and the serialisable state format
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::nn::optim {

/// Optimiser state as named tensors, ready for safetensors: "step" (one value) and
/// "<slot>.<buffer>" per parameter slot (the parameter's index in visit order), so a state
/// saved from one run loads into a fresh network of the same architecture.
using state_dict = std::vector<std::pair<std::string, tensor>>;

/// A parameter group: multipliers of the base learning rate and weight decay. The papers'
/// fine-tuning recipe (DeepLab, psa): pretrained weights 1x/1x, pretrained biases 2x/0x, the
/// new classifier's weights 10x/1x and biases 20x/0x.
struct param_group {
  float lr_mult = 1.0f;
  float decay_mult = 1.0f;
};

/// Assigns `group` to every parameter whose name satisfies `pred`; returns how many matched.
inline std::size_t assign_group(const std::vector<ad::parameter*>& params,
                                const std::function<bool(const std::string&)>& pred, param_group group) {
  std::size_t n = 0;
  for (ad::parameter* p : params)
    if (pred(p->name)) {
      p->lr_mult = group.lr_mult;
      p->decay_mult = group.decay_mult;
      ++n;
    }
  return n;
}

namespace detail {

/// A parameter takes part in a step when it is trainable and backward reached it.
inline bool has_grad(const ad::parameter& p) {
  return p.trainable && !p.value.empty() && p.grad.shape() == p.value.shape();
}

inline const tensor& find_state(const state_dict& s, const std::string& key, std::string_view component) {
  for (const auto& [k, v] : s)
    if (k == key) return v;
  throw_value(component, "state has no entry \"", key, "\"");
}

/// Splits a state key "<slot>.<buffer>" into its slot, checked against the parameter count.
inline std::pair<std::size_t, std::string> parse_slot(const std::string& key, std::size_t slots,
                                                      std::string_view component) {
  const auto dot = key.find('.');
  std::size_t slot = 0;
  bool ok = dot != std::string::npos && dot > 0;
  for (std::size_t i = 0; ok && i < dot; ++i) {
    ok = key[i] >= '0' && key[i] <= '9';
    slot = slot * 10 + static_cast<std::size_t>(key[i] - '0');
  }
  if (!ok) throw_value(component, "unexpected state key \"", key, "\" (want <slot>.<buffer>)");
  if (slot >= slots)
    throw_value(component, "state key \"", key, "\" names slot ", slot, " but there are ", slots, " parameters");
  return {slot, key.substr(dot + 1)};
}

}  // namespace detail

}  // namespace wsss::nn::optim
