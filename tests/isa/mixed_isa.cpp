// SPDX-License-Identifier: MIT
// tests/isa/mixed_isa.cpp — one program, two translation units built with and without
// -march=native (issue 19's one-definition hazard, docs/reliability.md R20; the instruction set
// is chosen at run time by core/isa.hpp): both compute every conv layer of
// conv_tu.hpp, under every instruction set this CPU runs, and each result must match the
// definition (forward against the naive loops; gradients by the bilinear identities
// <gy, y> = <gx, x> = <gw, w>, which hold for conv2d without bias) and the other TU's.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "isa/conv_tu.hpp"
#include "support/each_isa.hpp"
#include "support/naive_conv.hpp"

using namespace wsss;

namespace {

double dot(const tensor& a, const tensor& b) {
  double s = 0;
  for (index_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

double max_abs(const tensor& a) {
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, static_cast<double>(std::abs(a[i])));
  return m;
}

// max |a - b| relative to max |b|.
double rel_diff(const tensor& a, const tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m / std::max(1e-30, max_abs(b));
}

void check_layer(const wsss_test::conv_layer& l) {
  const tensor64 ref = wsss_test::naive_conv(l.x, l.w, nullptr, l.cfg);
  double err = 0, scale = 0;
  for (index_t i = 0; i < ref.numel(); ++i) {
    err = std::max(err, std::abs(ref[i] - l.y[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  CHECK(err / scale < 2e-5);  // float sums of at most 32 x 9 products, as the conv tests
  const double yy = dot(l.gy, l.y), xx = dot(l.gx, l.x), ww = dot(l.gw, l.w);
  const double tol = 1e-4 * (std::abs(yy) + std::sqrt(static_cast<double>(l.y.numel())) * max_abs(l.y) * max_abs(l.gy));
  CHECK(std::abs(xx - yy) < tol);
  CHECK(std::abs(ww - yy) < tol);
}

}  // namespace

TEST_CASE("[R20] two translation units built with and without -march=native compute the same convolutions") {
  MESSAGE("the -march=native TU " << (wsss_test::native_tu_has_avx512() ? "has" : "lacks") << " AVX-512; CPU runs "
                                  << isa_name(cpu_isa()));
  wsss_test::for_each_isa([] {
    const auto native = wsss_test::conv_layers_native(), plain = wsss_test::conv_layers_plain();
    REQUIRE(native.size() == plain.size());
    for (std::size_t k = 0; k < native.size(); ++k) {
      INFO(native[k].name);
      check_layer(native[k]);
      check_layer(plain[k]);
      // Same inputs (one seed), so the two TUs' results differ by rounding at most.
      CHECK(rel_diff(native[k].y, plain[k].y) < 1e-5);
      CHECK(rel_diff(native[k].gx, plain[k].gx) < 1e-5);
      CHECK(rel_diff(native[k].gw, plain[k].gw) < 1e-5);
    }
  });
}

TEST_CASE("[R20] Winograd weights packed by one translation unit are consumed by the other") {
  rng gen(5);
  const tensor x = random_normal({1, 40, 18, 21}, gen), w = random_normal({30, 40, 3, 3}, gen);
  const tensor64 ref = wsss_test::naive_conv(x, w, nullptr, ad::conv2d_config::square(1, 1));
  wsss_test::for_each_isa([&] {
    const tensor crossed[] = {wsss_test::wino_forward_plain(x, w, wsss_test::wino_weights_native(x, w)),
                              wsss_test::wino_forward_native(x, w, wsss_test::wino_weights_plain(x, w))};
    for (const tensor& y : crossed) {
      double err = 0, scale = 0;
      for (index_t i = 0; i < ref.numel(); ++i) {
        err = std::max(err, std::abs(ref[i] - y[i]));
        scale = std::max(scale, std::abs(ref[i]));
      }
      CHECK(err / scale < 2e-5);
    }
  });
}
