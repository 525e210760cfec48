// SPDX-License-Identifier: MIT
// tests/nn/train_small_vgg.test.cpp — end to end: a small VGG-style segmentation net (conv/ReLU
// blocks, max pooling, a 1x1 classifier, bilinear upsampling) trained from random init with
// SGD + momentum on softmax cross-entropy, and a BN/dropout classifier trained with Adam on
// the multi-label loss; both must fit their tiny labelled sets
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/conv.hpp>
#include <wsss/autodiff/ops/pointwise.hpp>
#include <wsss/autodiff/ops/resize.hpp>
#include <wsss/autodiff/ops/shape_ops.hpp>
#include <wsss/core/batch.hpp>
#include <wsss/losses/cross_entropy.hpp>
#include <wsss/losses/multilabel.hpp>
#include <wsss/nn/layers/activation.hpp>
#include <wsss/nn/layers/batch_norm.hpp>
#include <wsss/nn/layers/dropout.hpp>
#include <wsss/nn/layers/init.hpp>
#include <wsss/nn/layers/linear.hpp>
#include <wsss/nn/layers/pool.hpp>
#include <wsss/nn/module.hpp>
#include <wsss/nn/optim/adam.hpp>
#include <wsss/nn/optim/schedule.hpp>
#include <wsss/nn/optim/sgd.hpp>

using namespace wsss;

namespace {

// A minimal 3x3 (or 1x1) convolution layer over the library's conv op, He-initialised.
struct conv_layer {
  ad::parameter weight, bias;
  ad::conv2d_config cfg;
  conv_layer(const std::string& prefix, index_t in, index_t out, index_t k, rng& g)
      : weight(prefix + ".weight", tensor({out, in, k, k})), bias(prefix + ".bias", tensor({out})),
        cfg(ad::conv2d_config::square(1, k / 2)) {
    nn::init::kaiming_normal(weight.value, in * k * k, g);
  }
  ad::var operator()(ad::tape& t, ad::var x) { return ad::conv2d(x, t.param(weight), t.param(bias), cfg); }
  template <class F>
  void visit_params(F&& f) {
    f(weight);
    f(bias);
  }
};
static_assert(nn::Layer<conv_layer>);

// Images: a noisy background (class 0) with one square of class 1 (red) or 2 (blue).
void make_data(rng& g, tensor& images, std::vector<label_map>& labels) {
  const index_t n = 4, s = 12;
  images = tensor({n, 3, s, s});
  labels.assign(static_cast<std::size_t>(n), label_map(s, s, 0));
  for (index_t b = 0; b < n; ++b) {
    const int cls = 1 + static_cast<int>(b % 2);
    const index_t y0 = 1 + static_cast<index_t>(g.below(5)), x0 = 1 + static_cast<index_t>(g.below(5));
    for (index_t i = 0; i < s; ++i)
      for (index_t j = 0; j < s; ++j) {
        const bool in = i >= y0 && i < y0 + 6 && j >= x0 && j < x0 + 6;
        if (in) labels[static_cast<std::size_t>(b)](i, j) = static_cast<std::uint8_t>(cls);
        for (index_t c = 0; c < 3; ++c) {
          const float base = !in ? 0.0f : (cls == 1 ? (c == 0 ? 1.0f : -0.5f) : (c == 2 ? 1.0f : -0.5f));
          images(b, c, i, j) = base + static_cast<float>(g.normal(0.0, 0.2));
        }
      }
  }
}

}  // namespace

TEST_CASE("a small VGG-style net fits a tiny segmentation set with SGD + momentum") {
  rng g(81);
  tensor images;
  std::vector<label_map> labels;
  make_data(g, images, labels);
  nn::sequential<conv_layer, nn::relu, conv_layer, nn::relu, nn::max_pool2d, conv_layer, nn::relu, conv_layer> net(
      conv_layer("features.0", 3, 8, 3, g), nn::relu{}, conv_layer("features.2", 8, 8, 3, g), nn::relu{},
      nn::max_pool2d({2, 2, 0, false}), conv_layer("features.5", 8, 16, 3, g), nn::relu{},
      conv_layer("classifier", 16, 3, 1, g));
  CHECK(nn::count_params(net) == (3 * 8 * 9 + 8) + (8 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (16 * 3 + 3));
  // example-begin train-loop
  const auto params = nn::collect_params(net);
  nn::optim::assign_group(params, [](const std::string& n) { return n.starts_with("classifier"); }, {10.0f, 1.0f});
  nn::optim::sgd opt(params, {.lr = 0.02f, .momentum = 0.9f, .weight_decay = 1e-4f});
  const nn::optim::poly_schedule lr{.lr0 = 0.02f, .max_iter = 120, .power = 0.9f};

  ad::tape t;
  float first = 0, last = 0;
  for (int it = 0; it < 80; ++it) {
    t.clear();
    opt.zero_grad();
    opt.set_lr(lr(it));
    const ad::var logits = ad::resize_bilinear(net(t, t.leaf(images)), 12, 12);
    const ad::var loss = losses::softmax_cross_entropy(logits, labels);
    t.backward(loss);
    opt.step();
    if (it == 0) first = loss.value()[0];
    last = loss.value()[0];
  }
  // example-end train-loop
  INFO("loss ", first, " -> ", last);
  CHECK(first > 0.5f);
  CHECK(last < 0.25f * first);

  // Evaluation: no tape recording, and the prediction matches most labelled pixels.
  t.clear();
  ad::no_grad ng(t);
  const ad::var logits = ad::resize_bilinear(net(t, t.leaf(images)), 12, 12);
  index_t correct = 0;
  for (index_t b = 0; b < 4; ++b) {
    const label_map pred = argmax_labels(ad::slice(logits, 0, b, 1).value());
    for (index_t i = 0; i < pred.pixels(); ++i) correct += pred[i] == labels[static_cast<std::size_t>(b)][i];
  }
  CHECK(static_cast<double>(correct) / (4 * 144) > 0.9);
}

TEST_CASE("a classifier with batch norm and dropout fits image tags with Adam and the multi-label loss") {
  rng g(82);
  const index_t n = 16, d = 10, c = 4;
  tensor x({n, d}), tags({n, c});
  for (index_t b = 0; b < n; ++b) {
    for (index_t k = 0; k < c; ++k) tags(b, k) = g.uniform() < 0.4 ? 1.0f : 0.0f;
    for (index_t i = 0; i < d; ++i)
      x(b, i) = static_cast<float>(g.normal(0.0, 0.3)) + (i < c && tags(b, i) == 1.0f ? 1.0f : 0.0f);
  }
  nn::linear fc1("fc1", {.in = d, .out = 16}, g), fc2("fc2", {.in = 16, .out = c}, g);
  nn::batch_norm2d bn("bn1", {.channels = 16});
  nn::dropout drop{0.1f};
  auto forward = [&](ad::tape& t) {
    ad::var h = fc1(t, t.leaf(x));
    h = ad::reshape(bn(t, ad::reshape(h, shape{n, 16, 1, 1})), shape{n, 16});
    return fc2(t, drop(t, ad::relu(h)));
  };
  // The tags as image-level tag sets of class ids 0..c-1 (no background: first_tag 0).
  std::vector<tag_set> tag_ids(static_cast<std::size_t>(n));
  for (index_t b = 0; b < n; ++b)
    for (index_t k = 0; k < c; ++k)
      if (tags(b, k) == 1.0f) tag_ids[static_cast<std::size_t>(b)].push_back(static_cast<int>(k));
  const losses::multilabel multilabel({.classes = c, .first_tag = 0});
  auto targets = multilabel.prepare(exec<>{}, batch{.tags = tag_ids}, shape{n, c});
  std::vector<ad::parameter*> params = nn::collect_params(fc1);
  for (auto* p : nn::collect_params(bn)) params.push_back(p);
  for (auto* p : nn::collect_params(fc2)) params.push_back(p);
  nn::optim::adam opt(params, {.lr = 0.02f});
  ad::tape t;
  float first = 0, last = 0;
  for (int it = 0; it < 150; ++it) {
    t.clear();
    opt.zero_grad();
    const ad::var loss = multilabel.record(t, targets, forward(t));
    t.backward(loss);
    opt.step();
    if (it == 0) first = loss.value()[0];
    last = loss.value()[0];
  }
  INFO("loss ", first, " -> ", last);
  CHECK(last < 0.3f * first);
  t.clear();
  t.set_training(false);
  const ad::var scores = forward(t);
  index_t correct = 0;
  for (index_t i = 0; i < n * c; ++i) correct += (scores.value()[i] > 0) == (tags[i] == 1.0f);
  CHECK(correct >= n * c - 2);
}
