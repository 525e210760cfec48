// SPDX-License-Identifier: MIT
// tests/autodiff/ops_softmax_reduce.test.cpp — softmax/log-softmax along an axis and the
// sum/mean reductions: values against double-precision loops, gradients by grad_check
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/reduce.hpp>
#include <wsss/autodiff/ops/softmax.hpp>

using namespace wsss;

namespace {

// Reference softmax along axis 1 of an N x C x H x W tensor, in double.
std::vector<double> softmax_ref(const tensor& x) {
  const index_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
  std::vector<double> y(static_cast<std::size_t>(x.numel()));
  for (index_t b = 0; b < n; ++b)
    for (index_t i = 0; i < hw; ++i) {
      double m = -1e300, s = 0;
      for (index_t k = 0; k < c; ++k) m = std::max(m, static_cast<double>(x[(b * c + k) * hw + i]));
      for (index_t k = 0; k < c; ++k) s += std::exp(x[(b * c + k) * hw + i] - m);
      for (index_t k = 0; k < c; ++k)
        y[static_cast<std::size_t>((b * c + k) * hw + i)] = std::exp(x[(b * c + k) * hw + i] - m) / s;
    }
  return y;
}

}  // namespace

TEST_CASE("softmax and log_softmax along the class axis match a double reference") {
  rng g(21);
  const tensor x = random_uniform({2, 5, 3, 4}, g, -3, 3);
  const auto ref = softmax_ref(x);
  ad::tape t;
  const ad::var p = ad::softmax(t.leaf(x));
  const ad::var lp = ad::log_softmax(t.leaf(x));
  for (index_t i = 0; i < x.numel(); ++i) {
    CHECK(p.value()[i] == doctest::Approx(ref[static_cast<std::size_t>(i)]).epsilon(1e-5));
    CHECK(lp.value()[i] == doctest::Approx(std::log(ref[static_cast<std::size_t>(i)])).epsilon(1e-5));
  }
}

TEST_CASE("softmax is shift-invariant and stable for logits of 1e4") {
  ad::tape t;
  const tensor big = tensor::from({1, 3}, std::vector<float>{1e4f, 1e4f - 1, 1e4f - 2});
  const tensor small = tensor::from({1, 3}, std::vector<float>{0, -1, -2});
  const ad::var a = ad::softmax(t.leaf(big)), b = ad::softmax(t.leaf(small));
  const ad::var la = ad::log_softmax(t.leaf(tensor::from({1, 2}, std::vector<float>{0, -200})));
  for (index_t i = 0; i < 3; ++i) CHECK(a.value()[i] == doctest::Approx(b.value()[i]));
  CHECK(la.value()[1] == doctest::Approx(-200));  // exact where softmax underflows to 0
}

TEST_CASE("softmax and log_softmax pass grad_check along several axes") {
  rng g(4);
  const tensor x = random_uniform({2, 4, 3, 3}, g, -2, 2);
  for (int axis : {1, 0, -1}) {
    INFO("axis ", axis);
    for (bool log : {false, true}) {
      const auto r = ad::grad_check(
          [&](ad::tape&, std::span<const ad::var> v) { return log ? ad::log_softmax(v[0], axis) : ad::softmax(v[0], axis); },
          {x}, {.eps = 1e-2, .rtol = 2e-2, .atol = 1e-3, .max_coords = 72});
      CHECK_MESSAGE(r.ok, r.log);
    }
  }
  ad::tape t;
  CHECK_THROWS_WITH_AS(ad::softmax(t.leaf(x), 4), doctest::Contains("[wsss.shape] ad::softmax: axis 4 out of range"),
                       shape_error);
}

TEST_CASE("sum and mean over everything and along an axis, with and without keepdim") {
  rng g(8);
  const tensor x = random_uniform({2, 3, 4}, g, -1, 1);
  double total = 0;
  for (float v : x) total += v;
  ad::tape t;
  const ad::var xv = t.leaf(x);
  CHECK(ad::sum(xv).shape() == shape{1});
  CHECK(ad::sum(xv).value()[0] == doctest::Approx(total).epsilon(1e-5));
  CHECK(ad::mean(xv).value()[0] == doctest::Approx(total / 24).epsilon(1e-5));
  const ad::var s1 = ad::sum(xv, 1, false), m1k = ad::mean(xv, -2, true);
  CHECK(s1.shape() == shape{2, 4});
  CHECK(m1k.shape() == shape{2, 1, 4});
  for (index_t b = 0; b < 2; ++b)
    for (index_t k = 0; k < 4; ++k) {
      double s = 0;
      for (index_t c = 0; c < 3; ++c) s += x(b, c, k);
      CHECK(s1.value()(b, k) == doctest::Approx(s).epsilon(1e-5));
      CHECK(m1k.value()(b, 0, k) == doctest::Approx(s / 3).epsilon(1e-5));
    }
  CHECK(ad::sum(xv, 0, false).shape() == shape{3, 4});
  CHECK(ad::sum(xv, 2, true).shape() == shape{2, 3, 1});
  CHECK_THROWS_WITH_AS(ad::mean(t.leaf(tensor())), doctest::Contains("[wsss.shape] ad::mean"), shape_error);
}

TEST_CASE("reductions pass grad_check") {
  rng g(9);
  const tensor x = random_uniform({2, 3, 4}, g, -1, 1);
  const std::function<ad::var(ad::var)> fs[] = {
      [](ad::var v) { return ad::sum(v); },
      [](ad::var v) { return ad::mean(v); },
      [](ad::var v) { return ad::sum(v, 1, false); },
      [](ad::var v) { return ad::mean(v, 0, true); },
      [](ad::var v) { return ad::mean(v, -1, false); },
  };
  for (const auto& f : fs) {
    const auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return f(v[0]); }, {x});
    CHECK_MESSAGE(r.ok, r.log);
  }
}
