// SPDX-License-Identifier: MIT
// tests/autodiff/reliability.test.cpp — convolutions of empty inputs get named errors
// (docs/reliability.md), never a division by zero
#include <doctest/doctest.h>

#include <wsss/autodiff.hpp>

using namespace wsss;

TEST_CASE("[R12] ad::conv2d with batch 0 (or no channel, no output channel) is a shape_error, not SIGFPE") {
  ad::tape t;
  const auto w = t.leaf(tensor({4, 3, 3, 3}));
  CHECK_THROWS_WITH_AS(ad::conv2d(t.leaf(tensor({0, 3, 8, 8})), w),
                       doctest::Contains("[wsss.shape] ad::conv2d: input and weight must be non-empty"), shape_error);
  CHECK_THROWS_WITH_AS(ad::conv2d_forward(tensor({0, 3, 8, 8}), tensor({4, 3, 3, 3}), nullptr),
                       doctest::Contains("got input 0x3x8x8 and weight 4x3x3x3"), shape_error);
  CHECK_THROWS_AS(ad::conv2d_forward(tensor({1, 0, 8, 8}), tensor({4, 0, 3, 3}), nullptr), shape_error);
  CHECK_THROWS_AS(ad::conv2d_forward(tensor({1, 3, 8, 8}), tensor({0, 3, 3, 3}), nullptr), shape_error);
  CHECK(ad::conv2d_forward(tensor({1, 3, 8, 8}), tensor({4, 3, 3, 3}), nullptr).shape() == shape{1, 4, 6, 6});
}
