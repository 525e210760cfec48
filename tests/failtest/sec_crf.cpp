// SPDX-License-Identifier: MIT
// tests/failtest/sec_crf.cpp — methods::sec's CRF slot refuses an engine that cannot record
// its mean field on a tape (the constrain loss's option of a gradient through the CRF), with
// the concept named.
#include <string_view>

#include "wsss/methods/sec.hpp"

#ifdef WSSS_SHOULD_FAIL
struct bad_slot {  // configurable, but neither prepares nor records anything
  static constexpr std::string_view name = "bad::crf";
  struct config {};
  config cfg{};
};
using m = wsss::methods::sec<wsss::pool::gwrp, bad_slot>;
#else
using m = wsss::methods::sec<wsss::pool::gwrp, wsss::crf::mean_field<>>;
#endif

std::string_view method_name() { return m::name; }
