// SPDX-License-Identifier: MIT
// wsss/nn/module.hpp — visiting parameters and buffers (dlib's visit_layer_parameters),
// counting them, and the flat variadic sequential container
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/nn/concepts.hpp"

namespace wsss::nn {

/// Calls f(ad::parameter&) for every parameter of net, in its fixed visit order.
template <class Net, class F>
void visit_params(Net& net, F&& f) {
  net.visit_params(f);
}

/// Calls f(ad::parameter&) for every buffer of net (running statistics); nothing if it has none.
template <class Net, class F>
void visit_buffers(Net& net, F&& f) {
  if constexpr (HasBuffers<Net>) net.visit_buffers(f);
}

/// Parameters then buffers: everything a checkpoint holds (PyTorch's state_dict, without
/// num_batches_tracked).
template <class Net, class F>
void visit_state(Net& net, F&& f) {
  visit_params(net, f);
  visit_buffers(net, f);
}

/// Number of parameter values (buffers excluded, as torch's sum(p.numel() for p in
/// net.parameters())); trainable_only skips frozen ones.
template <class Net>
std::size_t count_params(Net& net, bool trainable_only = false) {
  std::size_t n = 0;
  visit_params(net, [&](ad::parameter& p) {
    if (!trainable_only || p.trainable) n += static_cast<std::size_t>(p.value.numel());
  });
  return n;
}

/// Pointers to every parameter in visit order: the optimiser's slots.
template <class Net>
std::vector<ad::parameter*> collect_params(Net& net) {
  std::vector<ad::parameter*> ps;
  visit_params(net, [&](ad::parameter& p) { ps.push_back(&p); });
  return ps;
}

/// Zeroes every parameter's gradient.
template <class Net>
void zero_grad(Net& net) {
  visit_params(net, [](ad::parameter& p) { p.zero_grad(); });
}

/// Joins a name prefix and a local name with a dot ("features.0" + "weight").
inline std::string join_name(const std::string& prefix, const std::string& local) {
  return prefix.empty() ? local : prefix + "." + local;
}

/// Layers applied in order; a flat std::tuple (no nesting depth to blow up), so the type is
/// the architecture and the calls inline.
template <Layer... L>
struct sequential {
  std::tuple<L...> layers;

  sequential() = default;
  explicit sequential(L... ls) : layers(std::move(ls)...) {}

  ad::var operator()(ad::tape& t, ad::var x) {
    std::apply([&](auto&... l) { ((x = l(t, x)), ...); }, layers);
    return x;
  }
  template <class F>
  void visit_params(F&& f) {
    std::apply([&](auto&... l) { (l.visit_params(f), ...); }, layers);
  }
  template <class F>
  void visit_buffers(F&& f) {
    std::apply([&](auto&... l) { (nn::visit_buffers(l, f), ...); }, layers);
  }
  template <std::size_t I>
  auto& get() noexcept { return std::get<I>(layers); }
  static constexpr std::size_t size() noexcept { return sizeof...(L); }
};

}  // namespace wsss::nn
