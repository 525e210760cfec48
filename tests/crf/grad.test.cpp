// SPDX-License-Identifier: MIT
// tests/crf/grad.test.cpp — finite-difference checks of the mean-field op (w.r.t. unaries,
// compatibility and kernel weights) and of SEC's constrain-to-boundary loss
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "support.hpp"
#include "wsss/autodiff/grad_check.hpp"
#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/crf.hpp"
#include "wsss/losses/constrain.hpp"

using namespace wsss;
using crf_test::disc_image;
using crf_test::random_unary;

namespace {

// The op on a plan from the engine's prepare (the plan must outlive the op's backward).
template <class Filter>
crf::mean_field_op<Filter> make_op(crf::mean_field_plan<Filter>& plan, const std::vector<rgb_image>& imgs,
                                   crf::normalization nm, int iterations, index_t labels,
                                   std::span<const label_map> clamps = {}) {
  crf::mean_field_config cfg;
  cfg.kernels.spatial_scale = 10.0f;
  cfg.kernels.norm = nm;
  cfg.iterations = iterations;
  const shape s{static_cast<index_t>(imgs.size()), labels, imgs[0].height(), imgs[0].width()};
  crf::mean_field<Filter>(cfg).prepare(exec<>{}, batch{.images = imgs, .labels = clamps}, s, plan);
  return {&plan, iterations};
}

tensor compat_init(index_t k, std::uint64_t seed) {
  rng g(seed);
  tensor mu({k, k});
  for (index_t i = 0; i < k; ++i)
    for (index_t j = 0; j < k; ++j) mu(i, j) = static_cast<float>((i == j ? -1.0 : 0.0) + 0.3 * g.uniform(-1.0, 1.0));
  return mu;
}

}  // namespace

TEST_CASE("mean_field_op: gradients w.r.t. unaries, compatibility and kernel weights (exact filter)") {
  const std::vector<rgb_image> imgs{disc_image(5, 6, 1, 30.0), disc_image(5, 6, 2, 30.0)};
  for (auto nm : {crf::normalization::symmetric, crf::normalization::after}) {
    for (bool logits : {false, true}) {
      INFO(crf::to_string(nm) << (logits ? " logits" : " energies"));
      crf::mean_field_plan<crf::exact_filter> plan;
      const auto op = make_op(plan, imgs, nm, 4, 3);
      tensor w({2});
      w[0] = 0.8f;
      w[1] = 1.3f;
      ad::grad_check_options opt;
      opt.eps = 1e-2;
      opt.max_coords = 40;
      const auto r = ad::grad_check(
          [&](ad::tape& t, std::span<const ad::var> x) {
            return ad::apply(t, op, logits ? ad::scale(x[0], -1.0f) : x[0], x[1], x[2]);  // logits: U = -z
          },
          {random_unary(2, 3, 5, 6, 3), compat_init(3, 4), w}, opt);
      CHECK_MESSAGE(r.ok, r.log);
      CHECK(r.checked == 40 + 9 + 2);
    }
  }
}

TEST_CASE("mean_field_op: gradient with the permutohedral filter and clamped pixels") {
  const std::vector<rgb_image> imgs{disc_image(7, 8, 3, 30.0)};
  std::vector<label_map> clamps(1, label_map(7, 8, ignore_label));
  clamps[0](0, 0) = 1;
  clamps[0](3, 4) = 0;
  crf::mean_field_plan<crf::permutohedral> plan;
  const auto op = make_op(plan, imgs, crf::normalization::symmetric, 3, 3, clamps);
  tensor w({2});
  w[0] = 1.0f;
  w[1] = 2.0f;
  ad::grad_check_options opt;
  opt.eps = 3e-3;
  const auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) { return ad::apply(t, op, x[0], x[1], x[2]); },
                                {random_unary(1, 3, 7, 8, 5), compat_init(3, 6), w}, opt);
  CHECK_MESSAGE(r.ok, r.log);
  // The op's Q at clamped pixels is one-hot.
  ad::tape t;
  const ad::var q = ad::apply(t, op, t.leaf(random_unary(1, 3, 7, 8, 5)), t.leaf(compat_init(3, 6)), t.leaf(w));
  CHECK(q.value()(0, 1, 0, 0) == 1.0f);
  CHECK(q.value()(0, 0, 3, 4) == 1.0f);
}

TEST_CASE("crf_rnn: parameters receive gradients, Potts init matches mean_field with row normalisation") {
  const std::vector<rgb_image> imgs{disc_image(6, 7, 8)};
  crf::crf_rnn<> layer({.labels = 3});
  const tensor u = random_unary(1, 3, 6, 7, 9);
  const tensor qa = layer.infer(u, images_only(imgs));
  crf::mean_field<> mf({.kernels = layer.cfg.kernels, .iterations = layer.cfg.iterations});
  const tensor qb = mf.infer(u, images_only(imgs));
  for (index_t i = 0; i < qa.numel(); ++i) CHECK(qa[i] == doctest::Approx(qb[i]).epsilon(1e-4));
  ad::tape t;
  auto plan = layer.prepare(exec<>{}, images_only(imgs), u.shape());
  // The layer on the network's logits z: U = -z.
  const ad::var q = layer.record(t, plan, ad::scale(t.leaf(crf_test::random_unary(1, 3, 6, 7, 10), true), -1.0f));
  tensor seed(q.shape());
  for (index_t i = 0; i < seed.numel(); ++i) seed[i] = static_cast<float>(i % 5) - 2.0f;
  t.backward(q, seed);
  REQUIRE(layer.compat.grad.numel() == 9);
  REQUIRE(layer.kernel_weights.grad.numel() == 2);
  double s = 0;
  for (float g : layer.compat.grad) s += std::abs(g);
  CHECK(s > 0);
}

TEST_CASE("losses::constrain: value and gradient (Q constant, and through the CRF)") {
  const std::vector<rgb_image> imgs{disc_image(24, 20, 1), disc_image(24, 20, 2)};
  const tensor z = random_unary(2, 3, 6, 5, 11, 4.0);
  const batch b = images_only(imgs);
  // The value: the definition written out, with Q from the CRF engine on the downscaled images.
  {
    const losses::constrain<> loss;
    tensor p(z.shape());
    for (index_t b = 0; b < 2; ++b)
      for (index_t u = 0; u < 30; ++u) {
        double s = 0;
        for (index_t c = 0; c < 3; ++c) s += std::exp(z[(b * 3 + c) * 30 + u]);
        for (index_t c = 0; c < 3; ++c) p[(b * 3 + c) * 30 + u] = static_cast<float>(std::exp(z[(b * 3 + c) * 30 + u]) / s);
      }
    ad::tape t;
    auto plan = loss.prepare(exec<>{}, b, z.shape());
    const ad::var l = loss.record(t, plan, t.leaf(z), t.leaf(p));
    std::vector<rgb_image> small{losses::downscale_image(imgs[0], 6, 5), losses::downscale_image(imgs[1], 6, 5)};
    crf::mean_field<crf::permutohedral, crf::learned> mf(loss.crf().cfg, crf::learned::potts_init(3));
    const tensor q = mf.infer(crf::unary_from_logits(z), images_only(small));
    double ref = 0;
    for (index_t b = 0; b < 2; ++b)
      for (index_t u = 0; u < 30; ++u) {
        double s = 0;
        for (index_t c = 0; c < 3; ++c) s += std::max(q[(b * 3 + c) * 30 + u], 1e-4f);
        for (index_t c = 0; c < 3; ++c) {
          const double qc = std::max(q[(b * 3 + c) * 30 + u], 1e-4f) / s;
          ref += qc * std::log(qc / p[(b * 3 + c) * 30 + u]);
        }
      }
    CHECK(l.value()[0] == doctest::Approx(ref / 60).epsilon(1e-4));
  }
  for (bool through : {false, true}) {
    INFO("through_crf " << through);
    losses::constrain<> loss({.through_crf = through});
    loss.crf().cfg.iterations = 3;
    auto plan = loss.prepare(exec<>{}, b, z.shape());
    rng g(5);
    tensor p(z.shape());
    for (auto& v : p) v = static_cast<float>(g.uniform(0.05, 1.0));
    // Q constant: only p is checked (finite differences in z would move the CRF's target).
    const auto r = through ? ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) {
                               return loss.record(t, plan, x[0], x[1]);
                             }, {z, p})
                           : ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) {
                               return loss.record(t, plan, t.leaf(z), x[0]);
                             }, {p});
    CHECK_MESSAGE(r.ok, r.log);
    // Q constant: the logits get no gradient at all.
    ad::tape t;
    const ad::var zl = t.leaf(z, true), pl = t.leaf(p, true);
    t.backward(loss.record(t, plan, zl, pl));
    const tensor* gz = t.grad(zl);
    double s = 0;
    if (gz)
      for (float v : *gz) s += std::abs(v);
    if (through) CHECK(s > 0);
    else CHECK(s == 0);
  }
  const losses::constrain<> loss;
  auto plan = loss.prepare(exec<>{}, b, z.shape());
  CHECK_THROWS_WITH_AS(loss.record(*std::make_unique<ad::tape>(), plan, ad::var{}, ad::var{}),
                       doctest::Contains("[wsss.value] ad::var"), wsss::value_error);
}
