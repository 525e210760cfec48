// SPDX-License-Identifier: MIT
// tests/failtest/compatibility.cpp — crf::mean_field's second slot is a Compatibility; a
// matrix-only type (no message step) is refused with the concept named.
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/mean_field.hpp"

struct matrix_only {
  static constexpr std::string_view name = "matrix_only";
  wsss::tensor matrix(wsss::index_t k) const { return wsss::tensor({k, k}); }
};

#ifdef WSSS_SHOULD_FAIL
using checked = wsss::crf::mean_field<wsss::crf::permutohedral, matrix_only>;
#else
using checked = wsss::crf::mean_field<wsss::crf::permutohedral, wsss::crf::potts>;
#endif

checked make_engine() { return checked{}; }
