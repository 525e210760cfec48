// SPDX-License-Identifier: MIT
// tests/autodiff/winograd.test.cpp — Winograd F(4x4, 3x3) convolutions (forward, data and
// weight gradients, conv and deconv) against float64 naive loops over dilations, paddings, odd
// and even sizes, maps smaller than a tile, batch 2, channel counts off the 16-lane grid; the
// transform matrices against the 1-D minimal-filtering identity; finite-difference gradients.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/ops/deconv.hpp"
#include "wsss/core/random.hpp"
#include "support/each_isa.hpp"

using namespace wsss;
namespace dt = wsss::ad::detail;

namespace {

// Forces one algorithm for the scope (the dispatch reads a per-thread override).
struct force_algorithm {
  dt::conv_algorithm old;
  explicit force_algorithm(dt::conv_algorithm a) : old(dt::conv_algorithm_override()) { dt::conv_algorithm_override() = a; }
  ~force_algorithm() { dt::conv_algorithm_override() = old; }
};

struct wcase {
  index_t n, c, h, w, o, pad, dil;
};

// y[n,o,y,x] = sum_{c,i,j} x[n,c,y-p+i d,x-p+j d] w[o,c,i,j] in double; and its two adjoints
// for a given gy: gx (scatter) and gw (correlation of gy with x).
struct naive {
  tensor64 y, gx, gw;
};
naive naive_conv3(const tensor& x, const tensor& w, const tensor& gy, index_t p, index_t d) {
  const index_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), o = w.dim(0);
  const index_t oh = h + 2 * p - 2 * d, ow = wd + 2 * p - 2 * d;
  naive r{tensor64({n, o, oh, ow}), tensor64({n, c, h, wd}), tensor64({o, c, 3, 3})};
  for (index_t b = 0; b < n; ++b)
    for (index_t oc = 0; oc < o; ++oc)
      for (index_t yy = 0; yy < oh; ++yy)
        for (index_t xx = 0; xx < ow; ++xx)
          for (index_t ic = 0; ic < c; ++ic)
            for (index_t i = 0; i < 3; ++i)
              for (index_t j = 0; j < 3; ++j) {
                const index_t iy = yy - p + i * d, ix = xx - p + j * d;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                r.y(b, oc, yy, xx) += static_cast<double>(x(b, ic, iy, ix)) * w(oc, ic, i, j);
                r.gx(b, ic, iy, ix) += static_cast<double>(gy(b, oc, yy, xx)) * w(oc, ic, i, j);
                r.gw(oc, ic, i, j) += static_cast<double>(gy(b, oc, yy, xx)) * x(b, ic, iy, ix);
              }
  return r;
}

// max |a - b| / (1 + max |b|): the error relative to the result's scale.
double rel_err(const tensor& a, const tensor64& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0, s = 0;
  for (index_t i = 0; i < a.numel(); ++i) {
    m = std::max(m, std::abs(a[i] - b[i]));
    s = std::max(s, std::abs(b[i]));
  }
  return m / (1.0 + s);
}

// Dilation 1, 2, 3, 12; padding 0, 1, d and others (wider than the kernel's reach: pad' < 0 in
// the data gradient); odd and even sizes; maps smaller than one tile; batch 2; C, O off 16.
const wcase cases[] = {
    {1, 5, 9, 9, 7, 1, 1},   {2, 17, 10, 13, 18, 1, 1}, {1, 3, 4, 3, 2, 0, 1},   {1, 4, 3, 3, 5, 1, 1},
    {2, 9, 11, 8, 6, 0, 1},  {1, 6, 12, 11, 4, 2, 2},   {1, 7, 13, 14, 9, 3, 3}, {2, 4, 10, 9, 3, 1, 2},
    {1, 3, 30, 27, 5, 12, 12}, {1, 5, 8, 7, 4, 5, 1},   {1, 2, 14, 15, 33, 4, 3}, {1, 20, 6, 5, 17, 2, 1},
    // One block of tiles on a parallel-sized product (4.7 M multiply-adds): with several threads
    // the block is split by output channels, each part transforming the inputs again.
    {1, 24, 30, 30, 24, 2, 2},
};

std::string describe(const wcase& k) {
  std::ostringstream os;
  os << k.n << "x" << k.c << "x" << k.h << "x" << k.w << " -> " << k.o << " pad " << k.pad << " dil " << k.dil;
  return os.str();
}

}  // namespace

TEST_CASE("winograd transform matrices compute the 1-D minimal filtering F(4, 3) exactly") {
  // A^T [(G g) ⊙ (B^T d)] = the 4 correlations of d (6) with g (3), in double from the float tables.
  const double d[6] = {0.3, -1.2, 2.0, 0.7, -0.4, 1.1}, g[3] = {0.5, -0.25, 1.5};
  double prod[6];
  for (int j = 0; j < 6; ++j) {
    double gg = 0, bd = 0;
    for (int k = 0; k < 3; ++k) gg += dt::wino_g.v[j][k] * g[k];
    for (int k = 0; k < 6; ++k) bd += dt::wino_bt.v[j][k] * d[k];
    prod[j] = gg * bd;
  }
  for (int i = 0; i < 4; ++i) {
    double y = 0;
    for (int j = 0; j < 6; ++j) y += dt::wino_at.v[i][j] * prod[j];
    CHECK(y == doctest::Approx(d[i] * g[0] + d[i + 1] * g[1] + d[i + 2] * g[2]).epsilon(1e-6));
  }
}

TEST_CASE("winograd forward, data and weight gradients match float64 naive loops") {
  wsss_test::for_each_isa([&] {
    rng gen(7);
    const force_algorithm f(dt::conv_algorithm::winograd);
    for (const wcase& k : cases) {
      INFO(describe(k));
      const tensor x = random_normal({k.n, k.c, k.h, k.w}, gen), w = random_normal({k.o, k.c, 3, 3}, gen);
      const auto cfg = ad::conv2d_config::square(1, k.pad, k.dil);
      const dt::conv_geometry g = dt::conv2d_geometry(x, w, nullptr, cfg, "test");
      REQUIRE(dt::wino_use(g, dt::wino_forward_plan(g, k.o), dt::wino_product::forward, k.n));
      ad::tape t;
      const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
      const ad::var y = ad::conv2d(xv, wv, ad::var{}, cfg);
      const tensor gy = random_normal(y.shape(), gen);
      t.backward(y, gy);
      const naive r = naive_conv3(x, w, gy, k.pad, k.dil);
      // Measured: <= 2e-6 relative to the largest output; 2e-5 leaves room for other compilers.
      CHECK(rel_err(y.value(), r.y) < 2e-5);
      CHECK(rel_err(*t.grad(xv), r.gx) < 2e-5);
      CHECK(rel_err(*t.grad(wv), r.gw) < 2e-5);
    }
  });
}

TEST_CASE("winograd's forward writes every output once with its bias, or adds both to y") {
  // conv_forward's Winograd path stores each tile's outputs plus the bias (y not initialised:
  // NaN here, so an output written by no tile, or read before it is written, shows) or, asked
  // to accumulate, adds both to what y holds. Partial tiles (dilation 2 on odd sizes), a map
  // smaller than a tile, batch 2, and a product large enough for the team.
  const wcase store_cases[] = {{2, 6, 13, 17, 7, 2, 2}, {1, 5, 3, 3, 9, 1, 1}, {1, 24, 30, 30, 24, 2, 2}};
  wsss_test::for_each_isa([&] {
    rng gen(19);
    const force_algorithm f(dt::conv_algorithm::winograd);
    for (const wcase& k : store_cases) {
      INFO(describe(k));
      const tensor x = random_normal({k.n, k.c, k.h, k.w}, gen), w = random_normal({k.o, k.c, 3, 3}, gen);
      const tensor b = random_normal({k.o}, gen);
      const dt::conv_geometry g =
          dt::conv2d_geometry(x, w, nullptr, ad::conv2d_config::square(1, k.pad, k.dil), "test");
      REQUIRE(dt::wino_use(g, dt::wino_forward_plan(g, k.o), dt::wino_product::forward, k.n));
      naive r = naive_conv3(x, w, tensor({k.n, k.o, g.oh, g.ow}), k.pad, k.dil);
      const index_t p = g.oh * g.ow;
      for (index_t i = 0; i < r.y.numel(); ++i) r.y[i] += b[i / p % k.o];
      tensor y = tensor::uninitialized({k.n, k.o, g.oh, g.ow});
      y.fill(std::nanf(""));
      dt::conv_forward(g, w.data(), k.o, x.data(), k.n, y.data(), b.data(), false);
      CHECK(std::none_of(y.data(), y.data() + y.numel(), [](float v) { return std::isnan(v); }));
      CHECK(rel_err(y, r.y) < 2e-5);
      const tensor y0 = random_normal(y.shape(), gen);
      tensor acc = y0;
      dt::conv_forward(g, w.data(), k.o, x.data(), k.n, acc.data(), b.data(), true);
      for (index_t i = 0; i < r.y.numel(); ++i) r.y[i] += y0[i];
      CHECK(rel_err(acc, r.y) < 2e-5);
    }
  });
}

TEST_CASE("winograd and im2col agree on a parallel-sized layer, blocks of tiles spanning images") {
  // 2 x 40 x 117 x 121 -> 36, pad 1: 900 tiles per image, three blocks of about 600 tiles, one
  // spanning both images; the weight gradient sums blocks per thread.
  rng gen(13);
  const tensor x = random_normal({2, 40, 117, 121}, gen), w = random_normal({36, 40, 3, 3}, gen, 0.0, 0.1);
  const auto cfg = ad::conv2d_config::square(1, 1);
  const dt::wino_plan wp = dt::wino_forward_plan(dt::conv2d_geometry(x, w, nullptr, cfg, "test"), 36);
  REQUIRE(dt::wino_block_tiles(76, 2 * wp.tiles()) < wp.tiles());
  tensor ys[2], gxs[2], gws[2];
  const tensor gy = random_normal({2, 36, 117, 121}, gen);
  for (int a = 0; a < 2; ++a) {
    const force_algorithm f(a ? dt::conv_algorithm::winograd : dt::conv_algorithm::im2col);
    ad::tape t;
    const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
    const ad::var y = ad::conv2d(xv, wv, ad::var{}, cfg);
    t.backward(y, gy);
    ys[a] = y.value();
    gxs[a] = *t.grad(xv);
    gws[a] = *t.grad(wv);
  }
  const auto close = [](const tensor& a, const tensor& b) {
    double m = 0, s = 0;
    for (index_t i = 0; i < a.numel(); ++i) m = std::max<double>(m, std::abs(a[i] - b[i])), s = std::max<double>(s, std::abs(b[i]));
    return m / (1 + s);
  };
  CHECK(close(ys[1], ys[0]) < 2e-5);
  CHECK(close(gxs[1], gxs[0]) < 2e-5);
  CHECK(close(gws[1], gws[0]) < 2e-5);
}

TEST_CASE("winograd deals fewer cache blocks than threads out as smaller blocks per thread") {
  // The block size: whole 32-tile panels, and no thread more than 10% over its share of the tiles
  // unless the blocks are already one panel.
  index_t bad = 0;
  for (index_t threads = 2; threads <= 8; ++threads)
    for (index_t total = 1; total <= 3000; ++total) {
      const index_t tb = dt::wino_thread_block_tiles(total, threads), blocks = (total + tb - 1) / tb;
      index_t most = 0;
      for (index_t t = 0; t < threads; ++t) {
        index_t mine = 0;
        for (index_t b = t; b < blocks; b += threads) mine += std::min(tb, total - b * tb);
        most = std::max(most, mine);
      }
      if (tb < dt::wino_panel || tb % dt::wino_panel != 0 || (tb != dt::wino_panel && 10 * most * threads > 11 * total)) ++bad;
    }
  CHECK(bad == 0);
  CHECK(dt::wino_thread_block_tiles(196, 2) == 32);  // 7 blocks: 100 + 96 tiles, not 128 + 68
  // The weight gradient's tiles are its GEMMs' k: one block per thread in whole 16-tile groups,
  // however uneven (the last block multiplies only the groups it fills).
  for (index_t threads = 2; threads <= 8; ++threads)
    for (index_t total = 1; total <= 3000; ++total) {
      const index_t tb = dt::wino_weight_block_tiles(64, total, threads), cache = dt::wino_block_tiles(64, total);
      if ((total + cache - 1) / cache >= threads) {
        if (tb != cache) ++bad;  // enough cache-sized blocks for the threads
      } else if (tb % dt::wino_lanes != 0 || tb * threads < total || tb >= (total + threads - 1) / threads + dt::wino_lanes) {
        ++bad;
      }
    }
  CHECK(bad == 0);
  CHECK(dt::wino_weight_block_tiles(64, 196, 2) == 112);  // 112 + 84 tiles (84: 6 groups, the last 4 lanes zero)
  CHECK(dt::wino_weight_groups(84) == 6);
  // 32 -> 32 at 56 x 56: 196 tiles, one cache-sized block; on two threads each sums its own blocks.
  struct two_threads {
    int old = backend::max_threads();
    two_threads() { backend::set_num_threads(2); }
    ~two_threads() { backend::set_num_threads(old); }
  } const two;
  rng gen(17);
  const tensor x = random_normal({1, 32, 56, 56}, gen), w = random_normal({32, 32, 3, 3}, gen);
  const dt::conv_geometry g = dt::conv2d_geometry(x, w, nullptr, ad::conv2d_config::square(1, 1), "test");
  const dt::wino_plan wp = dt::wino_forward_plan(g, 32);
  REQUIRE(dt::wino_block_tiles(64, wp.tiles()) >= wp.tiles());
  REQUIRE(dt::wino_threads(wp, 1) == 2);
  const tensor gy = random_normal({1, 32, 56, 56}, gen);
  tensor y({1, 32, 56, 56}), gx({1, 32, 56, 56}), gw({32, 32, 3, 3});
  dt::wino_conv_forward(wp, w.data(), x.data(), 1, y.data());
  dt::wino_conv_backward_data(dt::wino_data_plan(g, 32), w.data(), gy.data(), 1, gx.data());
  dt::wino_conv_backward_weight(wp, x.data(), gy.data(), 1, gw.data());
  const naive r = naive_conv3(x, w, gy, 1, 1);
  CHECK(rel_err(y, r.y) < 2e-5);  // the forward and the data gradient take blocks per thread too
  CHECK(rel_err(gx, r.gx) < 2e-5);
  CHECK(rel_err(gw, r.gw) < 2e-5);
}

TEST_CASE("winograd is chosen for wide 3x3 stride-1 layers only") {
  const auto geo = [](index_t c, index_t o, index_t hw, index_t d, index_t s) {
    const tensor x({1, c, hw, hw}), w({o, c, 3, 3});
    return dt::conv2d_geometry(x, w, nullptr, ad::conv2d_config::square(s, d, d), "test");
  };
  for (const auto k : {dt::wino_product::forward, dt::wino_product::data, dt::wino_product::weight}) {
    CHECK(dt::wino_wins(dt::wino_forward_plan(geo(64, 64, 321, 1, 1), 64), k));
    CHECK(dt::wino_wins(dt::wino_forward_plan(geo(1024, 1024, 41, 12, 1), 1024), k));
    CHECK(dt::wino_wins(dt::wino_forward_plan(geo(32, 32, 161, 1, 1), 32), k));          // narrow, large map
    CHECK_FALSE(dt::wino_wins(dt::wino_forward_plan(geo(3, 64, 321, 1, 1), 64), k));    // first layer: im2col
    CHECK_FALSE(dt::wino_wins(dt::wino_forward_plan(geo(512, 512, 13, 12, 1), 512), k));  // tiles mostly empty
  }
  // Narrow layers on mid-sized maps: the weight gradient only, until a batch has 1024 tiles.
  const dt::wino_plan narrow = dt::wino_forward_plan(geo(32, 32, 56, 1, 1), 32);
  CHECK_FALSE(dt::wino_wins(narrow, dt::wino_product::forward));
  CHECK_FALSE(dt::wino_wins(narrow, dt::wino_product::data));
  CHECK(dt::wino_wins(narrow, dt::wino_product::weight));
  CHECK(dt::wino_wins(narrow, dt::wino_product::forward, 8));
  CHECK(dt::wino_wins(dt::wino_forward_plan(geo(32, 32, 16, 1, 1), 32), dt::wino_product::forward, 8));  // tiny maps
  CHECK_FALSE(dt::wino_applies(geo(64, 64, 33, 1, 2)));                               // stride 2
}

TEST_CASE("conv_transpose2d through winograd matches conv2d's data adjoint and the naive loops") {
  // Deconv's forward is conv's data gradient, its backward conv's forward and weight gradient.
  rng gen(19);
  const force_algorithm f(dt::conv_algorithm::winograd);
  const tensor x = random_normal({2, 6, 9, 10}, gen), w = random_normal({6, 5, 3, 3}, gen);
  const ad::conv_transpose2d_config cfg{1, 1, 2, 2, 1, 0, 2, 2};  // dilation 2, output_padding 1 on rows
  ad::tape t;
  const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
  const ad::var y = ad::conv_transpose2d(xv, wv, ad::var{}, cfg);
  const tensor gy = random_normal(y.shape(), gen);
  t.backward(y, gy);
  // Naive: y = scatter of x through w; the conv with weights w (Cin = 6 outputs) maps gy back.
  const index_t oh = y.value().dim(2), ow = y.value().dim(3);
  tensor64 yr({2, 5, oh, ow}), gxr({2, 6, 9, 10}), gwr({6, 5, 3, 3});
  for (index_t b = 0; b < 2; ++b)
    for (index_t ci = 0; ci < 6; ++ci)
      for (index_t iy = 0; iy < 9; ++iy)
        for (index_t ix = 0; ix < 10; ++ix)
          for (index_t co = 0; co < 5; ++co)
            for (index_t i = 0; i < 3; ++i)
              for (index_t j = 0; j < 3; ++j) {
                const index_t yy = iy - 2 + 2 * i, xx = ix - 2 + 2 * j;
                if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
                yr(b, co, yy, xx) += static_cast<double>(x(b, ci, iy, ix)) * w(ci, co, i, j);
                gxr(b, ci, iy, ix) += static_cast<double>(gy(b, co, yy, xx)) * w(ci, co, i, j);
                gwr(ci, co, i, j) += static_cast<double>(gy(b, co, yy, xx)) * x(b, ci, iy, ix);
              }
  CHECK(rel_err(y.value(), yr) < 2e-5);
  CHECK(rel_err(*t.grad(xv), gxr) < 2e-5);
  CHECK(rel_err(*t.grad(wv), gwr) < 2e-5);
}

TEST_CASE("conv2d through winograd passes the finite-difference check for x, w and b") {
  rng gen(3);
  const force_algorithm f(dt::conv_algorithm::winograd);
  for (const wcase& k : {wcase{1, 3, 7, 6, 4, 1, 1}, wcase{2, 2, 6, 7, 3, 2, 2}, wcase{1, 2, 5, 5, 2, 0, 1}}) {
    INFO(describe(k));
    std::vector<tensor> in{random_normal({k.n, k.c, k.h, k.w}, gen), random_normal({k.o, k.c, 3, 3}, gen),
                           random_normal({k.o}, gen)};
    const auto cfg = ad::conv2d_config::square(1, k.pad, k.dil);
    const auto r = ad::grad_check([cfg](ad::tape&, std::span<const ad::var> v) { return ad::conv2d(v[0], v[1], v[2], cfg); }, in);
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("sgemm_nt_long_k and the thin first-layer weight gradient match the definition") {
  wsss_test::for_each_isa([&] {
    rng gen(23);
    for (const auto& mnk : {std::array<index_t, 3>{5, 7, 1030}, std::array<index_t, 3>{64, 27, 2100}, std::array<index_t, 3>{1, 1, 15}}) {
      const index_t m = mnk[0], n = mnk[1], k = mnk[2];  // named: clang 14 cannot capture a binding in INFO
      INFO("m " << m << " n " << n << " k " << k);
      const tensor a = random_normal({m, k + 3}, gen), b = random_normal({n, k + 1}, gen);
      tensor c = random_normal({m, n + 2}, gen);
      const tensor c0 = c;
      dt::sgemm_nt_long_k(m, n, k, a.data(), k + 3, b.data(), k + 1, c.data(), n + 2);
      double err = 0;
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n + 2; ++j) {
          double s = c0(i, j);
          if (j < n)
            for (index_t l = 0; l < k; ++l) s += static_cast<double>(a(i, l)) * b(j, l);
          err = std::max(err, std::abs(s - c(i, j)) / (1 + std::abs(s)));
        }
      CHECK(err < 1e-4);  // float sums of up to 2100 products, as the sgemm test
    }
    // 3 -> 16 channels, batch 2 at 80 x 72: 27 lowered rows, split by columns across threads.
    const tensor x = random_normal({2, 3, 80, 72}, gen), w = random_normal({16, 3, 3, 3}, gen);
    ad::tape t;
    const ad::var xv = t.leaf(x, false), wv = t.leaf(w, true);
    const ad::var y = ad::conv2d(xv, wv, ad::var{}, ad::conv2d_config::square(1, 1));
    const tensor gy = random_normal(y.shape(), gen);
    t.backward(y, gy);
    CHECK(rel_err(*t.grad(wv), naive_conv3(x, w, gy, 1, 1).gw) < 1e-5);
  });
}
