// SPDX-License-Identifier: MIT
// tests/nn/conv_sgemm.test.cpp — the GEMM under the convolutions against a naive triple loop:
// ragged edges of every block size, edge panels of 4, 8 and 12 rows (full and partial),
// transposed (strided) operands, assign and accumulate, k over one and two block limits; every
// micro-kernel this CPU runs.
#include <doctest/doctest.h>

#include <cmath>

#include "wsss/autodiff/ops/detail/sgemm.hpp"
#include "wsss/core/random.hpp"
#include "support/each_isa.hpp"

using namespace wsss;
using ad::detail::mat_ref;

TEST_CASE("sgemm matches a naive product on ragged, strided and transposed operands") {
  wsss_test::for_each_isa([] {
    rng g(3);
    struct dims {
      index_t m, n, k;
    };
    for (const dims d : {dims{1, 1, 1}, dims{12, 32, 192}, dims{13, 33, 193}, dims{7, 70, 5}, dims{130, 45, 400},
                         dims{64, 1600, 27}, dims{27, 64, 300},
                         dims{20, 64, 50}, dims{8, 33, 9}, dims{13, 33, 513}, dims{25, 40, 1030}}) {
      for (int layout = 0; layout < 4; ++layout) {
        for (bool accumulate : {false, true}) {
          INFO("m " << d.m << " n " << d.n << " k " << d.k << " layout " << layout << " accumulate " << accumulate);
          const bool at = layout & 1, bt = layout & 2;
          // A stored as m x k (or k x m when transposed), B as k x n (or n x k), with padded rows.
          const index_t lda = (at ? d.m : d.k) + 3, ldb = (bt ? d.k : d.n) + 5, ldc = d.n + 2;
          const tensor a = random_normal({(at ? d.k : d.m) * lda}, g), b = random_normal({(bt ? d.n : d.k) * ldb}, g);
          tensor c = random_normal({d.m * ldc}, g);
          const tensor c0 = c;
          const mat_ref ar = at ? mat_ref{a.data(), 1, lda} : mat_ref{a.data(), lda, 1};
          const mat_ref br = bt ? mat_ref{b.data(), 1, ldb} : mat_ref{b.data(), ldb, 1};
          ad::detail::sgemm(d.m, d.n, d.k, ar, br, c.data(), ldc, accumulate);
          double err = 0;
          for (index_t i = 0; i < d.m; ++i)
            for (index_t j = 0; j < d.n; ++j) {
              double s = accumulate ? c0[i * ldc + j] : 0.0;
              for (index_t l = 0; l < d.k; ++l) s += static_cast<double>(ar.p[i * ar.rs + l * ar.cs]) * br.p[l * br.rs + j * br.cs];
              err = std::max(err, std::abs(s - c[i * ldc + j]) / (1.0 + std::abs(s)));
            }
          CHECK(err < 1e-4);
          // The padding between rows of C is never written.
          int touched = 0;
          for (index_t i = 0; i < d.m; ++i)
            for (index_t j = d.n; j < ldc; ++j) touched += c[i * ldc + j] != c0[i * ldc + j];
          CHECK(touched == 0);
        }
      }
    }
  });
}

TEST_CASE("sgemm's k blocks: equal, at most sgemm_kc, multiples of 4, as few as the limit allows") {
  using ad::detail::sgemm_kc;
  for (index_t k = 1; k <= 5 * sgemm_kc + 3; ++k) {
    const index_t kb = ad::detail::sgemm_k_block(k);
    INFO("k " << k << " block " << kb);
    REQUIRE(kb % 4 == 0);
    REQUIRE(kb <= sgemm_kc);
    REQUIRE((k + kb - 1) / kb == (k + sgemm_kc - 1) / sgemm_kc);  // no more blocks than needed
    REQUIRE(kb - (k + (k + kb - 1) / kb - 1) / ((k + kb - 1) / kb) < 4);  // equal up to the rounding
  }
}
