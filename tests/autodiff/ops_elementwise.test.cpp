// SPDX-License-Identifier: MIT
// tests/autodiff/ops_elementwise.test.cpp — add/sub/mul/div with broadcasting and the channel
// bias: values against naive loops, gradients against finite differences
#include <doctest/doctest.h>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/elementwise.hpp>
#include <wsss/autodiff/ops/reduce.hpp>

#include "support/broadcast.hpp"

using namespace wsss;

namespace {

// Naive broadcast reference: index each operand by the output's multi-index.
float at_broadcast(const tensor& t, const shape& out, index_t flat) {
  return t[wsss::testing::naive_broadcast_offset(t.shape(), out, flat)];
}

using binary_fn = ad::var (*)(ad::var, ad::var);

}  // namespace

TEST_CASE("add, sub, mul and div match a naive broadcast loop and pass grad_check") {
  rng g(11);
  const std::pair<shape, shape> cases[] = {
      {shape{2, 3, 4, 5}, shape{2, 3, 4, 5}},  // same shape: flat path
      {shape{2, 3, 4, 5}, shape{1, 3, 1, 1}},  // per-channel mask
      {shape{2, 3, 4, 5}, shape{5}},           // rank differs: right-aligned
      {shape{2, 1, 4, 1}, shape{1, 3, 1, 5}},  // both stretch
  };
  const binary_fn fns[] = {ad::add, ad::sub, ad::mul, ad::div};
  const char* names[] = {"add", "sub", "mul", "div"};
  for (const auto& c : cases) {
    const auto& sa = c.first;  // named: clang 14 cannot capture a binding in INFO
    const auto& sb = c.second;
    for (int k = 0; k < 4; ++k) {
      INFO(names[k], " ", sa, " with ", sb);
      tensor a = random_uniform(sa, g, -1.0, 1.0);
      tensor b = random_uniform(sb, g, 0.5, 1.5);  // away from 0 for div
      ad::tape t;
      const ad::var y = fns[k](t.leaf(a), t.leaf(b));
      const shape& so = y.shape();
      for (index_t i = 0; i < y.value().numel(); ++i) {
        const float x0 = at_broadcast(a, so, i), x1 = at_broadcast(b, so, i);
        const float want = k == 0 ? x0 + x1 : k == 1 ? x0 - x1 : k == 2 ? x0 * x1 : x0 / x1;
        REQUIRE(y.value()[i] == doctest::Approx(want));
      }
      const auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return fns[k](v[0], v[1]); },
                                    {a, b}, {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-3, .max_coords = 200});
      CHECK_MESSAGE(r.ok, r.log);
    }
  }
}

TEST_CASE("a var used twice through mul accumulates both paths (d(x*x)/dx = 2x)") {
  ad::tape t;
  const ad::var x = t.leaf(tensor::from({3}, std::vector<float>{1, -2, 3}), true);
  t.backward(ad::sum(ad::mul(x, x)));
  CHECK((*t.grad(x))[0] == doctest::Approx(2));
  CHECK((*t.grad(x))[1] == doctest::Approx(-4));
  CHECK((*t.grad(x))[2] == doctest::Approx(6));
}

TEST_CASE("add_channel_bias adds b[c] to every element of channel c and sums its gradient") {
  rng g(3);
  tensor x = random_uniform({2, 3, 2, 2}, g, -1, 1), b = tensor::from({3}, std::vector<float>{10, 20, 30});
  ad::tape t;
  const ad::var y = ad::add_channel_bias(t.leaf(x), t.leaf(b));
  for (index_t i = 0; i < x.numel(); ++i) CHECK(y.value()[i] == doctest::Approx(x[i] + b[(i / 4) % 3]));
  const auto r = ad::grad_check(
      [](ad::tape&, std::span<const ad::var> v) { return ad::add_channel_bias(v[0], v[1]); }, {x, b});
  CHECK_MESSAGE(r.ok, r.log);
  CHECK_THROWS_WITH_AS(ad::add_channel_bias(t.leaf(x), t.leaf(tensor({4}))),
                       doctest::Contains("[wsss.shape] ad::add_channel_bias"), shape_error);
}

TEST_CASE("shapes that do not broadcast, and vars of two tapes, are rejected") {
  ad::tape t, u;
  CHECK_THROWS_WITH_AS(ad::add(t.leaf(tensor({2, 3})), t.leaf(tensor({2, 4}))),
                       doctest::Contains("[wsss.shape] ad::add: shapes 2x3 and 2x4 do not broadcast"), shape_error);
  CHECK_THROWS_WITH_AS(ad::mul(t.leaf(tensor({2})), u.leaf(tensor({2}))),
                       doctest::Contains("[wsss.value] ad::mul: inputs were recorded on different tapes"), value_error);
  CHECK_THROWS_WITH_AS(ad::sub(ad::var{}, t.leaf(tensor({2}))), doctest::Contains("[wsss.value] ad::sub: empty var"),
                       value_error);
}
