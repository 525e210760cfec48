// SPDX-License-Identifier: MIT
// tests/nn/layers_basic.test.cpp — layer machinery: checkpoint names, visit order, buffers,
// counting, sequential, train/eval/frozen batch norm, pooling and dropout layers
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/reduce.hpp>
#include <wsss/nn/concepts.hpp>
#include <wsss/nn/layers/activation.hpp>
#include <wsss/nn/layers/batch_norm.hpp>
#include <wsss/nn/layers/dropout.hpp>
#include <wsss/nn/layers/linear.hpp>
#include <wsss/nn/layers/pool.hpp>
#include <wsss/nn/module.hpp>

using namespace wsss;

namespace {

std::vector<std::string> names_of(auto& net, bool buffers) {
  std::vector<std::string> out;
  auto f = [&](ad::parameter& p) { out.push_back(p.name); };
  if (buffers) nn::visit_buffers(net, f);
  else nn::visit_params(net, f);
  return out;
}

}  // namespace

TEST_CASE("linear layer: torch names, layout, default init bound and forward") {
  rng g(71);
  nn::linear fc("classifier.6", {.in = 16, .out = 5, .bias = true}, g);
  CHECK(names_of(fc, false) == std::vector<std::string>{"classifier.6.weight", "classifier.6.bias"});
  CHECK(fc.weight.value.shape() == shape{5, 16});
  CHECK(fc.bias.value.shape() == shape{5});
  for (float v : fc.weight.value) CHECK(std::abs(v) <= 0.25f);  // 1 / sqrt(16)
  CHECK(nn::count_params(fc) == 5 * 16 + 5);
  nn::linear nob("fc8", {.in = 4, .out = 2, .bias = false}, g);
  CHECK(names_of(nob, false) == std::vector<std::string>{"fc8.weight"});
  ad::tape t;
  const tensor x = random_uniform({3, 16}, g);
  const ad::var y = fc(t, t.leaf(x));
  double want = fc.bias.value[1];
  for (index_t i = 0; i < 16; ++i) want += static_cast<double>(x(2, i)) * fc.weight.value(1, i);
  CHECK(y.value()(2, 1) == doctest::Approx(want).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(nn::linear("x", {.in = 0, .out = 2}, g), doctest::Contains("[wsss.value] nn::linear"), value_error);
}

TEST_CASE("batch_norm2d: torch names, buffers visited apart, counted like torch") {
  nn::batch_norm2d bn("bn7", {.channels = 4});
  CHECK(names_of(bn, false) == std::vector<std::string>{"bn7.weight", "bn7.bias"});
  CHECK(names_of(bn, true) == std::vector<std::string>{"bn7.running_mean", "bn7.running_var"});
  CHECK(nn::count_params(bn) == 8);
  std::size_t state = 0;
  nn::visit_state(bn, [&](ad::parameter&) { ++state; });
  CHECK(state == 4);
  CHECK(bn.running_var.value[0] == 1.0f);
}

TEST_CASE("batch_norm2d follows the tape's mode, frozen BN always uses running stats and trains nothing") {
  rng g(72);
  const tensor x = random_uniform({2, 3, 4, 4}, g, 2, 4);
  nn::batch_norm2d bn("bn", {.channels = 3, .momentum = 0.5f});
  ad::tape t;
  const ad::var y = bn(t, t.leaf(x));  // training: batch moments
  double m = 0;
  for (index_t b = 0; b < 2; ++b)
    for (index_t i = 0; i < 16; ++i) m += y.value()[(b * 3 + 1) * 16 + i];
  CHECK(m / 32 == doctest::Approx(0).scale(1));
  CHECK(bn.running_mean.value[1] > 0.9f);  // moved halfway towards a mean near 3
  const tensor rm = bn.running_mean.value;
  t.set_training(false);
  const ad::var e = bn(t, t.leaf(x));
  CHECK(bn.running_mean.value[1] == rm[1]);
  CHECK(e.value()[0] == doctest::Approx((x[0] - rm[0]) / std::sqrt(bn.running_var.value[0] + 1e-5f)));

  nn::batch_norm2d frozen("f", {.channels = 3, .frozen = true});
  frozen.running_mean.value.fill(1.0f);
  frozen.running_var.value.fill(4.0f);
  ad::tape u;  // training mode, yet frozen
  const ad::var xv = u.leaf(x, true);
  const ad::var z = frozen(u, xv);
  CHECK(z.value()[5] == doctest::Approx((x[5] - 1.0f) / std::sqrt(4.0f + 1e-5f)));
  CHECK(frozen.running_mean.value[0] == 1.0f);
  u.backward(ad::sum(z));
  CHECK(frozen.weight.grad.empty());
  CHECK((*u.grad(xv))[0] == doctest::Approx(1.0 / std::sqrt(4.0 + 1e-5)));
  CHECK(nn::count_params(frozen, true) == 0);
  CHECK(nn::count_params(frozen) == 6);
}

TEST_CASE("sequential chains layers, visits parameters in order and satisfies Layer") {
  rng g(73);
  using mlp = nn::sequential<nn::linear, nn::relu, nn::dropout, nn::linear, nn::sigmoid>;
  static_assert(nn::Layer<mlp>);
  mlp net(nn::linear("fc1", {.in = 6, .out = 8}, g), nn::relu{}, nn::dropout{0.5f}, nn::linear("fc2", {.in = 8, .out = 2}, g),
          nn::sigmoid{});
  CHECK(mlp::size() == 5);
  CHECK(names_of(net, false) == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(nn::count_params(net) == 6 * 8 + 8 + 8 * 2 + 2);
  CHECK(nn::collect_params(net)[2] == &net.get<3>().weight);
  ad::tape t;
  t.set_training(false);  // dropout off: the chain equals the manual composition
  const tensor x = random_uniform({4, 6}, g, -1, 1);
  const ad::var y = net(t, t.leaf(x));
  const ad::var h = ad::relu(ad::linear(t.leaf(x), t.leaf(net.get<0>().weight.value), t.leaf(net.get<0>().bias.value)));
  const ad::var want = ad::sigmoid(ad::linear(h, t.leaf(net.get<3>().weight.value), t.leaf(net.get<3>().bias.value)));
  for (index_t i = 0; i < 8; ++i) CHECK(y.value()[i] == doctest::Approx(want.value()[i]));
  t.set_training(true);
  t.backward(ad::sum(net(t, t.leaf(x))));
  CHECK(net.get<0>().weight.grad.shape() == shape{8, 6});
  nn::zero_grad(net);
  for (float v : net.get<0>().weight.grad) CHECK(v == 0.0f);
}

TEST_CASE("pooling layers, and a max_pool2d layer that keeps its switches for unpooling") {
  rng g(74);
  const tensor x = random_uniform({1, 2, 4, 4}, g);
  nn::max_pool2d pool({2, 2, 0, false}, true);
  ad::tape t;
  const ad::var y = pool(t, t.leaf(x));
  REQUIRE(pool.switches);
  const ad::var u = ad::max_unpool2d(y, pool.switches);
  CHECK(u.shape() == x.shape());
  CHECK(nn::avg_pool2d({2, 2, 0, false})(t, t.leaf(x)).shape() == shape{1, 2, 2, 2});
  CHECK(nn::global_avg_pool{}(t, t.leaf(x)).shape() == shape{1, 2, 1, 1});
  nn::dropout2d d{0.5f};
  t.set_training(false);
  const ad::var xv = t.leaf(x);
  CHECK(d(t, xv).id() == xv.id());
  static_assert(nn::Layer<nn::max_pool2d> && nn::Layer<nn::avg_pool2d> && nn::Layer<nn::elu> && nn::Layer<nn::dropout2d>);
  static_assert(nn::HasBuffers<nn::batch_norm2d> && !nn::HasBuffers<nn::linear>);
}
