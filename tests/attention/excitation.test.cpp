// Parent-to-child transitions (eq. 5-6): mass conservation per parent for every layer type, a
// hand-computed two-layer network, and DeepLab-LargeFOV's chain against the network itself.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "wsss/attention/excitation.hpp"
#include "wsss/core/random.hpp"

using namespace wsss;
namespace at = wsss::attention;

namespace {

tensor random_positive(shape s, std::uint64_t seed, float zero_fraction = 0.2f) {
  rng g(seed);
  tensor t(s);
  for (index_t i = 0; i < t.numel(); ++i) t[i] = g.uniform() < zero_fraction ? 0.0f : static_cast<float>(g.uniform());
  return t;
}

tensor random_weights(shape s, std::uint64_t seed) {
  rng g(seed);
  tensor t(s);
  for (index_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(g.normal());
  return t;
}

double sum(const tensor& t) {
  double s = 0;
  for (index_t i = 0; i < t.numel(); ++i) s += t[i];
  return s;
}

/// For a sample of parents j: a unit signal at j reaches the children with probabilities
/// summing to 1 when j has positive evidence (Z_j > 0), and nothing reaches any child when it
/// has none. Z_j is recomputed here independently: the forward of W+ without bias (conv), the
/// window sum (pools: a max pool always passes its whole mass to the arg-max).
void check_parents_sum_to_one(const at::layer& l, const tensor& x, std::uint64_t seed) {
  const tensor y = at::forward(l, x);
  const bool is_max = std::holds_alternative<at::max_pool_layer>(l);
  tensor z = y;
  if (const auto* c = std::get_if<at::conv_layer>(&l)) {
    tensor wp = c->weight;
    for (index_t i = 0; i < wp.numel(); ++i) wp[i] = std::max(wp[i], 0.0f);
    z = ad::conv2d_forward(x, wp, nullptr, c->conv);
  }
  rng g(seed);
  int positive = 0, empty = 0;
  for (int trial = 0; trial < 24; ++trial) {
    const index_t j = static_cast<index_t>(g.uniform() * static_cast<double>(y.numel())) % y.numel();
    tensor p(y.shape());
    p[j] = 1.0f;
    const tensor in = at::transition(l, x, p);
    REQUIRE(in.shape() == x.shape());
    for (index_t i = 0; i < in.numel(); ++i) CHECK(in[i] >= 0.0f);
    if (is_max || z[j] > 0) {
      CHECK(sum(in) == doctest::Approx(1.0).epsilon(1e-5));
      ++positive;
    } else {
      CHECK(sum(in) == 0.0);
      ++empty;
    }
  }
  CHECK(positive > 0);
}

}  // namespace

TEST_CASE("each layer type's transitions sum to one over the children of a parent with positive mass") {
  const tensor x = random_positive({1, 3, 7, 9}, 1);
  SUBCASE("3x3 conv, padding 1") {
    check_parents_sum_to_one(at::conv_layer{"c", random_weights({4, 3, 3, 3}, 2), tensor({4}), ad::conv2d_config::square(1, 1), true}, x, 3);
  }
  SUBCASE("atrous conv (dilation 2), stride 2") {
    check_parents_sum_to_one(at::conv_layer{"c", random_weights({5, 3, 3, 3}, 4), {}, ad::conv2d_config::square(2, 2, 2), false}, x, 5);
  }
  SUBCASE("1x1 conv") {
    check_parents_sum_to_one(at::conv_layer{"c", random_weights({6, 3, 1, 1}, 6), {}, {}, true}, x, 7);
  }
  SUBCASE("linear (a 1x1 conv on 1 x 1 maps)") {
    check_parents_sum_to_one(at::conv_layer{"fc", random_weights({10, 24, 1, 1}, 8), {}, {}, false},
                             random_positive({1, 24, 1, 1}, 9), 10);
  }
  SUBCASE("max pool 3x3 s2 p1 (ceil)") { check_parents_sum_to_one(at::max_pool_layer{"p", {3, 2, 1, true}}, x, 11); }
  SUBCASE("max pool 3x3 s1 p1") { check_parents_sum_to_one(at::max_pool_layer{"p", {3, 1, 1, false}}, x, 12); }
  SUBCASE("average pool, padding counted and not") {
    check_parents_sum_to_one(at::avg_pool_layer{"a", {3, 1, 1, false}, true}, x, 13);
    check_parents_sum_to_one(at::avg_pool_layer{"a", {2, 2, 0, false}, false}, x, 14);
  }
}

TEST_CASE("a batch of K signals is K independent transitions") {
  const tensor x = random_positive({1, 2, 5, 5}, 21);
  const at::layer l = at::conv_layer{"c", random_weights({3, 2, 3, 3}, 22), {}, ad::conv2d_config::square(1, 1), true};
  const tensor y = at::forward(l, x);
  tensor both({2, 3, 5, 5});
  const tensor a = random_positive(y.shape(), 23), b = random_positive(y.shape(), 24);
  std::copy(a.data(), a.data() + a.numel(), both.data());
  std::copy(b.data(), b.data() + b.numel(), both.data() + a.numel());
  const tensor pa = at::transition(l, x, a), pb = at::transition(l, x, b), pboth = at::transition(l, x, both);
  for (index_t i = 0; i < pa.numel(); ++i) {
    CHECK(pboth[i] == doctest::Approx(pa[i]).epsilon(1e-5));
    CHECK(pboth[pa.numel() + i] == doctest::Approx(pb[i]).epsilon(1e-5));
  }
}

TEST_CASE("a hand-built two-layer network's transitions equal hand-computed values") {
  // x = [1, 2, 3] (1 channel, 1 x 3). Layer 1: conv 1 -> 1, kernel 1 x 2, w = [2, -1], bias 5,
  // ReLU: its output neurons are y0 = relu(2*1 - 2 + 5) = 5 and y1 = relu(2*2 - 3 + 5) = 6.
  // Layer 2: a 1 x 2 conv, w = [1, 3], one output neuron u = 5 + 18 = 23.
  const tensor x = tensor::from({1, 1, 1, 3}, std::vector<float>{1, 2, 3});
  const at::conv_layer l1{"l1", tensor::from({1, 1, 1, 2}, std::vector<float>{2, -1}), tensor::from({1}, std::vector<float>{5}), {}, true};
  const at::conv_layer l2{"l2", tensor::from({1, 1, 1, 2}, std::vector<float>{1, 3}), {}, {}, false};
  const at::layer_chain ch{{l1, l2}};
  const std::vector<tensor> acts = ch.forward(x);
  REQUIRE(acts.size() == 3);
  CHECK(acts[1][0] == 5.0f);
  CHECK(acts[1][1] == 6.0f);
  CHECK(acts[2][0] == 23.0f);
  // Top: P(u) = 1. Layer 2 (eq. 6): Z = 1*5 + 3*6 = 23, P(y0) = 5/23, P(y1) = 18/23.
  const tensor py = at::transition(ch.layers[1], acts[1], tensor::from({1, 1, 1, 1}, std::vector<float>{1}));
  CHECK(py[0] == doctest::Approx(5.0 / 23));
  CHECK(py[1] == doctest::Approx(18.0 / 23));
  // Layer 1 with W+ = [2, 0] and no bias: parent y0's children are x0 (2*1) and x1 (0*2): all
  // of y0's mass goes to x0; y1's children x1 (2*2) and x2 (0): all of y1's to x1.
  const tensor px = at::transition(ch.layers[0], acts[0], py);
  CHECK(px[0] == doctest::Approx(5.0 / 23));
  CHECK(px[1] == doctest::Approx(18.0 / 23));
  CHECK(px[2] == 0.0f);
  // With w = [2, 1] instead, y0 splits 2:2 between x0 and x1, y1 splits 4:3 between x1, x2.
  at::conv_layer l1b = l1;
  l1b.weight = tensor::from({1, 1, 1, 2}, std::vector<float>{2, 1});
  const tensor px2 = at::transition(l1b, x, py);
  CHECK(px2[0] == doctest::Approx(0.5 * 5 / 23));
  CHECK(px2[1] == doctest::Approx(0.5 * 5 / 23 + 4.0 / 7 * 18 / 23));
  CHECK(px2[2] == doctest::Approx(3.0 / 7 * 18 / 23));
  // A 3 x 3 max pool over 1..9 sends everything to the 9; an average pool splits in
  // proportion to the values (sum 45).
  tensor x9({1, 1, 3, 3});
  for (index_t i = 0; i < 9; ++i) x9[i] = static_cast<float>(i + 1);
  const tensor one = tensor::from({1, 1, 1, 1}, std::vector<float>{1});
  const tensor pm = at::transition(at::max_pool_layer{"m", {3, 3, 0, false}}, x9, one);
  CHECK(pm[0] == 0.0f);
  CHECK(pm[8] == 1.0f);
  const tensor pa = at::transition(at::avg_pool_layer{"a", {3, 3, 0, false}, true}, x9, one);
  for (index_t i = 0; i < 9; ++i) CHECK(pa[i] == doctest::Approx((i + 1) / 45.0));
}

TEST_CASE("DeepLab-LargeFOV's chain (BatchNorm folded) computes the network's scores") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    rng g(31);
    nn::deeplab_largefov net({.width = 1.0 / 16, .classes = 4, .fc6_dilation = 2, .dropout = 0.0f, .batch_norm = bn}, g);
    // Non-trivial running statistics, so that the folding is exercised.
    net.visit_buffers([&](ad::parameter& p) {
      for (index_t i = 0; i < p.value.numel(); ++i)
        p.value[i] = p.name.ends_with("running_var") ? 0.5f + static_cast<float>(g.uniform()) : 0.1f * static_cast<float>(g.normal());
    });
    const tensor img = random_positive({1, 3, 40, 40}, 32, 0.0f);
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    const tensor want = net(t, t.leaf(img)).value();
    const tensor pool3 = net.pool3(t, t.leaf(img)).value();
    const at::layer_chain ch = at::deeplab_chain(net);
    CHECK(ch.input == "pool3");
    const std::vector<tensor> acts = ch.forward(pool3);
    REQUIRE(acts.back().shape() == want.shape());
    for (index_t i = 0; i < want.numel(); ++i) CHECK(acts.back()[i] == doctest::Approx(want[i]).epsilon(1e-3).scale(1.0));
    const at::layer_chain from4 = at::deeplab_chain(net, "pool4");
    CHECK(from4.input == "pool4");
    CHECK(from4.layers.size() == ch.layers.size() - 4);
    CHECK_THROWS_AS((void)at::deeplab_chain(net, "conv9_9"), value_error);
  }
}

TEST_CASE("transitions refuse mismatched shapes") {
  const tensor x = random_positive({1, 2, 4, 4}, 41);
  const at::layer l = at::conv_layer{"c", random_weights({3, 2, 3, 3}, 42), {}, ad::conv2d_config::square(1, 1), false};
  CHECK_THROWS_AS((void)at::transition(l, x, tensor({1, 3, 5, 5})), shape_error);
  CHECK_THROWS_AS((void)at::transition(l, random_positive({2, 2, 4, 4}, 43), tensor({1, 3, 4, 4})), shape_error);
}
