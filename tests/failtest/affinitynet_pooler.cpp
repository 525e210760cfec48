// SPDX-License-Identifier: MIT
// tests/failtest/affinitynet_pooler.cpp — methods::affinitynet's Pooler slot refuses a type
// that is not a Pooler, at the method's declaration, with the concept named.
#include <string_view>

#include "wsss/methods/affinitynet.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // a pooler whose run is missing: it cannot pool
  static constexpr std::string_view name = "bad::pooler";
  struct config {};
  struct plan {};
  config cfg{};
};
using m = wsss::methods::affinitynet<bad_slot>;
#else
using m = wsss::methods::affinitynet<>;
#endif

std::string_view method_name() { return m::name; }
