// SPDX-License-Identifier: MIT
// tests/crf/elevate.test.cpp — the lattice's per-pixel elevation (Adams et al. 2010, section
// 3.1): barycentric reconstruction of the elevated point, and SIMD lanes against one pixel
#include <doctest/doctest.h>

#include <cmath>

#include "wsss/core/random.hpp"
#include "wsss/crf/detail/elevate.hpp"

using namespace wsss;

namespace {

constexpr int kD = 5;

// The elevated point E c (coordinates e_0 = Σ c_k, e_j = Σ_{k>j} c_k - j c_j), written out.
void elevated(const float* c, double* e) {
  for (int j = 0; j <= kD; ++j) {
    double s = 0;
    for (int k = j + 1; k <= kD; ++k) s += c[k - 1];
    e[j] = s - (j > 0 ? j * static_cast<double>(c[j - 1]) : 0.0);
  }
}

}  // namespace

TEST_CASE("crf::detail::elevate: weights sum to 1, are >= 0 and rebuild the point from its d + 1 vertices") {
  rng g(11);
  for (int t = 0; t < 500; ++t) {
    float c[kD], b[kD + 1];
    std::int32_t r0[kD], rk[kD], oob = 0;
    for (float& v : c) v = static_cast<float>(g.uniform(-60.0, 60.0));
    crf::detail::elevate<kD>(c, kD, 1.0f / (kD + 1), r0, rk, b, oob);
    CHECK(oob == 0);
    double e[kD + 1], sum_b = 0, rebuilt[kD + 1] = {};
    elevated(c, e);
    // The remainder-0 point's last coordinate makes the point sum to 0; its last rank is the
    // one missing from the permutation 0..d.
    std::int32_t rem[kD + 1], rank[kD + 1];
    std::int32_t rs = 0, ks = 0;
    for (int i = 0; i < kD; ++i) {
      rem[i] = r0[i];
      rank[i] = rk[i];
      rs += r0[i];
      ks += rk[i];
    }
    rem[kD] = -rs;
    rank[kD] = kD * (kD + 1) / 2 - ks;
    for (int r = 0; r <= kD; ++r) {
      CHECK(b[r] >= -1e-6f);
      sum_b += b[r];
      for (int i = 0; i <= kD; ++i) rebuilt[i] += b[r] * (rem[i] + (rank[i] <= kD - r ? r : r - (kD + 1)));
    }
    CHECK(sum_b == doctest::Approx(1.0).epsilon(1e-5));
    for (int i = 0; i <= kD; ++i) CHECK(rebuilt[i] == doctest::Approx(e[i]).epsilon(1e-4).scale(1.0));
  }
}

#if defined(WSSS_CRF_VECTOR_EXT)
TEST_CASE("crf::detail::elevate: pixels in SIMD lanes get the bits of the one-pixel version") {
  rng g(12);
  constexpr int L = crf::detail::elevate_lanes;
  for (int t = 0; t < 200; ++t) {
    crf::detail::v16f c[kD], b[kD + 1];
    crf::detail::v16i r0[kD], rk[kD], oob{};
    float cs[L][kD];
    for (int k = 0; k < kD; ++k)
      for (int l = 0; l < L; ++l) c[k][l] = cs[l][k] = static_cast<float>(g.uniform(-300.0, 300.0));
    crf::detail::elevate<kD>(c, kD, 1.0f / (kD + 1), r0, rk, b, oob);
    for (int l = 0; l < L; ++l) {
      float sb[kD + 1];
      std::int32_t sr0[kD], srk[kD], so = 0;
      crf::detail::elevate<kD>(cs[l], kD, 1.0f / (kD + 1), sr0, srk, sb, so);
      for (int i = 0; i < kD; ++i) {
        // lanes copied out: a vector-extension element does not bind to a reference (clang)
        CHECK(sr0[i] == std::int32_t{r0[i][l]});
        CHECK(srk[i] == std::int32_t{rk[i][l]});
      }
      for (int i = 0; i <= kD; ++i) CHECK(sb[i] == float{b[i][l]});
      CHECK((so != 0) == (oob[l] != 0));
    }
  }
}
#endif
