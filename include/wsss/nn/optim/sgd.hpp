// SPDX-License-Identifier: MIT
// wsss/nn/optim/sgd.hpp — stochastic gradient descent with momentum, dampening, Nesterov and
// L2 weight decay, step for step as torch.optim.SGD (Sutskever et al. 2013 form)
#pragma once

#include <string>
#include <vector>

#include "wsss/core/view.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/nn/optim/common.hpp"

namespace wsss::nn::optim {

struct sgd_config {
  float lr = 0.01f;
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

/// Per parameter p with gradient g (lr_p = lr * p.lr_mult, wd_p = weight_decay * p.decay_mult):
///   d = g + wd_p p;  b = d on the first step, else b = momentum b + (1 - dampening) d;
///   d = nesterov ? d + momentum b : b;  p -= lr_p d.
/// Parameters that are frozen or that backward did not reach are skipped (their buffer stays).
class sgd {
 public:
  static constexpr std::string_view name = "sgd";

  sgd(std::vector<ad::parameter*> params, const sgd_config& cfg) : params_(std::move(params)), cfg_(cfg) {
    require(cfg.lr >= 0 && cfg.momentum >= 0 && cfg.weight_decay >= 0, "optim::sgd",
            "lr, momentum and weight_decay must be >= 0, got ", cfg.lr, ", ", cfg.momentum, ", ", cfg.weight_decay);
    require(!cfg.nesterov || (cfg.momentum > 0 && cfg.dampening == 0), "optim::sgd",
            "Nesterov momentum needs momentum > 0 and zero dampening");
    momentum_.resize(params_.size());
  }
  template <Layer Net>
  sgd(Net& net, const sgd_config& cfg) : sgd(collect_params(net), cfg) {}

  void step() {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      ad::parameter& p = *params_[i];
      if (!detail::has_grad(p)) continue;
      const float lr = cfg_.lr * p.lr_mult, wd = cfg_.weight_decay * p.decay_mult;
      auto w = as_array(p.value);
      auto g = as_array(p.grad);
      if (cfg_.momentum == 0.0f) {
        w -= lr * (g + wd * w);
        continue;
      }
      tensor& b = momentum_[i];
      if (b.shape() != p.value.shape()) {
        b = p.grad;
        as_array(b) += wd * w;
      } else {
        as_array(b) = cfg_.momentum * as_array(b) + (1.0f - cfg_.dampening) * (g + wd * w);
      }
      if (cfg_.nesterov)
        w -= lr * (g + wd * w + cfg_.momentum * as_array(b));
      else
        w -= lr * as_array(b);
    }
    ++steps_;
  }

  void zero_grad() {
    for (ad::parameter* p : params_) p->zero_grad();
  }
  float lr() const noexcept { return cfg_.lr; }
  void set_lr(float lr) noexcept { cfg_.lr = lr; }
  const sgd_config& config() const noexcept { return cfg_; }
  long long steps() const noexcept { return steps_; }

  /// "step" and "<slot>.momentum_buffer" for every slot with a buffer.
  state_dict state() const {
    state_dict s;
    s.emplace_back("step", tensor(shape{1}, static_cast<float>(steps_)));
    for (std::size_t i = 0; i < momentum_.size(); ++i)
      if (!momentum_[i].empty()) s.emplace_back(std::to_string(i) + ".momentum_buffer", momentum_[i]);
    return s;
  }
  void load_state(const state_dict& s) {
    steps_ = static_cast<long long>(detail::find_state(s, "step", "optim::sgd::load_state")[0]);
    for (auto& b : momentum_) b = tensor();
    for (const auto& [k, v] : s) {
      if (k == "step") continue;
      const auto [slot, buf] = detail::parse_slot(k, params_.size(), "optim::sgd::load_state");
      if (buf != "momentum_buffer") throw_value("optim::sgd::load_state", "unexpected state key \"", k, "\"");
      expect_shape(v, params_[slot]->value.shape(), "optim::sgd::load_state", k);
      momentum_[slot] = v;
    }
  }

 private:
  std::vector<ad::parameter*> params_;
  sgd_config cfg_;
  std::vector<tensor> momentum_;
  long long steps_ = 0;
};

}  // namespace wsss::nn::optim
