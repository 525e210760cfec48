// SPDX-License-Identifier: MIT
// tests/failtest/affinitynet_crf.cpp — methods::affinitynet's CrfEngine slot refuses a type
// that is not a CrfEngine, at the method's declaration, with the concept named.
#include <string_view>

#include "wsss/methods/affinitynet.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // a CRF engine with no plan: it would rebuild its lattices on every call
  static constexpr std::string_view name = "bad::crf";
  struct config {};
  config cfg{};
};
using m = wsss::methods::affinitynet<wsss::pool::gap, wsss::graph::radius, wsss::walk::sparse_power, bad_slot>;
#else
using m = wsss::methods::affinitynet<>;
#endif

std::string_view method_name() { return m::name; }
