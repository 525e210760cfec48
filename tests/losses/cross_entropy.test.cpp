// SPDX-License-Identifier: MIT
// tests/losses/cross_entropy.test.cpp — softmax cross-entropy with ignore label: a double
// reference, the ignore and all-ignored cases, bad labels and grad_check
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/core/batch.hpp>
#include <wsss/losses/cross_entropy.hpp>

using namespace wsss;

namespace {

std::vector<label_map> random_labels(index_t n, index_t h, index_t w, int classes, rng& g, double ignore_frac) {
  std::vector<label_map> out;
  for (index_t b = 0; b < n; ++b) {
    label_map l(h, w);
    for (index_t i = 0; i < l.pixels(); ++i)
      l[i] = g.uniform() < ignore_frac ? ignore_label : static_cast<std::uint8_t>(g.below(static_cast<std::uint64_t>(classes)));
    out.push_back(l);
  }
  return out;
}

double reference(const tensor& x, const std::vector<label_map>& labels) {
  const index_t c = x.dim(1), h = x.dim(2), w = x.dim(3);
  double total = 0;
  index_t count = 0;
  for (index_t b = 0; b < x.dim(0); ++b)
    for (index_t i = 0; i < h; ++i)
      for (index_t j = 0; j < w; ++j) {
        const int l = labels[static_cast<std::size_t>(b)](i, j);
        if (l == ignore_label) continue;
        double se = 0;
        for (index_t k = 0; k < c; ++k) se += std::exp(static_cast<double>(x(b, k, i, j)));
        total += std::log(se) - x(b, l, i, j);
        ++count;
      }
  return total / static_cast<double>(count);
}

// The policy's loss of logits against the label maps of a batch.
ad::var loss_of(ad::var logits, std::span<const label_map> labels, losses::cross_entropy::config cfg = {}) {
  const losses::cross_entropy loss(cfg);
  auto plan = loss.prepare(exec<>{}, batch{.labels = labels}, logits.shape());
  return loss.record(logits.owner(), plan, logits);
}

}  // namespace

TEST_CASE("softmax cross-entropy is the mean negative log-likelihood over non-ignored pixels") {
  rng g(51);
  const tensor x = random_uniform({2, 4, 3, 5}, g, -3, 3);
  const auto labels = random_labels(2, 3, 5, 4, g, 0.3);
  ad::tape t;
  const ad::var loss = loss_of(t.leaf(x), labels);
  REQUIRE(loss.shape() == shape{1});
  CHECK(loss.value()[0] == doctest::Approx(reference(x, labels)).epsilon(1e-5));
}

TEST_CASE("softmax cross-entropy passes grad_check and gives ignored pixels no gradient") {
  rng g(52);
  const tensor x = random_uniform({2, 3, 4, 4}, g, -2, 2);
  const auto labels = random_labels(2, 4, 4, 3, g, 0.25);
  const auto r = ad::grad_check(
      [&](ad::tape&, std::span<const ad::var> v) { return loss_of(v[0], labels); }, {x},
      {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4, .max_coords = 96});
  CHECK_MESSAGE(r.ok, r.log);
  ad::tape t;
  const ad::var xv = t.leaf(x, true);
  t.backward(loss_of(xv, labels));
  for (index_t b = 0; b < 2; ++b)
    for (index_t i = 0; i < 16; ++i) {
      double s = 0;
      for (index_t k = 0; k < 3; ++k) s += (*t.grad(xv))[(b * 3 + k) * 16 + i];
      CHECK(s == doctest::Approx(0).epsilon(1e-6));  // softmax - onehot sums to 0 per pixel
      if (labels[static_cast<std::size_t>(b)][i] == ignore_label)
        for (index_t k = 0; k < 3; ++k) CHECK((*t.grad(xv))[(b * 3 + k) * 16 + i] == 0.0f);
    }
}

TEST_CASE("an all-ignored batch gives loss 0 and a zero gradient, N x C logits work with 1 x 1 maps") {
  ad::tape t;
  const ad::var xv = t.leaf(tensor({1, 3, 2, 2}, 1.0f), true);
  const label_map all_ignored(2, 2, ignore_label);
  const ad::var loss = loss_of(xv, std::span(&all_ignored, 1));
  CHECK(loss.value()[0] == 0.0f);
  t.backward(loss);
  for (float v : *t.grad(xv)) CHECK(v == 0.0f);

  const tensor x2 = tensor::from({2, 3}, std::vector<float>{1, 2, 3, 0, 0, 0});
  std::vector<label_map> l2{label_map(1, 1, 2), label_map(1, 1, 0)};
  const ad::var l = loss_of(t.leaf(x2), l2);
  const double want = 0.5 * ((std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0) + std::log(3.0));
  CHECK(l.value()[0] == doctest::Approx(want));
}

TEST_CASE("softmax cross-entropy rejects bad labels and mismatched sizes") {
  ad::tape t;
  const ad::var x = t.leaf(tensor({1, 3, 2, 2}));
  label_map bad(2, 2, 0);
  bad(1, 0) = 3;
  CHECK_THROWS_WITH_AS(loss_of(x, std::span(&bad, 1)),
                       doctest::Contains("[wsss.value] losses::softmax_cross_entropy: label 3 at flat pixel 2"),
                       value_error);
  CHECK_THROWS_WITH_AS(losses::softmax_cross_entropy(x, label_map(2, 3)),
                       doctest::Contains("[wsss.shape] losses::softmax_cross_entropy: label map 0 is 2x3"), shape_error);
  const std::vector<label_map> two(2, label_map(2, 2));
  CHECK_THROWS_WITH_AS(loss_of(x, two),
                       doctest::Contains("[wsss.shape] losses::softmax_cross_entropy: got 2 label maps for a batch of 1"),
                       shape_error);
  label_map custom(2, 2, 0);
  custom(0, 0) = 7;  // a custom ignore value
  CHECK(loss_of(x, std::span(&custom, 1), {.ignore = 7}).value()[0] == doctest::Approx(std::log(3.0)));
}
