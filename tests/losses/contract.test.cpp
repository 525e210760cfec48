// SPDX-License-Identifier: MIT
// tests/losses/contract.test.cpp — every loss policy through the public contract checker
// (wsss/testing/losses.hpp): targets from the batch (tags, label maps, images), a {1} value,
// determinism, plan reuse, finite differences, refused shapes and configs
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <tuple>
#include <vector>

#include <wsss/core/random.hpp>
#include <wsss/crf.hpp>
#include <wsss/losses.hpp>
#include <wsss/testing/losses.hpp>

using namespace wsss;

namespace {

/// Every loss policy of these headers (constrain with each CRF slot).
using all_losses = std::tuple<losses::multilabel, losses::cross_entropy, losses::constrain<>,
                              losses::constrain<crf::mean_field<crf::exact_filter>>,
                              losses::constrain<crf::crf_rnn<>>>;

/// softmax over axis 1 of x (B x C x h x w).
tensor softmax_channels(const tensor& x) {
  const index_t b = x.dim(0), c = x.dim(1), n = x.dim(2) * x.dim(3);
  tensor p(x.shape());
  for (index_t i = 0; i < b; ++i)
    for (index_t u = 0; u < n; ++u) {
      double s = 0;
      for (index_t k = 0; k < c; ++k) s += std::exp(x[(i * c + k) * n + u]);
      for (index_t k = 0; k < c; ++k) p[(i * c + k) * n + u] = static_cast<float>(std::exp(x[(i * c + k) * n + u]) / s);
    }
  return p;
}

/// The policies of type L to check (config variants), each with its batch and inputs.
template <class L>
void check_all() {
  rng g(31);
  if constexpr (std::is_same_v<L, losses::multilabel>) {
    const std::vector<tag_set> tags{{1, 3}, {2}, {1, 4, 5}};
    const batch b{.tags = tags};
    for (auto norm : {losses::multilabel_norm::class_mean, losses::multilabel_norm::present_absent_mean}) {
      L logits({.norm = norm, .classes = 5});
      auto r = testing::check_loss(logits, b, std::array{random_uniform({3, 5}, g, -3, 3)},
                                   {.bad_config = typename L::config{.classes = 0}});
      CHECK_MESSAGE(r.ok, r.log);
      L probs({.norm = norm, .input = losses::multilabel_input::probabilities, .classes = 5});
      r = testing::check_loss(probs, b, std::array{random_uniform({3, 5, 1, 1}, g, 0.1, 0.9)},
                              {.grad = {.eps = 1e-3, .rtol = 1e-2, .atol = 1e-4}});
      CHECK_MESSAGE(r.ok, r.log);
    }
  } else if constexpr (std::is_same_v<L, losses::cross_entropy>) {
    std::vector<label_map> labels(2, label_map(3, 4));
    for (auto& l : labels)
      for (index_t i = 0; i < l.pixels(); ++i)
        l[i] = g.uniform() < 0.25 ? ignore_label : static_cast<std::uint8_t>(g.below(3));
    L loss;
    const auto r = testing::check_loss(loss, batch{.labels = labels}, std::array{random_uniform({2, 3, 3, 4}, g, -2, 2)});
    CHECK_MESSAGE(r.ok, r.log);
  } else {
    // SEC's sizes scaled down: 24 x 20 images, 6 x 5 scores, 3 iterations.
    std::vector<rgb_image> imgs;
    for (int i = 0; i < 2; ++i) {
      rgb_image im(24, 20);
      for (index_t k = 0; k < 24 * 20 * 3; ++k) im.data()[k] = static_cast<std::uint8_t>(g.below(256));
      imgs.push_back(std::move(im));
    }
    const tensor z = random_uniform({2, 3, 6, 5}, g, 0.0, 4.0);
    for (bool through : {false, true}) {
      INFO("through_crf " << through);
      using C = std::remove_cvref_t<decltype(std::declval<L&>().crf())>;
      C crf = losses::sec_constrain_crf<C>();
      crf.cfg.iterations = 3;
      if constexpr (requires { crf.cfg.labels; }) crf = C({.kernels = crf.cfg.kernels, .iterations = 3, .labels = 3});
      L loss({.through_crf = through}, crf);
      // Q constant: only the probabilities are perturbed (the logits move the CRF's target).
      // Noise images make the CRF strongly nonlinear in the logits: a small difference step.
      const auto r = testing::check_loss(loss, images_only(imgs), std::array{z, softmax_channels(z)},
                                         {.vary = {through, true}, .grad = {.eps = 2e-3}, .bad_config = typename L::config{.q_floor = 0.0f}});
      CHECK_MESSAGE(r.ok, r.log);
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every loss satisfies the contract checker", L, loss_contract) { check_all<L>(); }
TEST_CASE_TEMPLATE_APPLY(loss_contract, all_losses);

TEST_CASE("multilabel reads its targets from the batch's tags (VOC ids 1..C, no background column)") {
  ad::tape t;
  const tensor f = tensor::from({2, 3}, std::vector<float>{1, -1, 2, 0, 0, 0});
  const std::vector<tag_set> tags{{1, 3}, {2}};
  const losses::multilabel loss({.classes = 3});
  auto plan = loss.prepare(exec<>{}, batch{.tags = tags}, f.shape());
  const tensor want = tensor::from({2, 3}, std::vector<float>{1, 0, 1, 0, 1, 0});
  CHECK(loss.record(t, plan, t.leaf(f)).value()[0] == losses::multilabel_logistic(t.leaf(f), want).value()[0]);
  const std::vector<tag_set> bad{{1, 4}, {2}};
  CHECK_THROWS_WITH_AS(loss.prepare(exec<>{}, batch{.tags = bad}, f.shape()),
                       doctest::Contains("[wsss.value] losses::multilabel_logistic: tag 4 is outside [1, 4)"),
                       value_error);
  CHECK_THROWS_WITH_AS(loss.prepare(exec<>{}, batch{.tags = tags}, shape{2, 4}),
                       doctest::Contains("[wsss.shape] losses::multilabel_logistic: scores have 4 classes"), shape_error);
  CHECK_THROWS_WITH_AS(loss.prepare(exec<>{}, batch{}, f.shape()),
                       doctest::Contains("[wsss.value] losses::multilabel_logistic: needs image tags"), value_error);
}

TEST_CASE("constrain<crf_rnn> is trainable: the CRF's parameters are the loss's") {
  losses::constrain<crf::crf_rnn<>> loss({.through_crf = true}, crf::crf_rnn<>({.labels = 3}, "sec.crf"));
  std::vector<std::string> names;
  loss.visit_params([&](ad::parameter& p) { names.push_back(p.name); });
  CHECK(names == std::vector<std::string>{"sec.crf.compat", "sec.crf.kernel_weights"});
  static_assert(!Trainable<losses::constrain<>>);
}
