// SPDX-License-Identifier: MIT
// tests/failtest/spn_pooler.cpp — methods::spn's SP-layer slot refuses a pooler that cannot
// pool per superpixel (GAP is a Pooler, not a SuperpixelPooler), with the concept named.
#include <string_view>

#include "wsss/methods/spn.hpp"
#include "wsss/pool/gap.hpp"

#ifdef WSSS_SHOULD_FAIL
using m = wsss::methods::spn<wsss::superpixel::slic_method, wsss::pool::gap>;
#else
using m = wsss::methods::spn<wsss::superpixel::slic_method, wsss::pool::sp_layer>;
#endif

std::string_view method_name() { return m::name; }
