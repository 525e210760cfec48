// SPDX-License-Identifier: MIT
// tests/crf/reliability.test.cpp — kernel settings that would overflow the lattice's integer
// conversions get the named error (docs/reliability.md), with no undefined behaviour first
#include <doctest/doctest.h>

#include "support.hpp"
#include "wsss/crf.hpp"

using namespace wsss;

TEST_CASE("[R13] a dense CRF with appearance sfeat = 1e-30 is a value_error before any integer overflow") {
  const rgb_image img = crf_test::disc_image(16, 16, 3);
  const tensor u = crf_test::random_unary(1, 2, 16, 16, 4);
  crf::mean_field<> crf;
  crf.cfg.kernels.appearance.sfeat = 1e-30f;
  CHECK_THROWS_WITH_AS(crf.infer(u, img),
                       doctest::Contains("[wsss.value] crf::permutohedral: features span more than the lattice's int16 keys"),
                       value_error);
  // Coordinates of 2^20 and beyond, from any source of features.
  crf::permutohedral lattice;
  tensor f({3, 4}, 1.0f);
  f[5] = 3e6f;
  CHECK_THROWS_WITH_AS(lattice.init(f), doctest::Contains("feature 1 reaches"), value_error);
  crf.cfg.kernels.appearance.sfeat = 13.0f;
  CHECK(crf.infer(u, img).shape() == u.shape());
}
