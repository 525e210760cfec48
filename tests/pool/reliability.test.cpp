// SPDX-License-Identifier: MIT
// tests/pool/reliability.test.cpp — GMP and LSE refuse NaN and infinite scores (the Pooler
// contract: inputs are checked) instead of dropping them into a finite score (docs/reliability.md)
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "wsss/pool.hpp"

using wsss::index_t;
using wsss::tensor;
namespace pool = wsss::pool;

TEST_CASE("[R14] GMP and LSE on a NaN or infinite score are value_errors naming the plane") {
  for (const float bad : {std::nanf(""), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    for (const index_t hw : {index_t{3}, index_t{70}}) {  // shorter and longer than the reductions' lanes
      tensor s({2, 3, hw, hw}, 0.25f);
      s[(1 * 3 + 2) * hw * hw + hw + 1] = bad;  // image 1, class 2
      CHECK_THROWS_WITH_AS(pool::run(pool::gmp{}, s),
                           doctest::Contains("[wsss.value] pool::gmp: scores must be finite; plane (image 1, class 2)"),
                           wsss::value_error);
      CHECK_THROWS_WITH_AS(pool::run(pool::lse{}, s),
                           doctest::Contains("[wsss.value] pool::lse: scores must be finite; plane (image 1, class 2)"),
                           wsss::value_error);
      CHECK_THROWS_AS(pool::run(pool::gmp{}, s, {}, wsss::exec<wsss::cpu_t>{}), wsss::value_error);
    }
  }
  const tensor ok({1, 2, 5, 5}, 0.5f);
  CHECK(pool::run(pool::gmp{}, ok)[1] == 0.5f);
  CHECK(pool::run(pool::lse{}, ok)[0] == doctest::Approx(0.5f));
}
