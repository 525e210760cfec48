// SPDX-License-Identifier: MIT
// tests/nn/nets_shapes.test.cpp — VGG16, DeepLab-LargeFOV, ResNet38 and the two heads: output
// shapes, parameter counts against counts computed here from the published layer tables,
// checkpoint names, and the layers' own contracts.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/deconv2d.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/nets/resnet38.hpp"
#include "wsss/nn/nets/resnet38_heads.hpp"
#include "wsss/nn/nets/vgg16.hpp"

using namespace wsss;

namespace {

// Convolution parameters: weights plus an optional bias.
std::size_t conv_params(std::size_t in, std::size_t out, std::size_t k, bool bias) {
  return in * out * k * k + (bias ? out : 0);
}

// VGG16 configuration D (Simonyan & Zisserman, Table 1), conv part.
std::size_t vgg16_conv_count() {
  const std::size_t chans[] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
  std::size_t in = 3, n = 0;
  for (std::size_t c : chans) {
    n += conv_params(in, c, 3, true);
    in = c;
  }
  return n;
}

// ResNet38 Model A1 as reference-semantics 1.1 tabulates it (BN weight and bias counted as
// parameters, running statistics as buffers, as torch's parameters() does).
std::size_t resnet38_count() {
  const auto bn = [](std::size_t c) { return 2 * c; };
  const auto unit = [&](std::size_t in, std::size_t mid, std::size_t out, bool projection) {
    return bn(in) + conv_params(in, mid, 3, false) + bn(mid) + conv_params(mid, out, 3, false) +
           (projection ? conv_params(in, out, 1, false) : 0);
  };
  const auto bottleneck = [&](std::size_t in, std::size_t out) {
    return bn(in) + conv_params(in, out / 4, 1, false) + bn(out / 4) + conv_params(out / 4, out / 2, 3, false) +
           bn(out / 2) + conv_params(out / 2, out, 1, false) + conv_params(in, out, 1, false);
  };
  std::size_t n = conv_params(3, 64, 3, false);
  n += unit(64, 128, 128, true) + 2 * unit(128, 128, 128, false);
  n += unit(128, 256, 256, true) + 2 * unit(256, 256, 256, false);
  n += unit(256, 512, 512, true) + 5 * unit(512, 512, 512, false);
  n += unit(512, 512, 1024, true) + 2 * unit(1024, 512, 1024, false);
  n += bottleneck(1024, 2048) + bottleneck(2048, 4096) + bn(4096);
  return n;
}

template <class Net>
std::set<std::string> names_of(Net& net) {
  std::set<std::string> s;
  nn::visit_state(net, [&](ad::parameter& p) { s.insert(p.name); });
  return s;
}

tensor input(index_t n, index_t h, index_t w, std::uint64_t seed) {
  rng g(seed);
  return random_normal({n, 3, h, w}, g);
}

}  // namespace

TEST_CASE("vgg16 conv part: the published parameter count and torchvision names") {
  rng g(1);
  nn::vgg16 net({1.0, false}, g);  // full width, zero weights: shapes and names only
  // 14,714,688: torchvision's vgg16().features, the count the literature quotes for the conv part.
  CHECK(vgg16_conv_count() == 14714688u);
  CHECK(nn::count_params(net) == vgg16_conv_count());
  const auto names = names_of(net);
  CHECK(names.size() == 26);
  for (const char* k : {"features.0.weight", "features.0.bias", "features.2.weight", "features.5.weight",
                        "features.14.bias", "features.17.weight", "features.28.weight", "features.28.bias"})
    CHECK_MESSAGE(names.contains(k), k);
  CHECK(net.features.conv1_1.weight.value.shape() == wsss::shape{64, 3, 3, 3});
  CHECK(net.features.conv5_3.weight.value.shape() == wsss::shape{512, 512, 3, 3});
}

TEST_CASE("vgg16 forward: five 2x2 pools divide the input by 32") {
  rng g(2);
  nn::vgg16 net({1.0 / 16}, g);
  ad::tape t;
  ad::no_grad ng(t);
  const ad::var y = net(t, t.leaf(input(2, 70, 64, 3)));
  CHECK(y.shape() == wsss::shape{2, 32, 2, 2});
}

TEST_CASE("deeplab_largefov at width 1: 20.5M parameters (Chen et al. 2015, Table 2) and 321 -> 41") {
  rng g(4);
  nn::deeplab_largefov net({1.0, 21, 12, 0.5f, false}, g);
  const std::size_t expected = vgg16_conv_count() + conv_params(512, 1024, 3, true) + conv_params(1024, 1024, 1, true) +
                               conv_params(1024, 21, 1, true);
  CHECK(expected == 20505429u);
  CHECK(nn::count_params(net) == expected);
  const auto names = names_of(net);
  for (const char* k : {"features.0.weight", "features.28.bias", "fc6.weight", "fc7.bias", "fc8.weight", "fc8.bias"})
    CHECK_MESSAGE(names.contains(k), k);
  CHECK(net.fc6.weight.value.shape() == wsss::shape{1024, 512, 3, 3});
  CHECK(net.fc6.cfg.conv.dilation_h == 12);
  CHECK(net.fc6.cfg.conv.pad_h == 12);
  CHECK(net.features.conv5_1.cfg.conv.dilation_h == 2);
  CHECK(net.features.conv4_3.cfg.conv.dilation_h == 1);
  CHECK(net.fc8.weight.lr_mult == 10.0f);
  CHECK(net.fc8.bias.lr_mult == 20.0f);
  CHECK(net.fc7.bias.decay_mult == 0.0f);

  // The full-width net on a small input: 33 -> 17 -> 9 -> 5 (three stride-2 pools), then stride 1.
  ad::tape t;
  ad::no_grad ng(t);
  t.set_training(false);
  CHECK(net(t, t.leaf(input(1, 33, 33, 5))).shape() == wsss::shape{1, 21, 5, 5});
}

TEST_CASE("deeplab_largefov keeps output stride 8: 321 x 321 gives 41 x 41") {
  rng g(6);
  nn::deeplab_largefov net({1.0 / 16, 21}, g);
  ad::tape t;
  ad::no_grad ng(t);
  t.set_training(false);
  CHECK(net(t, t.leaf(input(1, 321, 321, 7))).shape() == wsss::shape{1, 21, 41, 41});
}

TEST_CASE("resnet38 at width 1: parameter count from the Model A1 table and psa's names") {
  rng g(8);
  nn::resnet38 net({1.0, true, true, false}, g);
  // 105,070,912 from the table (backbone only: psa drops Model A's GAP + fc1000). The
  // "Wider or deeper" paper quotes 124M for its Model A network as a whole.
  CHECK(resnet38_count() == 105070912u);
  CHECK(nn::count_params(net) == resnet38_count());
  const auto names = names_of(net);
  for (const char* k : {"conv1a.weight", "b2.bn_branch2a.weight", "b2.conv_branch2a.weight", "b2.conv_branch1.weight",
                        "b2_1.bn_branch2b1.running_var", "b4_5.conv_branch2b1.weight", "b5.conv_branch1.weight",
                        "b6.conv_branch2b2.weight", "b6.bn_branch2b2.running_mean", "b7.conv_branch1.weight", "bn7.bias"})
    CHECK_MESSAGE(names.contains(k), k);
  CHECK_FALSE(names.contains("b2_1.conv_branch1.weight"));  // same-shape units have an identity shortcut
  CHECK(net.b5.conv_branch2a.cfg.conv.dilation_h == 1);
  CHECK(net.b5.conv_branch2b1.cfg.conv.dilation_h == 2);
  CHECK(net.b6.conv_branch2b1.cfg.conv.dilation_h == 4);
  CHECK(net.b7.conv_branch2b1.weight.value.shape() == wsss::shape{2048, 1024, 3, 3});
  CHECK(net.b7.dropout_2b1.p == doctest::Approx(0.5));
  CHECK(net.b6.dropout_2b1.p == doctest::Approx(0.3));
  // psa trains without conv1a and b2*, and with every BN frozen.
  CHECK(nn::count_params(net, true) < nn::count_params(net));
  CHECK_FALSE(net.conv1a.weight.trainable);
  CHECK_FALSE(net.b2_2.conv_branch2b1.weight.trainable);
  CHECK(net.b3.conv_branch2a.weight.trainable);
  CHECK_FALSE(net.b4.bn_branch2a.weight.trainable);
  CHECK(net.b4.bn_branch2a.cfg.frozen);
}

TEST_CASE("resnet38 forward: output stride 8 and the three taps") {
  rng g(9);
  nn::resnet38 net({1.0 / 32}, g);
  ad::tape t;
  ad::no_grad ng(t);
  const auto f = net.forward_as_dict(t, t.leaf(input(2, 45, 64, 10)));
  // ceil(45 / 8) = 6, 64 / 8 = 8; channels 512/32, 1024/32, 4096/32.
  CHECK(f.conv4.shape() == wsss::shape{2, 16, 6, 8});
  CHECK(f.conv5.shape() == wsss::shape{2, 32, 6, 8});
  CHECK(f.conv6.shape() == wsss::shape{2, 128, 6, 8});
}

TEST_CASE("cam head: psa's fc8 and the CAM equals the classifier applied per location") {
  rng g(11);
  nn::cam_head head({6, 3, 0.5f}, g);
  CHECK(head.fc8.weight.value.shape() == wsss::shape{3, 6, 1, 1});
  CHECK(head.fc8.weight.name == "fc8.weight");
  CHECK(nn::count_params(head) == 18u);
  const tensor feats = random_normal({2, 6, 4, 5}, g);
  ad::tape t;
  t.set_training(false);  // no dropout: scores = fc8(GAP(features))
  const ad::var fv = t.leaf(feats);
  const tensor scores = head(t, fv).value();
  const tensor cam = head.cam(t, fv).value();
  REQUIRE(scores.shape() == wsss::shape{2, 3});
  REQUIRE(cam.shape() == wsss::shape{2, 3, 4, 5});
  const tensor& w = head.fc8.weight.value;
  for (index_t n = 0; n < 2; ++n)
    for (index_t k = 0; k < 3; ++k) {
      double s = 0;
      for (index_t c = 0; c < 6; ++c) {
        double mean = 0;
        for (index_t p = 0; p < 20; ++p) mean += feats[(n * 6 + c) * 20 + p] / 20.0;
        s += w[k * 6 + c] * mean;
      }
      CHECK(scores(n, k) == doctest::Approx(s).epsilon(1e-5));
      for (index_t p = 0; p < 20; ++p) {
        double v = 0;
        for (index_t c = 0; c < 6; ++c) v += w[k * 6 + c] * feats[(n * 6 + c) * 20 + p];
        CHECK(cam[(n * 3 + k) * 20 + p] == doctest::Approx(std::max(v, 0.0)).epsilon(1e-5));
      }
    }
}

TEST_CASE("affinity head: 64/128/256 reductions, 448 channels, psa's names and ELU") {
  rng g(12);
  nn::affinity_head full({}, g);
  CHECK(full.out_channels() == 448);
  CHECK(nn::count_params(full) == 512u * 64 + 1024u * 128 + 4096u * 256 + 448u * 448);
  for (auto* c : {&full.f8_3, &full.f8_4, &full.f8_5, &full.f9}) CHECK_FALSE(c->cfg.bias);
  CHECK(full.f9.weight.name == "f9.weight");

  nn::resnet38_aff net({{1.0 / 32}}, g);
  ad::tape t;
  ad::no_grad ng(t);
  const ad::var f = net(t, t.leaf(input(1, 40, 48, 13)));
  CHECK(f.shape() == wsss::shape{1, 14, 5, 6});  // 2 + 4 + 8 channels at width 1/32
  for (float v : f.value()) CHECK(v >= -1.0f);     // ELU's range
  const auto names = names_of(net);
  for (const char* k : {"conv1a.weight", "f8_3.weight", "f8_4.weight", "f8_5.weight", "f9.weight", "bn7.running_mean"})
    CHECK_MESSAGE(names.contains(k), k);
}

TEST_CASE("resnet38_cls trains end to end at a small width (gradients reach the unfrozen convs)") {
  rng g(14);
  nn::resnet38_cls net({{1.0 / 32, true, true}, 4}, g);
  ad::tape t;
  const ad::var s = net(t, t.leaf(input(2, 24, 24, 15)));
  CHECK(s.shape() == wsss::shape{2, 4});
  const ad::var cam = net.cam(t, t.leaf(input(1, 24, 24, 16)));
  CHECK(cam.shape() == wsss::shape{1, 4, 3, 3});
  nn::zero_grad(net);
  t.backward(s, tensor(s.shape(), 1.0f));
  double g3 = 0, g2 = 0;
  for (float v : net.backbone.b3.conv_branch2a.weight.grad) g3 += std::abs(v);
  for (float v : net.backbone.b2.conv_branch2a.weight.grad) g2 += std::abs(v);
  CHECK(g3 > 0);
  CHECK(g2 == 0);  // frozen stage
}

TEST_CASE("conv2d and deconv2d layers: torch layout, names, init and the op they record") {
  rng g(20);
  nn::conv2d c("head.conv", nn::conv_config(4, 6, 3, 2, 1, 1, true), g);
  CHECK(c.weight.name == "head.conv.weight");
  CHECK(c.bias.name == "head.conv.bias");
  CHECK(c.weight.value.shape() == wsss::shape{6, 4, 3, 3});
  const double bound = 1.0 / std::sqrt(36.0);
  for (float v : c.weight.value) CHECK(std::abs(v) <= bound);
  const tensor x = random_normal({2, 4, 9, 9}, g);
  ad::tape t;
  const ad::var y = c(t, t.leaf(x));
  const tensor ref = ad::conv2d_forward(x, c.weight.value, &c.bias.value, ad::conv2d_config::square(2, 1));
  REQUIRE(y.shape() == ref.shape());
  for (index_t i = 0; i < ref.numel(); ++i) CHECK(y.value()[i] == ref[i]);

  auto cg = nn::conv_config(64, 32, 3, 1, 1, 1, false, nn::conv_init::gaussian);
  cg.stddev = 0.01;
  nn::conv2d gauss("fc8", cg, g);
  double ss = 0;
  for (float v : gauss.weight.value) ss += static_cast<double>(v) * v;
  CHECK(std::sqrt(ss / static_cast<double>(gauss.weight.value.numel())) == doctest::Approx(0.01).epsilon(0.05));
  CHECK(nn::count_params(gauss) == 64u * 32 * 9);

  nn::deconv2d::config dc;
  dc.in = dc.out = 3;
  dc.bilinear = true;
  nn::deconv2d up("up", dc, g);
  CHECK(up.weight.value.shape() == wsss::shape{3, 3, 4, 4});
  // Bilinear x2: a constant map stays constant away from the border.
  ad::tape t2;
  const ad::var u = up(t2, t2.leaf(tensor({1, 3, 5, 5}, 2.0f)));
  REQUIRE(u.shape() == wsss::shape{1, 3, 10, 10});
  for (index_t c2 = 0; c2 < 3; ++c2)
    for (index_t i = 1; i < 9; ++i)
      for (index_t j = 1; j < 9; ++j) CHECK(u.value()(0, c2, i, j) == doctest::Approx(2.0));
  CHECK_THROWS_WITH_AS(nn::conv2d("bad", nn::conv_config(0, 3, 3), g), doctest::Contains("[wsss.value] nn::conv2d"),
                       wsss::value_error);
}
