// SPDX-License-Identifier: MIT
// tests/failtest/sec_pooler.cpp — methods::sec's Pooler slot (the expansion loss's G_c) refuses
// a type that is not a Pooler, at the method's declaration, with the concept named.
#include <string_view>

#include "wsss/methods/sec.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // a pooler with no plan and no record: it could not sit inside a loss
  static constexpr std::string_view name = "bad::pooler";
  struct config {};
  config cfg{};
};
using m = wsss::methods::sec<bad_slot>;
#else
using m = wsss::methods::sec<wsss::pool::gmp>;
#endif

std::string_view method_name() { return m::name; }
