// SPDX-License-Identifier: MIT
// tests/core/math.test.cpp — exp_nonpositive against std::exp (in double) over its domain
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "wsss/core/math.hpp"

TEST_CASE("exp_nonpositive: relative error below 2^-23 against std::exp on [-87, 0]") {
  double worst = 0;
  // A dense sweep (every 1e-4 near 0, where most softmax exponents land) and a coarse one to -87.
  for (int i = 0; i <= 200000; ++i) {
    const float x = static_cast<float>(-1e-4 * i);
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(wsss::detail::exp_nonpositive(x) - ref) / ref);
  }
  for (int i = 0; i < 87000; ++i) {  // down to -86.99937
    const float x = static_cast<float>(-1e-3 * i) - 0.00037f;
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(wsss::detail::exp_nonpositive(x) - ref) / ref);
  }
  MESSAGE("max relative error ", worst);
  CHECK(worst < std::ldexp(1.0, -23));
  CHECK(worst > 0);  // a polynomial, not a call to std::exp
}

TEST_CASE("exp_nonpositive: exact values at 0 and the flush to 0 below -87") {
  CHECK(wsss::detail::exp_nonpositive(0.0f) == 1.0f);
  CHECK(wsss::detail::exp_nonpositive(-0.0f) == 1.0f);
  CHECK(wsss::detail::exp_nonpositive(-std::log(2.0f)) == doctest::Approx(0.5).epsilon(1e-7));
  CHECK(wsss::detail::exp_nonpositive(-87.5f) == 0.0f);
  CHECK(wsss::detail::exp_nonpositive(-1000.0f) == 0.0f);
  CHECK(wsss::detail::exp_nonpositive(-std::numeric_limits<float>::infinity()) == 0.0f);
  // Just above the cut it is still the (tiny, normal) exponential.
  const float x = -86.9f;
  CHECK(std::abs(wsss::detail::exp_nonpositive(x) - std::exp(static_cast<double>(x))) / std::exp(static_cast<double>(x)) <
        std::ldexp(1.0, -23));
}
