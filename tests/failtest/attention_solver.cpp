// SPDX-License-Identifier: MIT
// tests/failtest/attention_solver.cpp — methods::attention_crf's solver slot refuses a type that
// does not solve the attention QP (a CRF engine is no AttentionSolver), with the concept named.
#include <string_view>

#include "wsss/crf/mean_field.hpp"
#include "wsss/methods/attention_crf.hpp"

#ifdef WSSS_SHOULD_FAIL
using m = wsss::methods::attention_crf<wsss::crf::mean_field<>>;
#else
using m = wsss::methods::attention_crf<wsss::attention::coordinate_ascent>;
#endif

std::string_view method_name() { return m::name; }
