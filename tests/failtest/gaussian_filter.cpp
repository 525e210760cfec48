// SPDX-License-Identifier: MIT
// tests/failtest/gaussian_filter.cpp — crf::mean_field takes a GaussianFilter; a filter that
// cannot apply its transpose (no adjoint, so no backward) is refused with the concept named.
#include "wsss/crf/exact_filter.hpp"
#include "wsss/crf/mean_field.hpp"

struct no_adjoint_filter {
  static constexpr std::string_view name = "no_adjoint";
  template <class Tag>
  void init(const Tag&, const wsss::tensor&, wsss::crf::normalization) {}
  void reserve(wsss::index_t) {}
  template <class Tag>
  void apply_add(const Tag&, const float*, float*, wsss::index_t, float, bool) {}
  wsss::tensor apply(const wsss::tensor& t) const { return t; }
  wsss::index_t pixels() const { return 0; }
};

#ifdef WSSS_SHOULD_FAIL
using checked = wsss::crf::mean_field<no_adjoint_filter>;
#else
using checked = wsss::crf::mean_field<wsss::crf::exact_filter>;
#endif

checked make_engine() { return checked{}; }
