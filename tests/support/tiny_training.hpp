// SPDX-License-Identifier: MIT
// tests/support/tiny_training.hpp — a small conv + batch-norm regression network trained by
// methods::train on examples that depend only on their index (no augmentation, no dropout), so
// a data-parallel run over K ranks and a one-process run over the same mini-batches can be
// compared weight for weight (tests/dist and tests/mpi).
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "wsss/autodiff.hpp"
#include "wsss/dist/group.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/layers/activation.hpp"
#include "wsss/nn/layers/batch_norm.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/module.hpp"

namespace wsss_test {

struct tiny_net : wsss::nn::sequential<wsss::nn::conv2d, wsss::nn::batch_norm2d, wsss::nn::relu, wsss::nn::conv2d> {
  static constexpr std::string_view name = "tiny_net";
  using sequential::sequential;
};

inline tiny_net make_tiny_net() {
  wsss::rng g(5);
  return tiny_net(wsss::nn::conv2d("conv1", {.in = 3, .out = 4, .conv = {.pad_h = 1, .pad_w = 1}}, g),
                  wsss::nn::batch_norm2d("bn1", {.channels = 4}), wsss::nn::relu{},
                  wsss::nn::conv2d("head", {.in = 4, .out = 1, .kernel_h = 1, .kernel_w = 1}, g));
}

/// Example i: a 3x6x6 input and a target, both functions of i alone.
inline void tiny_example(std::size_t i, float* x, float& target) {
  wsss::rng g(1000 + i);
  for (int k = 0; k < 3 * 36; ++k) x[k] = static_cast<float>(g.normal(0.0, 1.0)) + (k < 36 ? 0.1f * static_cast<float>(i % 4) : 0.0f);
  target = std::sin(static_cast<float>(i));
}

/// Trains a fresh tiny_net for `epochs` over `items` examples in batches of `batch` with SGD
/// (momentum), on the ranks of g, in `dir`; returns the network.
inline tiny_net train_tiny(const wsss::dist::group& g, const std::filesystem::path& dir, std::size_t items,
                           int batch, bool sync_bn, int epochs = 2) {
  namespace ad = wsss::ad;
  tiny_net net = make_tiny_net();
  const wsss::methods::train_config cfg{.epochs = epochs, .batch_size = batch, .lr = 0.05f, .momentum = 0.9f,
                                        .weight_decay = 1e-4f};
  wsss::methods::train_io io;
  io.dir = dir;
  io.quiet = true;
  io.part_names = {"mse"};
  io.group = &g;
  io.sync_batch_norm = sync_bn;
  wsss::methods::train(net, items, cfg, 7, io, [&](ad::tape& t, std::span<const std::size_t> idx, wsss::rng&) {
    const auto n = static_cast<wsss::index_t>(idx.size());
    wsss::tensor x({n, 3, 6, 6}), y({n, 1});
    for (wsss::index_t b = 0; b < n; ++b) tiny_example(idx[static_cast<std::size_t>(b)], x.data() + b * 108, y(b, 0));
    const ad::var out = ad::mean(ad::mean(net(t, t.leaf(x)), 3, false), 2, false);  // n x 1
    const ad::var d = ad::sub(out, t.leaf(y));
    const ad::var loss = ad::mean(ad::mul(d, d));
    return wsss::methods::step_result{loss, {loss.value()[0]}, {}};
  });
  return net;
}

/// Largest |a - b| over every parameter and buffer of two networks of one architecture.
inline float max_weight_difference(tiny_net& a, tiny_net& b) {
  const auto sa = wsss::nn::state_dict(a), sb = wsss::nn::state_dict(b);
  float worst = 0;
  for (const auto& [name, ta] : sa) {
    const auto& tb = sb.at(name);
    for (wsss::index_t i = 0; i < ta.numel(); ++i) worst = std::max(worst, std::abs(ta.data()[i] - tb.data()[i]));
  }
  return worst;
}

}  // namespace wsss_test
