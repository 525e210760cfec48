// SPDX-License-Identifier: MIT
// tests/autodiff/ops_pointwise.test.cpp — unary ops against <cmath> and finite differences
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/pointwise.hpp>
#include <wsss/autodiff/ops/reduce.hpp>

using namespace wsss;

namespace {

struct unary_case {
  const char* name;
  std::function<ad::var(ad::var)> op;
  std::function<double(double)> ref;
  double lo, hi;  // input range (kept off kinks and domain edges)
};

// Values in [lo, hi] but at least 0.1 away from 0, so relu/elu never straddle their kink.
tensor off_zero(const shape& s, rng& g, double lo, double hi) {
  tensor t = random_uniform(s, g, lo, hi);
  for (float& v : t)
    if (std::abs(v) < 0.1f) v = v < 0 ? -0.1f - std::abs(v) : 0.1f + v;
  return t;
}

}  // namespace

TEST_CASE("pointwise ops match <cmath> and pass grad_check") {
  const unary_case cases[] = {
      {"relu", [](ad::var x) { return ad::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -2, 2},
      {"elu", [](ad::var x) { return ad::elu(x, 0.7f); }, [](double x) { return x > 0 ? x : 0.7 * std::expm1(x); }, -2, 2},
      {"sigmoid", [](ad::var x) { return ad::sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -4, 4},
      {"tanh", [](ad::var x) { return ad::tanh(x); }, [](double x) { return std::tanh(x); }, -2, 2},
      {"exp", [](ad::var x) { return ad::exp(x); }, [](double x) { return std::exp(x); }, -2, 2},
      {"log", [](ad::var x) { return ad::log(x); }, [](double x) { return std::log(x); }, 0.5, 3},
      {"sqrt", [](ad::var x) { return ad::sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.5, 3},
      {"pow 2.5", [](ad::var x) { return ad::pow(x, 2.5f); }, [](double x) { return std::pow(x, 2.5); }, 0.5, 2},
      {"pow 3 (negative base)", [](ad::var x) { return ad::pow(x, 3.0f); }, [](double x) { return x * x * x; }, -2, 2},
      {"scale", [](ad::var x) { return ad::scale(x, -1.5f); }, [](double x) { return -1.5 * x; }, -2, 2},
      {"add_scalar", [](ad::var x) { return ad::add_scalar(x, 0.25f); }, [](double x) { return x + 0.25; }, -2, 2},
  };
  rng g(5);
  for (const auto& c : cases) {
    INFO(c.name);
    const tensor x = off_zero({3, 4, 5}, g, c.lo, c.hi);
    ad::tape t;
    const ad::var y = c.op(t.leaf(x));
    for (index_t i = 0; i < x.numel(); ++i) REQUIRE(y.value()[i] == doctest::Approx(c.ref(x[i])).epsilon(1e-5));
    const auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return c.op(v[0]); }, {x},
                                  {.eps = 1e-3, .rtol = 1e-2, .atol = 1e-3});
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("sigmoid and elu stay finite at extreme inputs") {
  ad::tape t;
  const ad::var x = t.leaf(tensor::from({4}, std::vector<float>{-200, -90, 90, 200}), true);
  const ad::var s = ad::sigmoid(x);
  CHECK(s.value()[0] == 0.0f);
  CHECK(s.value()[3] == 1.0f);
  CHECK(ad::elu(x).value()[0] == doctest::Approx(-1.0));
  t.backward(ad::sum(s));
  CHECK(t.grad(x)->all_finite());
}

TEST_CASE("sqrt accepts 0 (sqrt after ReLU) with a finite zero gradient there") {
  ad::tape t;
  const ad::var x = t.leaf(tensor::from({3}, std::vector<float>{-1, 0, 4}), true);
  const ad::var y = ad::sqrt(ad::relu(x));
  CHECK(y.value()[1] == 0.0f);
  CHECK(y.value()[2] == 2.0f);
  t.backward(ad::sum(y));
  CHECK((*t.grad(x))[1] == 0.0f);
  CHECK((*t.grad(x))[2] == doctest::Approx(0.25));
}

TEST_CASE("log, sqrt and fractional pow reject inputs outside their domain") {
  ad::tape t;
  const ad::var x = t.leaf(tensor::from({3}, std::vector<float>{1, 0, 2}));
  CHECK_THROWS_WITH_AS(ad::log(x), doctest::Contains("[wsss.value] ad::log: input must be > 0, got 0 at flat index 1"),
                       value_error);
  const ad::var negative = t.leaf(tensor::from({2}, std::vector<float>{4, -1}));
  CHECK_THROWS_WITH_AS(ad::sqrt(negative), doctest::Contains("[wsss.value] ad::sqrt: input must be >= 0, got -1"),
                       value_error);
  const ad::var neg = t.leaf(tensor::from({2}, std::vector<float>{1, -1}));
  CHECK_THROWS_WITH_AS(ad::pow(neg, 0.5f), doctest::Contains("[wsss.value] ad::pow"), value_error);
  CHECK(ad::pow(neg, 2.0f).value()[1] == 1.0f);
}
