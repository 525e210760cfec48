// SPDX-License-Identifier: MIT
// tests/failtest/affinitynet_propagator.cpp — methods::affinitynet's Propagator slot refuses a type
// that is not a Propagator, at the method's declaration, with the concept named.
#include <string_view>

#include "wsss/methods/affinitynet.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // a propagator with a config accessor instead of the cfg member
  static constexpr std::string_view name = "bad::walk";
  struct config {};
  struct plan {};
  config settings() const { return {}; }
};
using m = wsss::methods::affinitynet<wsss::pool::gap, wsss::graph::radius, bad_slot>;
#else
using m = wsss::methods::affinitynet<>;
#endif

std::string_view method_name() { return m::name; }
