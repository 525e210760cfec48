// SPDX-License-Identifier: MIT
// tests/walk/reliability.test.cpp — bad arguments of the walk's inference path get named errors
// (docs/reliability.md), never a division by zero
#include <doctest/doctest.h>

#include <wsss/core.hpp>
#include <wsss/walk.hpp>

using namespace wsss;

TEST_CASE("[R11] walk::upsample_revised and the walk input with stride 0 are value_errors, not SIGFPE") {
  const tensor revised({2, 3, 3}, 0.5f);
  for (const index_t stride : {index_t{0}, index_t{-8}}) {
    CAPTURE(stride);
    CHECK_THROWS_WITH_AS(walk::upsample_revised(revised, 20, 20, stride),
                         doctest::Contains("[wsss.value] walk::upsample_revised: stride must be >= 1, got"), value_error);
    CHECK_THROWS_WITH_AS(walk::reference_walk_input(tensor({1, 8, 8}), 16.0f, stride),
                         doctest::Contains("stride must be >= 1"), value_error);
  }
  CHECK(walk::upsample_revised(revised, 20, 20, 8).shape() == shape{2, 20, 20});
}
