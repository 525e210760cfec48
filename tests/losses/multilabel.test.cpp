// SPDX-License-Identifier: MIT
// tests/losses/multilabel.test.cpp — multi-label logistic loss: SPN eq. 4 /
// MultiLabelSoftMarginLoss and attention eq. 14 against their formulas, grad_check
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/core/batch.hpp>
#include <wsss/losses/multilabel.hpp>

using namespace wsss;

namespace {

double sigm(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Image tags with at least one present and one absent class per row.
tensor random_tags(index_t n, index_t c, rng& g) {
  tensor t({n, c});
  for (index_t b = 0; b < n; ++b) {
    for (index_t k = 0; k < c; ++k) t(b, k) = g.uniform() < 0.3 ? 1.0f : 0.0f;
    t(b, 0) = 1.0f;
    t(b, c - 1) = 0.0f;
  }
  return t;
}

// The same tags as image-level tag sets (VOC ids: column c is class c + 1).
std::vector<tag_set> tag_sets(const tensor& y) {
  std::vector<tag_set> out(static_cast<std::size_t>(y.dim(0)));
  for (index_t b = 0; b < y.dim(0); ++b)
    for (index_t c = 0; c < y.dim(1); ++c)
      if (y(b, c) == 1.0f) out[static_cast<std::size_t>(b)].push_back(static_cast<int>(c) + 1);
  return out;
}

// The policy's loss of scores against the tags of y, read from a batch.
ad::var loss_of(ad::var scores, const tensor& y, losses::multilabel::config cfg) {
  const std::vector<tag_set> tags = tag_sets(y);
  cfg.classes = y.dim(1);
  const losses::multilabel loss(cfg);
  auto plan = loss.prepare(exec<>{}, batch{.tags = tags}, scores.shape());
  return loss.record(scores.owner(), plan, scores);
}

}  // namespace

TEST_CASE("class_mean is SPN eq. 4 negated: the batch mean of (1/C) sum_c BCE(sigmoid(f_c), y_c)") {
  rng g(61);
  const tensor f = random_uniform({3, 5}, g, -4, 4), y = random_tags(3, 5, g);
  double want = 0;
  for (index_t b = 0; b < 3; ++b) {
    double s = 0;
    for (index_t c = 0; c < 5; ++c)  // eq. 4: y log(e^f / (1 + e^f)) + (1 - y) log(1 / (1 + e^f))
      s += y(b, c) * std::log(std::exp(f(b, c)) / (1 + std::exp(f(b, c)))) + (1 - y(b, c)) * std::log(1 / (1 + std::exp(f(b, c))));
    want += -s / 5;
  }
  want /= 3;
  ad::tape t;
  CHECK(loss_of(t.leaf(f), y, {}).value()[0] == doctest::Approx(want).epsilon(1e-5));
  // The same loss from probabilities, and from N x C x 1 x 1 scores (after global pooling).
  tensor p(f.shape());
  for (index_t i = 0; i < f.numel(); ++i) p[i] = static_cast<float>(sigm(f[i]));
  CHECK(loss_of(t.leaf(p), y, {.norm = losses::multilabel_norm::class_mean, .input = losses::multilabel_input::probabilities})
            .value()[0] == doctest::Approx(want).epsilon(1e-4));
  CHECK(loss_of(t.leaf(f.reshaped({3, 5, 1, 1})), y, {}).value()[0] == doctest::Approx(want).epsilon(1e-5));
}

TEST_CASE("present_absent_mean is attention eq. 14: separate means over present and absent classes") {
  rng g(62);
  const tensor p = random_uniform({2, 6}, g, 0.05, 0.95), y = random_tags(2, 6, g);
  double want = 0;
  for (index_t b = 0; b < 2; ++b) {
    double sp = 0, sa = 0;
    int np = 0, na = 0;
    for (index_t c = 0; c < 6; ++c)
      if (y(b, c) == 1.0f) {
        sp += std::log(p(b, c));
        ++np;
      } else {
        sa += std::log(1 - p(b, c));
        ++na;
      }
    want += -sp / np - sa / na;
  }
  want /= 2;
  ad::tape t;
  const losses::multilabel::config eq14{.norm = losses::multilabel_norm::present_absent_mean,
                                        .input = losses::multilabel_input::probabilities};
  CHECK(loss_of(t.leaf(p), y, eq14).value()[0] == doctest::Approx(want).epsilon(1e-5));
  // An image with no present class keeps only the absent term.
  const tensor none({1, 3}), q({1, 3}, 0.25f);
  CHECK(loss_of(t.leaf(q), none, eq14).value()[0] == doctest::Approx(-std::log(0.75)));
}

TEST_CASE("multi-label losses pass grad_check in every form and stay finite for large logits") {
  rng g(63);
  const tensor f = random_uniform({3, 4}, g, -3, 3), p = random_uniform({3, 4}, g, 0.1, 0.9), y = random_tags(3, 4, g);
  for (auto norm : {losses::multilabel_norm::class_mean, losses::multilabel_norm::present_absent_mean}) {
    auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return loss_of(v[0], y, {.norm = norm}); },
                            {f}, {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4});
    CHECK_MESSAGE(r.ok, r.log);
    r = ad::grad_check(
        [&](ad::tape&, std::span<const ad::var> v) {
          return loss_of(v[0], y, {.norm = norm, .input = losses::multilabel_input::probabilities});
        },
        {p}, {.eps = 1e-3, .rtol = 1e-2, .atol = 1e-4});
    CHECK_MESSAGE(r.ok, r.log);
  }
  ad::tape t;
  const ad::var big = t.leaf(tensor::from({1, 2}, std::vector<float>{200, -200}), true);
  const ad::var l = loss_of(big, tensor::from({1, 2}, std::vector<float>{0, 1}), {});
  CHECK(l.value()[0] == doctest::Approx(200));
  t.backward(l);
  CHECK((*t.grad(big))[0] == doctest::Approx(0.5));
  CHECK((*t.grad(big))[1] == doctest::Approx(-0.5));
}

TEST_CASE("multi-label loss rejects mismatched or out-of-range targets") {
  ad::tape t;
  const ad::var s = t.leaf(tensor({2, 3}));
  CHECK_THROWS_WITH_AS(losses::multilabel_logistic(s, tensor({2, 4})),
                       doctest::Contains("[wsss.shape] losses::multilabel_logistic: targets must be 2x3"), shape_error);
  CHECK_THROWS_WITH_AS(losses::multilabel_logistic(s, tensor({2, 3}, 1.5f)),
                       doctest::Contains("[wsss.value] losses::multilabel_logistic: target 1.5"), value_error);
  CHECK_THROWS_WITH_AS(losses::multilabel_logistic(s, tensor({2, 3}, 0.5f), losses::multilabel_norm::present_absent_mean),
                       doctest::Contains("needs 0/1 targets"), value_error);
  CHECK_THROWS_WITH_AS(losses::multilabel_logistic(t.leaf(tensor({2, 3}, 2.0f)), tensor({2, 3}),
                                                   losses::multilabel_norm::class_mean,
                                                   losses::multilabel_input::probabilities),
                       doctest::Contains("probability 2"), value_error);
  CHECK_THROWS_WITH_AS(losses::multilabel_logistic(t.leaf(tensor({2, 3, 2, 2})), tensor({2, 3})),
                       doctest::Contains("scores must be N x C"), shape_error);
}
