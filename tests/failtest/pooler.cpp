// SPDX-License-Identifier: MIT
// tests/failtest/pooler.cpp — pool::op (what a pooler's record puts on the tape) takes a
// Pooler; a type with name, config, plan, prepare, run and record but no backward is refused at
// the declaration, with the concept named.
#include "wsss/pool/gap.hpp"
#include "wsss/pool/op.hpp"

// Looks like a pooler (the stage protocol's name, config, cfg, plan, prepare, run, record) but
// has no backward.
struct forward_only_pooler {
  static constexpr std::string_view name = "forward_only";
  struct config {};
  struct plan {};
  config cfg{};
  template <class Tag>
  plan prepare(const wsss::exec<Tag>&, const wsss::batch&, const wsss::shape&) const {
    return {};
  }
  template <class Tag>
  void run(const wsss::exec<Tag>&, plan&, const wsss::tensor& s, wsss::tensor& out) const {
    out = s;
  }
  wsss::ad::var record(wsss::ad::tape&, plan&, const wsss::ad::var& x) const { return x; }
};

#ifdef WSSS_SHOULD_FAIL
using checked = wsss::pool::op<forward_only_pooler>;
#else
using checked = wsss::pool::op<wsss::pool::gap>;
#endif

checked make_op() { return checked{}; }
