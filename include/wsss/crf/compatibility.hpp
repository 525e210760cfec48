// SPDX-License-Identifier: MIT
// wsss/crf/compatibility.hpp — label compatibility policies: Potts (Krähenbühl & Koltun 2011)
// and a learned K x K matrix (CRF-RNN's mu, Zheng et al. 2015; attention paper section 5)
#pragma once

#include <string_view>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/detail/filter_common.hpp"
#include "wsss/crf/detail/parallel.hpp"

namespace wsss::crf {

/// Potts: mu = -I in update form, a[p] += m[p] (the reference's "-w·Q" subtracted).
struct potts {
  static constexpr std::string_view name = "crf::potts";
  /// Lets the engine fold the message straight into -U (the reference's order of sums).
  static constexpr bool adds_message = true;

  tensor matrix(index_t k) const {
    tensor mu({k, k});
    for (index_t i = 0; i < k; ++i) mu(i, i) = -1.0f;
    return mu;
  }
  template <class Tag>
  void subtract(const Tag&, const float* m, float* a, index_t n, index_t ld, index_t k) const noexcept {
    for (index_t p = 0; p < n; ++p)
      for (index_t c = 0; c < k; ++c) a[p * ld + c] += m[p * ld + c];
  }
};
static_assert(Compatibility<potts>);

/// A learned compatibility matrix mu (K x K): a[p, l] -= Σ_l' mu(l, l') m[p, l']. CRF-RNN
/// initialises it to -I (Potts).
class learned {
 public:
  static constexpr std::string_view name = "crf::learned";

  learned() = default;
  explicit learned(tensor mu) : mu_(std::move(mu)) {
    expect_rank(mu_, 2, name, "mu", "K x K");
    if (mu_.dim(0) != mu_.dim(1) || mu_.dim(0) < 1) throw_shape(name, "mu must be square K x K, got ", mu_.shape());
    detail::check_finite(mu_, name, "mu");
  }
  /// -I: CRF-RNN's initial value, equal to Potts.
  static learned potts_init(index_t k) { return learned(potts{}.matrix(k)); }

  tensor matrix(index_t k) const {
    check(k);
    return mu_;
  }
  template <class Tag>
  void subtract(const Tag&, const float* m, float* a, index_t n, index_t ld, index_t k) const {
    check(k);
    const float* mu = mu_.data();
#pragma omp parallel for schedule(static) if (detail::threaded<Tag>)
    for (index_t p = 0; p < n; ++p) {
      const float* mp = m + p * ld;
      float* ap = a + p * ld;
      for (index_t l = 0; l < k; ++l) {
        float s = 0;
        for (index_t j = 0; j < k; ++j) s += mu[l * k + j] * mp[j];
        ap[l] -= s;
      }
    }
  }

 private:
  void check(index_t k) const {
    if (mu_.rank() != 2 || mu_.dim(0) != k)
      throw_shape(name, "compatibility is ", mu_.shape(), " but the unaries have ", k, " labels");
  }
  tensor mu_;
};
static_assert(Compatibility<learned>);

}  // namespace wsss::crf
