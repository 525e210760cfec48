// SPDX-License-Identifier: MIT
// tests/crf/filter.test.cpp — permutohedral lattice against the exact Gaussian, adjoints, errors
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "wsss/core/random.hpp"
#include "wsss/crf/exact_filter.hpp"
#include "wsss/crf/permutohedral.hpp"

using namespace wsss;

namespace {

// Features of a small synthetic image: position / sxy and a two-region colour / sfeat.
tensor small_features(index_t h, index_t w, float sxy, float sfeat, std::uint64_t seed) {
  rng g(seed);
  tensor guide({3, h, w});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      for (index_t c = 0; c < 3; ++c)
        guide(c, y, x) = (x < w / 2 ? 60.0f + 40.0f * c : 200.0f - 50.0f * c) + static_cast<float>(g.normal()) * 8.0f;
  return crf::appearance_features(guide, sxy, sfeat);
}

tensor random_signal(index_t l, index_t n, std::uint64_t seed) {
  rng g(seed);
  tensor t({l, n});
  for (auto& v : t) v = static_cast<float>(g.uniform(0.0, 1.0));
  return t;
}

double dot(const tensor& a, const tensor& b) {
  double s = 0;
  for (index_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

TEST_CASE("permutohedral: row-normalised filter approximates the exact Gaussian") {
  const index_t h = 14, w = 16;
  for (float sxy : {1.5f, 4.0f}) {
    INFO("sxy " << sxy);
    const tensor f = small_features(h, w, sxy, 20.0f, 3);
    crf::permutohedral lat(f, crf::normalization::after);
    crf::exact_filter ex(f, crf::normalization::after);
    const tensor x = random_signal(3, h * w, 5);
    const tensor a = lat.apply(x), b = ex.apply(x);
    double num = 0, den = 0, worst = 0;
    for (index_t i = 0; i < a.numel(); ++i) {
      num += (a[i] - b[i]) * (a[i] - b[i]);
      den += b[i] * b[i];
      worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
    }
    MESSAGE("relative L2 error " << std::sqrt(num / den) << ", max abs " << worst);
    CHECK(std::sqrt(num / den) < 0.05);
    CHECK(worst < 0.2);
  }
}

TEST_CASE("permutohedral and exact: F^T is the adjoint of F in every normalisation") {
  const tensor f = small_features(9, 11, 2.0f, 15.0f, 11);
  const tensor x = random_signal(5, 99, 1), y = random_signal(5, 99, 2);
  for (auto nm : {crf::normalization::symmetric, crf::normalization::before, crf::normalization::after,
                  crf::normalization::none}) {
    INFO(crf::to_string(nm));
    crf::permutohedral lat(f, nm);
    const double lhs = dot(lat.apply(x), y), rhs = dot(x, lat.apply_transpose(y));
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
    crf::exact_filter ex(f, nm);
    CHECK(dot(ex.apply(x), y) == doctest::Approx(dot(x, ex.apply_transpose(y))).epsilon(1e-6));
  }
}

TEST_CASE("detail: vectorised log matches the C library within 2e-7 relative") {
  // (exp_nonpositive is tested in tests/core/math.test.cpp.)
  double worst_log = 0;
  for (float x = 1e-6f; x <= 1.0f; x *= 1.0013f) {
    const double l = std::log(static_cast<double>(x));
    worst_log = std::max(worst_log, std::abs(crf::detail::log_positive(x) - l) / std::max(std::abs(l), 1e-3));
  }
  CHECK(worst_log < 2e-7);
  CHECK(crf::detail::log_positive(1.0f) == 0.0f);
}

TEST_CASE("detail: neg_log_clamped's lanes and tail give the scalar log's bits, clamped to [lo, 1]") {
  // 8k + 5 values: the lane loop and the scalar tail both run; values below lo and above 1
  // exercise the clamp.
  std::vector<float> a(8 * 37 + 5), b(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::pow(10.0f, -7.0f + 7.5f * static_cast<float>(i) / static_cast<float>(a.size()));
  const float lo = 1e-5f;
  crf::detail::neg_log_clamped(a.data(), b.data(), static_cast<index_t>(a.size()), lo);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("i = " << i << ", a = " << a[i]);
    const float want = -crf::detail::log_positive(std::min(std::max(a[i], lo), 1.0f));
    CHECK(std::bit_cast<std::uint32_t>(b[i]) == std::bit_cast<std::uint32_t>(want));
  }
  CHECK(b.front() == doctest::Approx(-std::log(1e-5)).epsilon(1e-6));
  CHECK(b.back() == 0.0f);
}
