// SPDX-License-Identifier: MIT
// tests/autodiff/ops_pool.test.cpp — max pooling with switches, unpooling, average and global
// average pooling: naive window loops, extents (ceil mode), adjointness and grad_check
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/pool.hpp>
#include <wsss/autodiff/ops/reduce.hpp>

using namespace wsss;

namespace {

// Distinct nonzero values 0.05 apart in random order: no ties, and a finite-difference step of 1e-3
// never changes which element of a window is the maximum.
tensor distinct(const shape& s, rng& g) {
  tensor t(s);
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.05f * static_cast<float>(i) - 0.9871f;  // never exactly 0
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}

// Window loop over the padded input, straight from the definition.
tensor naive_pool(const tensor& x, const ad::pool2d_config& c, bool max, bool include_pad, index_t oh, index_t ow) {
  tensor y({x.dim(0), x.dim(1), oh, ow});
  for (index_t n = 0; n < x.dim(0); ++n)
    for (index_t ch = 0; ch < x.dim(1); ++ch)
      for (index_t i = 0; i < oh; ++i)
        for (index_t j = 0; j < ow; ++j) {
          double best = -std::numeric_limits<double>::infinity(), s = 0;
          index_t real = 0, padded = 0;
          for (index_t a = 0; a < c.kernel; ++a)
            for (index_t b = 0; b < c.kernel; ++b) {
              const index_t yy = i * c.stride - c.pad + a, xx = j * c.stride - c.pad + b;
              if (yy < x.dim(2) + c.pad && xx < x.dim(3) + c.pad) ++padded;
              if (yy < 0 || xx < 0 || yy >= x.dim(2) || xx >= x.dim(3)) continue;
              best = std::max(best, static_cast<double>(x(n, ch, yy, xx)));
              s += x(n, ch, yy, xx);
              ++real;
            }
          y(n, ch, i, j) = static_cast<float>(max ? best : s / static_cast<double>(include_pad ? padded : real));
        }
  return y;
}

}  // namespace

TEST_CASE("pool output extents follow floor and ceil mode (last window inside padding dropped)") {
  ad::tape t;
  auto out = [&](index_t h, ad::pool2d_config c) { return ad::max_pool2d(t.leaf(tensor({1, 1, h, h})), c).shape()[2]; };
  CHECK(out(6, {3, 2, 0, false}) == 2);
  CHECK(out(6, {3, 2, 0, true}) == 3);
  CHECK(out(5, {2, 2, 1, false}) == 3);
  CHECK(out(5, {2, 2, 1, true}) == 3);  // a 4th window would start in the padding
  CHECK(out(321, {3, 2, 1, true}) == 161);  // DeepLab's pool1 on a 321 crop
  CHECK(out(41, {3, 1, 1, false}) == 41);   // DeepLab-LargeFOV's pool4/pool5
  CHECK_THROWS_WITH_AS(out(2, {3, 1, 0, false}), doctest::Contains("[wsss.shape] ad::max_pool2d: input extent 2"),
                       shape_error);
  CHECK_THROWS_WITH_AS(out(6, {2, 2, 2, false}), doctest::Contains("[wsss.value] ad::max_pool2d: pad 2 exceeds half"),
                       value_error);
  CHECK_THROWS_WITH_AS(ad::max_pool2d(t.leaf(tensor({3, 6, 6})), {}),
                       doctest::Contains("[wsss.shape] ad::max_pool2d: input must be rank 4"), shape_error);
}

TEST_CASE("max and average pooling match naive window loops") {
  rng g(31);
  const tensor x = distinct({2, 3, 7, 6}, g);
  const ad::pool2d_config cfgs[] = {{2, 2, 0, false}, {3, 2, 1, true}, {3, 1, 1, false}, {3, 3, 1, true}};
  for (const auto& c : cfgs) {
    INFO("kernel ", c.kernel, " stride ", c.stride, " pad ", c.pad, " ceil ", c.ceil_mode);
    ad::tape t;
    const ad::var m = ad::max_pool2d(t.leaf(x), c);
    const index_t oh = m.shape()[2], ow = m.shape()[3];
    const tensor rm = naive_pool(x, c, true, false, oh, ow);
    for (index_t i = 0; i < rm.numel(); ++i) REQUIRE(m.value()[i] == rm[i]);
    for (bool inc : {true, false}) {
      const ad::var a = ad::avg_pool2d(t.leaf(x), c, inc);
      const tensor ra = naive_pool(x, c, false, inc, oh, ow);
      for (index_t i = 0; i < ra.numel(); ++i) REQUIRE(a.value()[i] == doctest::Approx(ra[i]).epsilon(1e-5));
    }
  }
}

TEST_CASE("max pooling records switches at the argmax, unpooling puts values back there") {
  rng g(32);
  const tensor x = distinct({1, 2, 4, 4}, g);
  ad::tape t;
  std::shared_ptr<ad::pool_switches> sw;
  const ad::var y = ad::max_pool2d(t.leaf(x), {2, 2, 0, false}, sw);
  REQUIRE(sw);
  CHECK(sw->input_shape == x.shape());
  CHECK(sw->index.shape() == y.shape());
  for (index_t i = 0; i < y.value().numel(); ++i) {
    const index_t plane = i / 4;
    CHECK(x[plane * 16 + sw->index[i]] == y.value()[i]);
  }
  const ad::var u = ad::max_unpool2d(y, sw);
  REQUIRE(u.shape() == x.shape());
  index_t nonzero = 0;
  for (index_t i = 0; i < x.numel(); ++i)
    if (u.value()[i] != 0.0f) {
      CHECK(u.value()[i] == x[i]);
      ++nonzero;
    }
  CHECK(nonzero == y.value().numel());
  CHECK_THROWS_WITH_AS(ad::max_unpool2d(t.leaf(tensor({1, 2, 3, 2})), sw),
                       doctest::Contains("[wsss.shape] ad::max_unpool2d: input must have the pooled shape 1x2x2x2"),
                       shape_error);
}

TEST_CASE("unpooling is the adjoint of max pooling's backward (overlapping windows too)") {
  rng g(33);
  const tensor x = distinct({2, 2, 7, 7}, g);
  std::shared_ptr<ad::pool_switches> sw;
  ad::tape t;
  const ad::var xv = t.leaf(x, true);
  const ad::var y = ad::max_pool2d(xv, {3, 2, 1, true}, sw);
  const tensor gy = random_uniform(y.shape(), g, -1, 1);
  const tensor gx_in = random_uniform(x.shape(), g, -1, 1);
  t.backward(y, gy);  // dx = P^T gy
  const ad::var u = ad::max_unpool2d(t.leaf(gy), sw);  // must equal P^T gy as well
  double lhs = 0, rhs = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    CHECK(u.value()[i] == doctest::Approx((*t.grad(xv))[i]));
    lhs += static_cast<double>(u.value()[i]) * gx_in[i];
  }
  // <P^T gy, g> = <gy, P g>, P g gathers g at the switches.
  for (index_t i = 0; i < gy.numel(); ++i) rhs += static_cast<double>(gy[i]) * gx_in[(i / 16) * 49 + sw->index[i]];
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
}

TEST_CASE("pooling ops pass grad_check") {
  rng g(34);
  const tensor x = distinct({2, 2, 5, 6}, g);
  const ad::grad_check_options opt{.eps = 1e-3, .rtol = 1e-2, .atol = 1e-3, .max_coords = 60};
  const ad::pool2d_config c{3, 2, 1, true};
  auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return ad::max_pool2d(v[0], c); }, {x}, opt);
  CHECK_MESSAGE(r.ok, r.log);
  for (bool inc : {true, false}) {
    r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return ad::avg_pool2d(v[0], c, inc); }, {x}, opt);
    CHECK_MESSAGE(r.ok, r.log);
  }
  r = ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return ad::global_avg_pool(v[0]); }, {x}, opt);
  CHECK_MESSAGE(r.ok, r.log);
  // Unpooling with fixed switches: a linear map of its input.
  std::shared_ptr<ad::pool_switches> sw;
  {
    ad::tape t;
    ad::max_pool2d(t.leaf(x), c, sw);
  }
  const tensor y = random_uniform(sw->index.shape(), g, -1, 1);
  r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return ad::max_unpool2d(v[0], sw); }, {y}, opt);
  CHECK_MESSAGE(r.ok, r.log);
}

TEST_CASE("global average pooling gives N x C x 1 x 1 means") {
  rng g(35);
  const tensor x = random_uniform({2, 3, 4, 5}, g);
  ad::tape t;
  const ad::var y = ad::global_avg_pool(t.leaf(x));
  REQUIRE(y.shape() == shape{2, 3, 1, 1});
  for (index_t p = 0; p < 6; ++p) {
    double s = 0;
    for (index_t i = 0; i < 20; ++i) s += x[p * 20 + i];
    CHECK(y.value()[p] == doctest::Approx(s / 20).epsilon(1e-6));
  }
}
