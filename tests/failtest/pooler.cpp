// SPDX-License-Identifier: MIT
// tests/failtest/pooler.cpp — pool::op takes a Pooler; a type without backward is refused at
// the declaration, with the concept named.
#include "wsss/pool/gap.hpp"
#include "wsss/pool/op.hpp"

// Looks like a pooler (name, config, cache, forward) but has no backward.
struct forward_only_pooler {
  static constexpr std::string_view name = "forward_only";
  struct config {};
  struct cache {};
  const config& cfg() const { return cfg_; }
  void forward(const wsss::tensor& s, wsss::tensor& out, cache&) const { out = s; }
  config cfg_;
};

#ifdef WSSS_SHOULD_FAIL
using checked = wsss::pool::op<forward_only_pooler>;
#else
using checked = wsss::pool::op<wsss::pool::gap>;
#endif

checked make_op() { return checked{}; }
