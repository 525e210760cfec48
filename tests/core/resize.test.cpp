// SPDX-License-Identifier: MIT
// tests/core/resize.test.cpp — bilinear resize against closed forms; adjoint = transpose
#include <doctest/doctest.h>

#include <wsss/core.hpp>

using namespace wsss;

TEST_CASE("resize_bilinear reproduces a linear ramp in both modes") {
  // f(y, x) = 2y + 3x is reproduced exactly by bilinear interpolation wherever no clamping
  // happens; with align_corners that is everywhere.
  tensor x({1, 4, 5});
  for (index_t y = 0; y < 4; ++y)
    for (index_t c = 0; c < 5; ++c) x(0, y, c) = static_cast<float>(2 * y + 3 * c);
  tensor a = resize_bilinear(x, 7, 9, resize_mode::align_corners);
  for (index_t y = 0; y < 7; ++y)
    for (index_t c = 0; c < 9; ++c)
      CHECK(a(0, y, c) == doctest::Approx(2.0 * y * 3.0 / 6.0 + 3.0 * c * 4.0 / 8.0).epsilon(1e-5));
  // half_pixel: output pixel 3 of 8 (from 4) sits at src (3.5 * 0.5 - 0.5) = 1.25.
  tensor h = resize_bilinear(x, 8, 5);
  CHECK(h(0, 3, 2) == doctest::Approx(2 * 1.25 + 3 * 2));
  CHECK(h(0, 0, 0) == doctest::Approx(0.0));  // clamped at the border
  CHECK(h.shape() == shape{1, 8, 5});
}

TEST_CASE("resize_bilinear_adjoint is the transpose of the forward map") {
  rng g(5);
  for (auto mode : {resize_mode::half_pixel, resize_mode::align_corners}) {
    tensor x = random_normal({2, 3, 6, 7}, g);
    tensor v = random_normal({2, 3, 11, 4}, g);
    tensor y = resize_bilinear(x, 11, 4, mode);
    tensor gx({2, 3, 6, 7});
    resize_bilinear_adjoint(v, gx, mode);
    double lhs = 0, rhs = 0;  // <A x, v> == <x, A^T v>
    for (index_t i = 0; i < y.numel(); ++i) lhs += double(y[i]) * v[i];
    for (index_t i = 0; i < x.numel(); ++i) rhs += double(x[i]) * gx[i];
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
  }
}

TEST_CASE("resize_bilinear rejects bad sizes") {
  CHECK_THROWS_WITH_AS(resize_bilinear(tensor({3}), 2, 2), doctest::Contains("rank >= 2"), shape_error);
  CHECK_THROWS_WITH_AS(resize_bilinear(tensor({2, 2}), 0, 2), doctest::Contains("must be positive"), value_error);
  tensor gx({1, 2, 2});
  CHECK_THROWS_AS(resize_bilinear_adjoint(tensor({2, 3, 3}), gx), shape_error);
}
