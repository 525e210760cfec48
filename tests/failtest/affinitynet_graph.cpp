// SPDX-License-Identifier: MIT
// tests/failtest/affinitynet_graph.cpp — methods::affinitynet's GraphBuilder slot refuses a type
// that is not a GraphBuilder, at the method's declaration, with the concept named.
#include <string_view>

#include "wsss/methods/affinitynet.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // a graph builder that never builds a graph
  static constexpr std::string_view name = "bad::graph";
  struct config {};
  struct plan {};
  config cfg{};
};
using m = wsss::methods::affinitynet<wsss::pool::gap, bad_slot>;
#else
using m = wsss::methods::affinitynet<>;
#endif

std::string_view method_name() { return m::name; }
