// SPDX-License-Identifier: MIT
// tests/nn/conv_ops.test.cpp — conv2d and conv_transpose2d against naive loops, plus
// finite-difference gradients for x, w and b.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/ops/deconv.hpp"
#include "wsss/core/random.hpp"
#include "support/each_isa.hpp"
#include "support/naive_conv.hpp"

using namespace wsss;
using wsss_test::naive_conv;
using wsss_test::naive_weight_grad;

namespace {

struct conv_case {
  index_t n, c, h, w, o, kh, kw;
  ad::conv2d_config cfg;
  bool bias;
};

std::string describe(const conv_case& k) {
  std::ostringstream os;
  os << k.n << "x" << k.c << "x" << k.h << "x" << k.w << " -> " << k.o << " k" << k.kh << "x" << k.kw << " s"
     << k.cfg.stride_h << "x" << k.cfg.stride_w << " p" << k.cfg.pad_h << "x" << k.cfg.pad_w << " d" << k.cfg.dilation_h
     << "x" << k.cfg.dilation_w << (k.bias ? " bias" : " no-bias");
  return os.str();
}

// Transposed convolution as scatter: every input pixel adds its kernel-weighted copy.
tensor64 naive_deconv(const tensor& x, const tensor& w, const tensor* b, const ad::conv_transpose2d_config& c) {
  const index_t n = x.dim(0), ci = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const index_t o = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const index_t oh = (h - 1) * c.stride_h - 2 * c.pad_h + c.dilation_h * (kh - 1) + c.output_padding_h + 1;
  const index_t ow = (wd - 1) * c.stride_w - 2 * c.pad_w + c.dilation_w * (kw - 1) + c.output_padding_w + 1;
  tensor64 y({n, o, oh, ow});
  for (index_t in = 0; in < n; ++in)
    for (index_t oc = 0; oc < o; ++oc)
      for (index_t yy = 0; yy < oh; ++yy)
        for (index_t xx = 0; xx < ow; ++xx) y(in, oc, yy, xx) = b ? (*b)[oc] : 0.0;
  for (index_t in = 0; in < n; ++in)
    for (index_t ic = 0; ic < ci; ++ic)
      for (index_t iy = 0; iy < h; ++iy)
        for (index_t ix = 0; ix < wd; ++ix)
          for (index_t oc = 0; oc < o; ++oc)
            for (index_t i = 0; i < kh; ++i)
              for (index_t j = 0; j < kw; ++j) {
                const index_t yy = iy * c.stride_h - c.pad_h + i * c.dilation_h;
                const index_t xx = ix * c.stride_w - c.pad_w + j * c.dilation_w;
                if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
                y(in, oc, yy, xx) += static_cast<double>(x(in, ic, iy, ix)) * w(ic, oc, i, j);
              }
  return y;
}

double max_abs_diff(const tensor& a, const tensor64& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

const conv_case conv_cases[] = {
    {1, 3, 7, 7, 4, 3, 3, ad::conv2d_config::square(1, 1), true},
    {2, 3, 9, 8, 5, 3, 3, ad::conv2d_config::square(2, 1), false},
    {2, 4, 11, 10, 3, 3, 3, ad::conv2d_config::square(1, 2, 2), true},
    {1, 2, 13, 9, 3, 3, 3, ad::conv2d_config{1, 1, 12, 12, 12, 12}, true},  // fc6-like: pad = dilation 12
    {2, 5, 6, 7, 4, 1, 1, ad::conv2d_config{}, true},                      // pointwise GEMM path
    {1, 3, 8, 9, 2, 1, 1, ad::conv2d_config::square(2, 0), false},          // strided 1x1 goes through im2col
    {3, 2, 8, 10, 3, 3, 2, ad::conv2d_config{2, 1, 0, 1, 1, 3}, true},      // non-square everything
    {1, 3, 5, 5, 2, 5, 5, ad::conv2d_config::square(1, 0), false},          // valid conv, 1x1 output
    {2, 1, 10, 12, 2, 4, 3, ad::conv2d_config{3, 2, 1, 2, 2, 1}, true},
    {1, 2, 7, 7, 2, 2, 2, ad::conv2d_config{1, 1, 1, 0, 1, 1}, false},       // pad only on one axis
};

// Shapes where most of the lowering is padding, so that conv2d runs region by region (forward,
// data and weight gradients): fc6-like dilation, stride with dilation, a rectangular kernel,
// padding wider than the kernel's reach (border outputs with no tap inside), batch 2 and bias,
// channel counts past one kc block.
const conv_case region_cases[] = {
    {1, 6, 13, 13, 13, 3, 3, ad::conv2d_config::square(1, 4, 4), true},
    {2, 5, 11, 9, 7, 3, 3, ad::conv2d_config{2, 1, 3, 4, 3, 4}, true},
    {1, 4, 7, 12, 3, 3, 5, ad::conv2d_config{1, 1, 3, 5, 3, 2}, false},
    {2, 40, 5, 5, 4, 1, 1, ad::conv2d_config::square(1, 3), true},  // 40 rows: past the direct kernel's 32
    {1, 80, 15, 15, 20, 3, 3, ad::conv2d_config::square(1, 6, 6), true},
};

}  // namespace

TEST_CASE("conv2d matches the naive 7-loop definition") {
  wsss_test::for_each_isa([&] {
    rng g(11);
    for (const conv_case& k : conv_cases) {
      INFO(describe(k));
      const tensor x = random_normal({k.n, k.c, k.h, k.w}, g);
      const tensor w = random_normal({k.o, k.c, k.kh, k.kw}, g);
      const tensor b = random_normal({k.o}, g);
      const tensor y = ad::conv2d_forward(x, w, k.bias ? &b : nullptr, k.cfg);
      CHECK(max_abs_diff(y, naive_conv(x, w, k.bias ? &b : nullptr, k.cfg)) < 1e-4);
    }
  });
}

TEST_CASE("conv2d spanning several column chunks matches the naive definition") {
  // 64 x 3 x 3 = 576 lowered rows, 48 x 50 = 2400 columns: more than one chunk, chunks that
  // start mid-row, both for the forward and for both gradients.
  rng g(5);
  const tensor x = random_normal({1, 64, 48, 50}, g);
  const tensor w = random_normal({3, 64, 3, 3}, g, 0.0, 0.1);
  const auto cfg = ad::conv2d_config::square(1, 1);
  REQUIRE(ad::detail::conv_chunk_cols(576, 2400, 2400, 1) < 2400);
  CHECK(max_abs_diff(ad::conv2d_forward(x, w, nullptr, cfg), naive_conv(x, w, nullptr, cfg)) < 1e-4);

  // Gradients through the tape against the same naive definition: with L = sum(gy * y),
  // dL/dw[o,c,i,j] = sum gy[o,p] x[c, p+ij] and dL/dx = the scatter, checked on probes.
  ad::tape t;
  const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
  const ad::var y = ad::conv2d(xv, wv, ad::var{}, cfg);
  const tensor gy = random_normal(y.shape(), g);
  t.backward(y, gy);
  const tensor& gx = *t.grad(xv);
  const tensor& gw = *t.grad(wv);
  // dL/dw by the definition.
  double max_err_w = 0;
  for (index_t o = 0; o < 3; ++o)
    for (index_t c = 0; c < 64; c += 9)
      for (index_t i = 0; i < 3; ++i)
        for (index_t j = 0; j < 3; ++j) {
          double s = 0;
          for (index_t yy = 0; yy < 48; ++yy)
            for (index_t xx = 0; xx < 50; ++xx) {
              const index_t iy = yy - 1 + i, ix = xx - 1 + j;
              if (iy < 0 || iy >= 48 || ix < 0 || ix >= 50) continue;
              s += static_cast<double>(gy(0, o, yy, xx)) * x(0, c, iy, ix);
            }
          max_err_w = std::max(max_err_w, std::abs(s - gw(o, c, i, j)) / (1 + std::abs(s)));
        }
  CHECK(max_err_w < 1e-4);
  // dL/dx by the definition (the transposed convolution, conv weights read as Cin x Cout), everywhere.
  ad::conv_transpose2d_config tc = ad::conv_transpose2d_config::square(1, 1);
  CHECK(max_abs_diff(gx, naive_deconv(gy, w, nullptr, tc)) < 1e-3);
}

TEST_CASE("conv2d's parallel paths (batch 2, thin and wide weight gradients) match the definition") {
  wsss_test::for_each_isa([&] {
    // Large enough to run on every thread: the first-layer shape (27 lowered rows: the weight
    // gradient is split by columns and reduced) and a 1x1 conv (pointwise GEMMs).
    rng g(31);
    struct big_case {
      index_t c, o, h, w, k, pad;
    };
    for (const big_case& k : {big_case{3, 16, 80, 72, 3, 1}, big_case{40, 24, 40, 44, 1, 0}, big_case{24, 32, 36, 30, 3, 2}}) {
      INFO("c " << k.c << " o " << k.o << " k " << k.k);
      const tensor x = random_normal({2, k.c, k.h, k.w}, g), w = random_normal({k.o, k.c, k.k, k.k}, g, 0.0, 0.2),
                   b = random_normal({k.o}, g);
      const auto cfg = ad::conv2d_config::square(1, k.pad, k.pad == 2 ? 2 : 1);
      REQUIRE(static_cast<double>(k.o) * k.c * k.k * k.k * k.h * k.w * 2 > ad::detail::conv_parallel_macs);
      ad::tape t;
      const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true), bv = t.leaf(b, true);
      const ad::var y = ad::conv2d(xv, wv, bv, cfg);
      CHECK(max_abs_diff(y.value(), naive_conv(x, w, &b, cfg)) < 1e-3);
      const tensor gy = random_normal(y.shape(), g);
      t.backward(y, gy);
      // dL/dx: the transposed convolution of gy (stride 1, so no output_padding).
      ad::conv_transpose2d_config tc{1, 1, cfg.pad_h, cfg.pad_w, 0, 0, cfg.dilation_h, cfg.dilation_w};
      CHECK(max_abs_diff(*t.grad(xv), naive_deconv(gy, w, nullptr, tc)) < 1e-3);
      // dL/dw and dL/db by the definition.
      // float sums of up to 2 x 40 x 44 products: worst-case rounding ~ n * 6e-8 = 2e-4.
      CHECK(max_abs_diff(*t.grad(wv), naive_weight_grad(x, gy, k.k, k.k, cfg)) < 1e-3);
      const tensor& gb = *t.grad(bv);
      for (index_t o = 0; o < k.o; ++o) {
        double s = 0;
        for (index_t n = 0; n < 2; ++n)
          for (index_t q = 0; q < y.shape()[2] * y.shape()[3]; ++q) s += gy[(n * k.o + o) * y.shape()[2] * y.shape()[3] + q];
        CHECK(gb[o] == doctest::Approx(s).epsilon(1e-4));
      }
    }
  });
}

TEST_CASE("conv_axis_segments gives, for every output index, exactly the taps that read inside") {
  struct axis {
    index_t n, k, s, p, d;
  };
  for (const axis a : {axis{41, 3, 1, 12, 12}, axis{13, 3, 1, 4, 4}, axis{9, 5, 2, 3, 2}, axis{5, 1, 1, 3, 1},
                       axis{7, 3, 1, 1, 1}, axis{6, 3, 1, 0, 1}, axis{10, 4, 3, 5, 3}}) {
    INFO("n " << a.n << " k " << a.k << " s " << a.s << " p " << a.p << " d " << a.d);
    const index_t out = (a.n + 2 * a.p - a.d * (a.k - 1) - 1) / a.s + 1;
    const auto segs = ad::detail::conv_axis_segments(a.n, a.k, a.s, a.p, a.d, out);
    for (index_t o = 0; o < out; ++o) {
      std::vector<index_t> valid;
      for (index_t t = 0; t < a.k; ++t) {
        const index_t v = o * a.s - a.p + t * a.d;
        if (v >= 0 && v < a.n) valid.push_back(t);
      }
      const ad::detail::axis_segment* hit = nullptr;
      int hits = 0;
      for (const auto& sg : segs)
        if (sg.lo <= o && o < sg.hi) hit = &sg, ++hits;
      CHECK(hits == (valid.empty() ? 0 : 1));
      if (hit) CHECK(hit->taps == valid);
    }
  }
}

TEST_CASE("conv2d's padding-skipping regions match the naive definition") {
  wsss_test::for_each_isa([&] {
    rng g(17);
    for (const conv_case& k : region_cases) {
      INFO(describe(k));
      const tensor x = random_normal({k.n, k.c, k.h, k.w}, g);
      const tensor w = random_normal({k.o, k.c, k.kh, k.kw}, g, 0.0, 0.2);
      const tensor b = random_normal({k.o}, g);
      const ad::detail::conv_geometry geo = ad::detail::conv2d_geometry(x, w, nullptr, k.cfg, "test");
      REQUIRE(ad::detail::conv_region_savings(geo, ad::detail::conv_regions(geo)) >= ad::detail::conv_region_min_savings);
      const tensor y = ad::conv2d_forward(x, w, k.bias ? &b : nullptr, k.cfg);
      CHECK(max_abs_diff(y, naive_conv(x, w, k.bias ? &b : nullptr, k.cfg)) < 1e-4);
    }
  });
}

TEST_CASE("conv2d's direct kernel (at most 288 lowered rows, stride 1) matches the definition, forward and both gradients") {
  // Channel counts off the 8- and 4-channel blocks, rows shorter and longer than a 48-pixel
  // block, padding wider than the kernel, unequal padding and dilation per axis, batch 2, and a
  // 1x1 with padding (not pointwise); 8 and 16 channels (72, 144 rows), dilated, unpadded (the
  // data gradient's padding is then 2) and with 16 outputs (the data gradient direct too); 20
  // and 32 channels (180, 288 rows: forward and data gradient direct, the weight gradient not),
  // rows whose last block is 1, 2 or 3 vectors (56 = 48 + 8 and 52 = 48 + 4 on half-width
  // vectors, 80 = 48 + 32, 64 = 48 + 16 on AVX-512; other splits on AVX2 and generic). The
  // direct weight gradient (AVX-512) reads gy rows of whole vectors in place (80), copies rows
  // with a partial last vector into zero-padded bands where 10 or more tap blocks share them
  // (37, 50, 38 and 17 wide) and reads the rest in place with a tail (the 27-row cases).
  const conv_case cases[] = {
      {1, 8, 30, 37, 8, 3, 3, ad::conv2d_config::square(1, 1), true},
      {2, 16, 13, 50, 16, 3, 3, ad::conv2d_config::square(1, 2, 2), false},
      {1, 16, 30, 40, 5, 3, 3, ad::conv2d_config::square(1, 0), true},
      {1, 11, 12, 17, 13, 3, 3, ad::conv2d_config{1, 1, 1, 2, 1, 2}, false},
      {1, 3, 37, 45, 64, 3, 3, ad::conv2d_config::square(1, 1), true},
      {2, 3, 9, 5, 13, 3, 3, ad::conv2d_config::square(1, 1), true},
      {1, 1, 20, 50, 5, 5, 5, ad::conv2d_config::square(1, 2, 2), false},
      {2, 2, 11, 48, 7, 3, 3, ad::conv2d_config{}, true},
      {1, 3, 6, 7, 6, 3, 3, ad::conv2d_config::square(1, 4), true},
      {1, 2, 14, 33, 9, 3, 5, ad::conv2d_config{1, 1, 2, 4, 1, 2}, false},
      {2, 3, 5, 5, 4, 1, 1, ad::conv2d_config::square(1, 3), true},
      {1, 32, 10, 56, 32, 3, 3, ad::conv2d_config::square(1, 1), true},
      {1, 20, 7, 64, 24, 3, 3, ad::conv2d_config::square(1, 1), false},
      {1, 4, 6, 80, 6, 3, 3, ad::conv2d_config::square(1, 1), true},
      {1, 32, 6, 52, 32, 3, 3, ad::conv2d_config::square(1, 1), true},
  };
  wsss_test::for_each_isa([&] {
    rng g(29);
    for (const conv_case& k : cases) {
      INFO(describe(k));
      const tensor x = random_normal({k.n, k.c, k.h, k.w}, g), w = random_normal({k.o, k.c, k.kh, k.kw}, g);
      const tensor b = random_normal({k.o}, g);
      const ad::detail::conv_geometry geo = ad::detail::conv2d_geometry(x, w, nullptr, k.cfg, "test");
      REQUIRE(ad::detail::conv_direct(geo));
      const ad::detail::conv_geometry dg = ad::detail::direct_data_geometry(geo, k.o);
      const bool direct_data = dg.c > 0 && ad::detail::conv_direct(dg);
      if (k.c >= 8) CHECK(direct_data);  // the data gradients of o kh kw <= 288 rows run direct too
      ad::tape t;
      const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true), bv = t.leaf(b, true);
      const ad::var y = ad::conv2d(xv, wv, k.bias ? bv : ad::var{}, k.cfg);
      CHECK(max_abs_diff(y.value(), naive_conv(x, w, k.bias ? &b : nullptr, k.cfg)) < 1e-4);
      const tensor gy = random_normal(y.shape(), g);
      t.backward(y, gy);
      CHECK(max_abs_diff(*t.grad(wv), naive_weight_grad(x, gy, k.kh, k.kw, k.cfg)) < 1e-3);
      const ad::conv_transpose2d_config tc{1, 1, k.cfg.pad_h, k.cfg.pad_w, 0, 0, k.cfg.dilation_h, k.cfg.dilation_w};
      CHECK(max_abs_diff(*t.grad(xv), naive_deconv(gy, w, nullptr, tc)) < 1e-3);
      // Both gradients add to what the buffers hold (the tape's start from zero).
      const tensor gx0 = random_normal(x.shape(), g), gw0 = random_normal(w.shape(), g);
      tensor gx = gx0, gw = gw0;
      const auto plus = [](auto a, const tensor& b) {  // a: the float64 reference
        for (index_t i = 0; i < a.numel(); ++i) a.data()[i] += b.data()[i];
        return a;
      };
      ad::detail::conv_backward_data(geo, w.data(), k.o, gy.data(), k.n, gx.data());
      ad::detail::conv_backward_weight(geo, x.data(), gy.data(), k.n, k.o, gw.data());
      CHECK(max_abs_diff(gx, plus(naive_deconv(gy, w, nullptr, tc), gx0)) < 1e-3);
      CHECK(max_abs_diff(gw, plus(naive_weight_grad(x, gy, k.kh, k.kw, k.cfg), gw0)) < 1e-3);
    }
  });
}

TEST_CASE("conv2d's regions run in parallel and agree with the dense lowering") {
  // Large enough for every thread (fc6 shape scaled down: 3x3, dilation 12 at 30x30). The dense
  // path is the same product with the rows of padding kept; both must give the definition.
  rng g(23);
  const tensor x = random_normal({2, 48, 30, 30}, g), w = random_normal({40, 48, 3, 3}, g, 0.0, 0.1);
  const auto cfg = ad::conv2d_config::square(1, 12, 12);
  const ad::detail::conv_geometry geo = ad::detail::conv2d_geometry(x, w, nullptr, cfg, "test");
  REQUIRE(static_cast<double>(40) * geo.rows() * geo.cols() * 2 > ad::detail::conv_parallel_macs);
  REQUIRE(ad::detail::conv_region_savings(geo, ad::detail::conv_regions(geo)) >= ad::detail::conv_region_min_savings);
  ad::tape t;
  const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
  const ad::var y = ad::conv2d(xv, wv, ad::var{}, cfg);
  CHECK(max_abs_diff(y.value(), naive_conv(x, w, nullptr, cfg)) < 1e-4);
  const tensor gy = random_normal(y.shape(), g);
  t.backward(y, gy);
  const ad::conv_transpose2d_config tc{1, 1, 12, 12, 0, 0, 12, 12};
  CHECK(max_abs_diff(*t.grad(xv), naive_deconv(gy, w, nullptr, tc)) < 1e-3);
  CHECK(max_abs_diff(*t.grad(wv), naive_weight_grad(x, gy, 3, 3, cfg)) < 1e-3);
}

TEST_CASE("conv2d's large regions are split into column blocks that start mid-region") {
  // 100 x 100 with dilation 30: the central region has 40 x 40 = 1600 outputs; on two threads
  // the forward splits it into blocks of 1264 columns (the second starts inside an output row).
  rng g(41);
  const tensor x = random_normal({1, 4, 100, 100}, g), w = random_normal({6, 4, 3, 3}, g, 0.0, 0.2);
  const auto cfg = ad::conv2d_config::square(1, 30, 30);
  const ad::detail::conv_geometry geo = ad::detail::conv2d_geometry(x, w, nullptr, cfg, "test");
  REQUIRE(!ad::detail::conv_useful_regions(geo).empty());
  ad::tape t;
  const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
  const ad::var y = ad::conv2d(xv, wv, ad::var{}, cfg);
  CHECK(max_abs_diff(y.value(), naive_conv(x, w, nullptr, cfg)) < 1e-4);
  const tensor gy = random_normal(y.shape(), g);
  t.backward(y, gy);
  const ad::conv_transpose2d_config tc{1, 1, 30, 30, 0, 0, 30, 30};
  CHECK(max_abs_diff(*t.grad(xv), naive_deconv(gy, w, nullptr, tc)) < 1e-3);
  CHECK(max_abs_diff(*t.grad(wv), naive_weight_grad(x, gy, 3, 3, cfg)) < 1e-3);
}

TEST_CASE("conv2d's region gradients pass the finite-difference check and match the definition") {
  rng g(29);
  for (const conv_case& k : region_cases) {
    INFO(describe(k));
    const tensor x = random_normal({k.n, k.c, k.h, k.w}, g), w = random_normal({k.o, k.c, k.kh, k.kw}, g, 0.0, 0.2);
    ad::tape t;
    const ad::var xv = t.leaf(x, true), wv = t.leaf(w, true);
    const ad::var y = ad::conv2d(xv, wv, ad::var{}, k.cfg);
    const tensor gy = random_normal(y.shape(), g);
    t.backward(y, gy);
    CHECK(max_abs_diff(*t.grad(wv), naive_weight_grad(x, gy, k.kh, k.kw, k.cfg)) < 1e-3);
    if (k.c * k.h * k.w > 2000) continue;  // finite differences on the small cases only
    std::vector<tensor> in{x, w};
    const auto cfg = k.cfg;
    const auto r = ad::grad_check(
        [cfg](ad::tape&, std::span<const ad::var> v) { return ad::conv2d(v[0], v[1], ad::var{}, cfg); }, in);
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("conv2d gradients pass the finite-difference check for x, w and b") {
  rng g(3);
  for (const conv_case& k : conv_cases) {
    INFO(describe(k));
    std::vector<tensor> in{random_normal({k.n, k.c, k.h, k.w}, g), random_normal({k.o, k.c, k.kh, k.kw}, g)};
    if (k.bias) in.push_back(random_normal({k.o}, g));
    const auto cfg = k.cfg;
    const auto r = ad::grad_check(
        [cfg](ad::tape&, std::span<const ad::var> v) {
          return ad::conv2d(v[0], v[1], v.size() > 2 ? v[2] : ad::var{}, cfg);
        },
        in);
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("conv2d rejects inconsistent shapes and settings") {
  const tensor x({1, 3, 8, 8}), w({4, 2, 3, 3}), w3({4, 3, 3, 3}), b({5});
  CHECK_THROWS_WITH_AS(ad::conv2d_forward(x, w, nullptr), doctest::Contains("[wsss.shape] ad::conv2d: weight expects 2 input channels"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(ad::conv2d_forward(x, w3, &b), doctest::Contains("[wsss.shape] ad::conv2d: bias must be 4"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(ad::conv2d_forward(tensor({3, 8, 8}), w3, nullptr), doctest::Contains("[wsss.shape] ad::conv2d: input must be rank 4"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(ad::conv2d_forward(x, w3, nullptr, ad::conv2d_config::square(0, 1)),
                       doctest::Contains("[wsss.value] ad::conv2d: stride and dilation must be >= 1"), wsss::value_error);
  CHECK_THROWS_WITH_AS(ad::conv2d_forward(x, w3, nullptr, ad::conv2d_config::square(1, 0, 5)),
                       doctest::Contains("[wsss.shape] ad::conv2d: the dilated 3x3 kernel"), wsss::shape_error);
}

namespace {

struct deconv_case {
  index_t n, c, h, w, o, kh, kw;
  ad::conv_transpose2d_config cfg;
  bool bias;
};

const deconv_case deconv_cases[] = {
    {1, 3, 4, 4, 2, 3, 3, ad::conv_transpose2d_config::square(2, 1, 1), true},   // the usual x2 upsampler
    {2, 2, 5, 3, 3, 4, 4, ad::conv_transpose2d_config::square(2, 1), false},
    {1, 4, 3, 4, 2, 1, 1, ad::conv_transpose2d_config{}, true},                  // pointwise path
    {2, 2, 4, 5, 3, 3, 2, ad::conv_transpose2d_config{3, 2, 1, 0, 2, 1, 1, 2}, true},
    {1, 2, 3, 3, 2, 3, 3, ad::conv_transpose2d_config{1, 1, 0, 0, 1, 1, 2, 2}, false},  // output_padding from dilation
    {1, 3, 6, 6, 2, 16, 16, ad::conv_transpose2d_config::square(8, 4), false},  // FCN-style x8
};

}  // namespace

TEST_CASE("conv_transpose2d matches the naive scatter definition") {
  rng g(17);
  for (const deconv_case& k : deconv_cases) {
    INFO("case in " << k.n << "x" << k.c << "x" << k.h << "x" << k.w << " k" << k.kh << "x" << k.kw);
    const tensor x = random_normal({k.n, k.c, k.h, k.w}, g);
    const tensor w = random_normal({k.c, k.o, k.kh, k.kw}, g);
    const tensor b = random_normal({k.o}, g);
    const tensor y = ad::conv_transpose2d_forward(x, w, k.bias ? &b : nullptr, k.cfg);
    CHECK(max_abs_diff(y, naive_deconv(x, w, k.bias ? &b : nullptr, k.cfg)) < 1e-4);
  }
}

TEST_CASE("conv_transpose2d gradients pass the finite-difference check for x, w and b") {
  rng g(23);
  for (const deconv_case& k : deconv_cases) {
    INFO("case in " << k.n << "x" << k.c << "x" << k.h << "x" << k.w << " k" << k.kh << "x" << k.kw);
    std::vector<tensor> in{random_normal({k.n, k.c, k.h, k.w}, g), random_normal({k.c, k.o, k.kh, k.kw}, g)};
    if (k.bias) in.push_back(random_normal({k.o}, g));
    const auto cfg = k.cfg;
    const auto r = ad::grad_check(
        [cfg](ad::tape&, std::span<const ad::var> v) {
          return ad::conv_transpose2d(v[0], v[1], v.size() > 2 ? v[2] : ad::var{}, cfg);
        },
        in);
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("conv_transpose2d is the adjoint of conv2d in x") {
  // <conv(x), y> = <x, conv_transpose(y)> for the same weights and settings.
  rng g(29);
  const tensor x = random_normal({2, 3, 9, 8}, g), w = random_normal({4, 3, 3, 3}, g);
  const ad::conv2d_config c{2, 2, 1, 1, 2, 1};
  const tensor y = ad::conv2d_forward(x, w, nullptr, c);
  const tensor r = random_normal(y.shape(), g);
  // output_padding recovers the 9 x 8 input size lost to the floor in conv's output size.
  const index_t oph = 9 - ((y.dim(2) - 1) * 2 - 2 + 2 * 2 + 1), opw = 8 - ((y.dim(3) - 1) * 2 - 2 + 1 * 2 + 1);
  const tensor xt = ad::conv_transpose2d_forward(r, w, nullptr, {2, 2, 1, 1, oph, opw, 2, 1});
  REQUIRE(xt.shape() == x.shape());
  double lhs = 0, rhs = 0;
  for (index_t i = 0; i < y.numel(); ++i) lhs += static_cast<double>(y[i]) * r[i];
  for (index_t i = 0; i < x.numel(); ++i) rhs += static_cast<double>(x[i]) * xt[i];
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
}

TEST_CASE("conv_transpose2d rejects inconsistent shapes and settings") {
  const tensor x({1, 3, 4, 4}), w({2, 3, 3, 3}), w3({3, 2, 3, 3}), b({3});
  CHECK_THROWS_WITH_AS(ad::conv_transpose2d_forward(x, w, nullptr),
                       doctest::Contains("[wsss.shape] ad::conv_transpose2d: weight expects 2 input channels"), wsss::shape_error);
  CHECK_THROWS_WITH_AS(ad::conv_transpose2d_forward(x, w3, &b), doctest::Contains("[wsss.shape] ad::conv_transpose2d: bias must be 2"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(ad::conv_transpose2d_forward(x, w3, nullptr, ad::conv_transpose2d_config::square(2, 0, 2)),
                       doctest::Contains("[wsss.value] ad::conv_transpose2d: output_padding 2x2 must be smaller"), wsss::value_error);
}
