// SPDX-License-Identifier: MIT
// tests/autodiff/ops_layers.test.cpp — batch norm, dropout, linear and bilinear resize ops:
// closed forms, PyTorch's running-statistics rule, masks, and grad_check
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/batch_norm.hpp>
#include <wsss/autodiff/ops/dropout.hpp>
#include <wsss/autodiff/ops/linear.hpp>
#include <wsss/autodiff/ops/reduce.hpp>
#include <wsss/autodiff/ops/resize.hpp>

using namespace wsss;

TEST_CASE("batch_norm with batch statistics normalises each channel and updates running stats as torch") {
  rng g(41);
  const tensor x = random_uniform({3, 2, 4, 5}, g, -2, 3);
  const tensor gamma = tensor::from({2}, std::vector<float>{1.5f, -0.5f}), beta = tensor::from({2}, std::vector<float>{0.2f, 1.0f});
  tensor rm({2}, 0.5f), rv({2}, 2.0f);
  ad::tape t;
  const ad::var y = ad::batch_norm(t.leaf(x), t.leaf(gamma), t.leaf(beta), rm, rv, true, 0.1f, 1e-5f);
  for (index_t c = 0; c < 2; ++c) {
    double s = 0, s2 = 0;
    const index_t m = 3 * 20;
    for (index_t n = 0; n < 3; ++n)
      for (index_t i = 0; i < 20; ++i) s += x[(n * 2 + c) * 20 + i];
    const double mu = s / m;
    for (index_t n = 0; n < 3; ++n)
      for (index_t i = 0; i < 20; ++i) s2 += (x[(n * 2 + c) * 20 + i] - mu) * (x[(n * 2 + c) * 20 + i] - mu);
    const double var = s2 / m;
    for (index_t n = 0; n < 3; ++n)
      for (index_t i = 0; i < 20; ++i) {
        const index_t k = (n * 2 + c) * 20 + i;
        CHECK(y.value()[k] == doctest::Approx(gamma[c] * (x[k] - mu) / std::sqrt(var + 1e-5) + beta[c]).epsilon(1e-4));
      }
    CHECK(rm[c] == doctest::Approx(0.9 * 0.5 + 0.1 * mu));
    CHECK(rv[c] == doctest::Approx(0.9 * 2.0 + 0.1 * s2 / (m - 1)));  // unbiased, as torch
  }
}

TEST_CASE("batch_norm with running statistics uses them and leaves them unchanged") {
  rng g(42);
  const tensor x = random_uniform({2, 3, 2, 2}, g, -1, 1);
  const tensor gamma({3}, 2.0f), beta({3}, -1.0f);
  tensor rm = tensor::from({3}, std::vector<float>{0.1f, 0.2f, 0.3f}), rv = tensor::from({3}, std::vector<float>{1, 4, 9});
  ad::tape t;
  const ad::var y = ad::batch_norm(t.leaf(x), t.leaf(gamma), t.leaf(beta), rm, rv, false, 0.1f, 1e-5f);
  for (index_t k = 0; k < x.numel(); ++k) {
    const index_t c = (k / 4) % 3;
    CHECK(y.value()[k] == doctest::Approx(2.0 * (x[k] - rm[c]) / std::sqrt(rv[c] + 1e-5) - 1.0));
  }
  CHECK(rm[1] == 0.2f);
  CHECK(rv[2] == 9.0f);
  CHECK_THROWS_WITH_AS(ad::batch_norm(t.leaf(x), t.leaf(tensor({2})), t.leaf(beta), rm, rv, false, 0.1f, 1e-5f),
                       doctest::Contains("[wsss.shape] ad::batch_norm: gamma must be 3"), shape_error);
}

TEST_CASE("batch_norm passes grad_check in both modes") {
  rng g(43);
  const tensor x = random_uniform({2, 3, 3, 2}, g, -1, 1), gamma = random_uniform({3}, g, 0.5, 1.5),
               beta = random_uniform({3}, g, -1, 1);
  for (bool batch : {true, false}) {
    INFO("batch statistics ", batch);
    tensor rm({3}, 0.1f), rv({3}, 0.8f);
    const auto r = ad::grad_check(
        [&](ad::tape&, std::span<const ad::var> v) { return ad::batch_norm(v[0], v[1], v[2], rm, rv, batch, 0.1f, 1e-5f); },
        {x, gamma, beta}, {.eps = 1e-2, .rtol = 2e-2, .atol = 2e-3, .max_coords = 36});
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("dropout: identity in evaluation, in training a scaled mask that backward reuses") {
  rng g(44);
  const tensor x = random_uniform({4, 8, 16, 16}, g, 1, 2);
  ad::tape t;
  const ad::var xv = t.leaf(x, true);
  t.set_training(false);
  CHECK(ad::dropout(xv, 0.5f).id() == xv.id());
  CHECK(ad::dropout2d(xv, 0.5f).id() == xv.id());
  t.set_training(true);
  const ad::var y = ad::dropout(xv, 0.3f);
  index_t zeros = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    if (y.value()[i] == 0.0f) ++zeros;
    else REQUIRE(y.value()[i] == doctest::Approx(x[i] / 0.7f));
  }
  CHECK(static_cast<double>(zeros) / static_cast<double>(x.numel()) == doctest::Approx(0.3).epsilon(0.05));
  t.backward(ad::sum(y));
  for (index_t i = 0; i < x.numel(); ++i) REQUIRE((*t.grad(xv))[i] == doctest::Approx(y.value()[i] / x[i]));
  CHECK_THROWS_WITH_AS(ad::dropout(xv, 1.0f), doctest::Contains("[wsss.value] ad::dropout: p must be in [0, 1)"),
                       value_error);
}

TEST_CASE("dropout and dropout2d pass grad_check (a fresh tape draws the same mask from its seeded rng)") {
  rng g(49);
  const tensor x = random_uniform({2, 4, 3, 3}, g, -1, 1);
  auto r = ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return ad::dropout(v[0], 0.4f); }, {x});
  CHECK_MESSAGE(r.ok, r.log);
  r = ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return ad::dropout2d(v[0], 0.4f); }, {x});
  CHECK_MESSAGE(r.ok, r.log);
}

TEST_CASE("dropout2d drops whole channels") {
  rng g(45);
  const tensor x = random_uniform({4, 32, 3, 3}, g, 1, 2);
  ad::tape t;
  const ad::var y = ad::dropout2d(t.leaf(x), 0.5f);
  index_t dropped = 0;
  for (index_t p = 0; p < 4 * 32; ++p) {
    const bool z = y.value()[p * 9] == 0.0f;
    dropped += z;
    for (index_t i = 0; i < 9; ++i) REQUIRE(y.value()[p * 9 + i] == doctest::Approx(z ? 0.0f : 2.0f * x[p * 9 + i]));
  }
  CHECK(dropped > 32);
  CHECK(dropped < 96);
  CHECK_THROWS_WITH_AS(ad::dropout2d(t.leaf(tensor({4, 5})), 0.5f), doctest::Contains("[wsss.shape] ad::dropout2d"),
                       shape_error);
}

TEST_CASE("linear computes x W^T + b and passes grad_check with and without bias") {
  rng g(46);
  const tensor x = random_uniform({3, 5}, g, -1, 1), w = random_uniform({4, 5}, g, -1, 1), b = random_uniform({4}, g, -1, 1);
  ad::tape t;
  const ad::var y = ad::linear(t.leaf(x), t.leaf(w), t.leaf(b));
  REQUIRE(y.shape() == shape{3, 4});
  for (index_t n = 0; n < 3; ++n)
    for (index_t o = 0; o < 4; ++o) {
      double s = b[o];
      for (index_t i = 0; i < 5; ++i) s += static_cast<double>(x(n, i)) * w(o, i);
      CHECK(y.value()(n, o) == doctest::Approx(s).epsilon(1e-5));
    }
  auto r = ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return ad::linear(v[0], v[1], v[2]); }, {x, w, b});
  CHECK_MESSAGE(r.ok, r.log);
  r = ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return ad::linear(v[0], v[1]); },
                     {x.reshaped({3, 5, 1, 1}), w});
  CHECK_MESSAGE(r.ok, r.log);
  CHECK_THROWS_WITH_AS(ad::linear(t.leaf(tensor({3, 6})), t.leaf(w)),
                       doctest::Contains("[wsss.shape] ad::linear: x 3x6 has 6 features per row"), shape_error);
}

TEST_CASE("linear large enough to split across threads matches the naive product in all three GEMMs") {
  rng g(48);
  const index_t n = 8, in = 520, out = 610;  // > 2e6 multiply-adds: the blocked parallel path
  const tensor x = random_uniform({n, in}, g, -1, 1), w = random_uniform({out, in}, g, -1, 1),
               b = random_uniform({out}, g, -1, 1), gy = random_uniform({n, out}, g, -1, 1);
  ad::tape t;
  const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true), bv = t.leaf(b, true);
  const ad::var y = ad::linear(xv, wv, bv);
  t.backward(y, gy);
  for (index_t r = 0; r < n; r += 3)
    for (index_t o = 0; o < out; o += 7) {
      double s = b[o];
      for (index_t i = 0; i < in; ++i) s += static_cast<double>(x(r, i)) * w(o, i);
      REQUIRE(y.value()(r, o) == doctest::Approx(s).epsilon(1e-4));
    }
  for (index_t r = 0; r < n; r += 3)
    for (index_t i = 0; i < in; i += 11) {
      double s = 0;
      for (index_t o = 0; o < out; ++o) s += static_cast<double>(gy(r, o)) * w(o, i);
      REQUIRE((*t.grad(xv))(r, i) == doctest::Approx(s).epsilon(1e-4));
    }
  for (index_t o = 0; o < out; o += 13)
    for (index_t i = 0; i < in; i += 17) {
      double s = 0, sb = 0;
      for (index_t r = 0; r < n; ++r) {
        s += static_cast<double>(gy(r, o)) * x(r, i);
        sb += gy(r, o);
      }
      REQUIRE((*t.grad(wv))(o, i) == doctest::Approx(s).epsilon(1e-4));
      REQUIRE((*t.grad(bv))[o] == doctest::Approx(sb).epsilon(1e-4));
    }
}

TEST_CASE("resize_bilinear op forwards core's resize and backpropagates its adjoint") {
  rng g(47);
  const tensor x = random_uniform({1, 2, 5, 4}, g, -1, 1);
  for (auto mode : {resize_mode::half_pixel, resize_mode::align_corners}) {
    for (const auto& hw : {std::pair<index_t, index_t>{9, 7}, {3, 2}}) {
      const index_t h = hw.first, w = hw.second;  // named: clang 14 cannot capture a binding in a lambda
      ad::tape t;
      const ad::var y = ad::resize_bilinear(t.leaf(x), h, w, mode);
      const tensor ref = wsss::resize_bilinear(x, h, w, mode);
      for (index_t i = 0; i < ref.numel(); ++i) REQUIRE(y.value()[i] == ref[i]);
      const auto r = ad::grad_check(
          [&](ad::tape&, std::span<const ad::var> v) { return ad::resize_bilinear(v[0], h, w, mode); }, {x});
      CHECK_MESSAGE(r.ok, r.log);
    }
  }
}
