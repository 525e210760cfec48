// SPDX-License-Identifier: MIT
// wsss/nn/optim/adam.hpp — Adam (Kingma & Ba 2015, Alg. 1) with torch.optim.Adam's
// bias-corrected step and L2 decay, or AdamW's decoupled decay (Loshchilov & Hutter 2019)
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "wsss/core/view.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/nn/optim/common.hpp"

namespace wsss::nn::optim {

struct adam_config {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled_decay = false;  ///< AdamW: p -= lr_p wd_p p, instead of adding wd_p p to g
};

/// Per parameter p with gradient g, its own step count t (lr_p, wd_p as in sgd):
///   g += wd_p p (L2) or p -= lr_p wd_p p (decoupled);
///   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
///   p -= lr_p (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
class adam {
 public:
  static constexpr std::string_view name = "adam";

  adam(std::vector<ad::parameter*> params, const adam_config& cfg) : params_(std::move(params)), cfg_(cfg) {
    require(cfg.lr >= 0 && cfg.eps > 0 && cfg.weight_decay >= 0, "optim::adam",
            "lr and weight_decay must be >= 0 and eps > 0, got ", cfg.lr, ", ", cfg.weight_decay, ", ", cfg.eps);
    require(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1, "optim::adam",
            "betas must be in [0, 1), got ", cfg.beta1, ", ", cfg.beta2);
    slots_.resize(params_.size());
  }
  template <Layer Net>
  adam(Net& net, const adam_config& cfg) : adam(collect_params(net), cfg) {}

  void step() {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      ad::parameter& p = *params_[i];
      if (!detail::has_grad(p)) continue;
      slot& s = slots_[i];
      if (s.m.shape() != p.value.shape()) {
        s.m = tensor(p.value.shape());
        s.v = tensor(p.value.shape());
        s.t = 0;
      }
      ++s.t;
      const float lr = cfg_.lr * p.lr_mult, wd = cfg_.weight_decay * p.decay_mult;
      auto w = as_array(p.value);
      auto g = as_array(p.grad);
      auto m = as_array(s.m);
      auto v = as_array(s.v);
      if (cfg_.decoupled_decay) {
        w *= 1.0f - lr * wd;
        m = cfg_.beta1 * m + (1.0f - cfg_.beta1) * g;
        v = cfg_.beta2 * v + (1.0f - cfg_.beta2) * g.square();
      } else {
        m = cfg_.beta1 * m + (1.0f - cfg_.beta1) * (g + wd * w);
        v = cfg_.beta2 * v + (1.0f - cfg_.beta2) * (g + wd * w).square();
      }
      const double t = static_cast<double>(s.t);
      const auto bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(cfg_.beta1), t));
      const auto bc2 = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(cfg_.beta2), t)));
      w -= (lr / bc1) * m / (v.sqrt() / bc2 + cfg_.eps);
    }
  }

  void zero_grad() {
    for (ad::parameter* p : params_) p->zero_grad();
  }
  float lr() const noexcept { return cfg_.lr; }
  void set_lr(float lr) noexcept { cfg_.lr = lr; }
  const adam_config& config() const noexcept { return cfg_; }

  /// "<slot>.step", "<slot>.exp_avg", "<slot>.exp_avg_sq" for every slot stepped so far
  /// (torch's names).
  state_dict state() const {
    state_dict out;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].t == 0) continue;
      const std::string k = std::to_string(i) + ".";
      out.emplace_back(k + "step", tensor(shape{1}, static_cast<float>(slots_[i].t)));
      out.emplace_back(k + "exp_avg", slots_[i].m);
      out.emplace_back(k + "exp_avg_sq", slots_[i].v);
    }
    return out;
  }
  void load_state(const state_dict& st) {
    constexpr std::string_view comp = "optim::adam::load_state";
    for (auto& s : slots_) s = slot{};
    for (const auto& [k, v] : st) {
      const auto [i, buf] = detail::parse_slot(k, params_.size(), comp);
      slot& s = slots_[i];
      if (buf == "step") {
        s.t = static_cast<long long>(v[0]);
      } else if (buf == "exp_avg" || buf == "exp_avg_sq") {
        expect_shape(v, params_[i]->value.shape(), comp, k);
        (buf == "exp_avg" ? s.m : s.v) = v;
      } else {
        throw_value(comp, "unexpected state key \"", k, "\"");
      }
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const slot& s = slots_[i];
      if ((s.t > 0) != !s.m.empty() || s.m.empty() != s.v.empty())
        throw_value(comp, "slot ", i, " needs all of step, exp_avg and exp_avg_sq");
    }
  }

 private:
  struct slot {
    tensor m, v;
    long long t = 0;
  };
  std::vector<ad::parameter*> params_;
  adam_config cfg_;
  std::vector<slot> slots_;
};

}  // namespace wsss::nn::optim
