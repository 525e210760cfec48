// SPDX-License-Identifier: MIT
// tests/autodiff/ops_shape.test.cpp — concat, reshape and slice: layout and gradients
#include <doctest/doctest.h>

#include <array>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/shape_ops.hpp>

using namespace wsss;

TEST_CASE("concat along channels places each input's block, slice takes it back out") {
  rng g(2);
  const tensor a = random_uniform({2, 1, 2, 3}, g), b = random_uniform({2, 3, 2, 3}, g);
  ad::tape t;
  const std::array<ad::var, 2> in{t.leaf(a), t.leaf(b)};
  const ad::var y = ad::concat(in, 1);
  REQUIRE(y.shape() == shape{2, 4, 2, 3});
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 4; ++c)
      for (index_t i = 0; i < 2; ++i)
        for (index_t j = 0; j < 3; ++j)
          CHECK(y.value()(n, c, i, j) == (c < 1 ? a(n, c, i, j) : b(n, c - 1, i, j)));
  const ad::var back = ad::slice(y, 1, 1, 3);
  CHECK(back.value().shape() == b.shape());
  for (index_t i = 0; i < b.numel(); ++i) CHECK(back.value()[i] == b[i]);
}

TEST_CASE("concat, reshape and slice pass grad_check") {
  rng g(3);
  const tensor a = random_uniform({2, 2, 3}, g, -1, 1), b = random_uniform({2, 1, 3}, g, -1, 1),
               c = random_uniform({2, 3, 3}, g, -1, 1);
  for (int axis : {1, 0, 2}) {
    INFO("axis ", axis);
    const tensor& bb = axis == 1 ? b : a;
    const tensor& cc = axis == 1 ? c : a;
    const auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return ad::concat(v, axis); },
                                  {a, bb, cc});
    CHECK_MESSAGE(r.ok, r.log);
  }
  const auto r1 = ad::grad_check(
      [](ad::tape&, std::span<const ad::var> v) { return ad::reshape(v[0], shape{3, 4}); }, {a});
  CHECK_MESSAGE(r1.ok, r1.log);
  const auto r2 = ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return ad::slice(v[0], 2, 1, 2); }, {c});
  CHECK_MESSAGE(r2.ok, r2.log);
}

TEST_CASE("shape ops reject mismatched inputs with the values seen") {
  ad::tape t;
  const std::array<ad::var, 2> in{t.leaf(tensor({1, 2, 3})), t.leaf(tensor({1, 2, 4}))};
  CHECK_THROWS_WITH_AS(ad::concat(in, 1), doctest::Contains("[wsss.shape] ad::concat: input 1 has shape 1x2x4"),
                       shape_error);
  CHECK(ad::concat(in, 2).shape() == shape{1, 2, 7});
  CHECK_THROWS_WITH_AS(ad::reshape(in[0], shape{5}), doctest::Contains("[wsss.shape] ad::reshape: cannot reshape 1x2x3"),
                       shape_error);
  CHECK_THROWS_WITH_AS(ad::slice(in[0], 2, 2, 2), doctest::Contains("[wsss.shape] ad::slice: range [2, 4)"), shape_error);
  CHECK_THROWS_WITH_AS(ad::concat(std::span<const ad::var>{}), doctest::Contains("[wsss.value] ad::concat"), value_error);
}
