// SPDX-License-Identifier: MIT
// tests/failtest/op.cpp — ad::apply takes an Op; an op without a backward is refused with the
// concept named.
#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/tape.hpp"

struct forward_only_op {
  static constexpr std::string_view name = "forward_only";
  struct saved {};
  wsss::tensor forward(saved&, const wsss::tensor& x) const { return x; }
};

struct identity_op {
  static constexpr std::string_view name = "identity";
  struct saved {};
  wsss::tensor forward(saved&, const wsss::tensor& x) const { return x; }
  void backward(const saved&, const wsss::tensor&, const wsss::tensor& gy, std::span<const wsss::tensor* const>,
                std::span<wsss::tensor* const> gxs) const {
    if (gxs[0]) *gxs[0] = gy;
  }
};

#ifdef WSSS_SHOULD_FAIL
using checked_op = forward_only_op;
#else
using checked_op = identity_op;
#endif

wsss::ad::var record(const wsss::ad::var& x) { return wsss::ad::apply(x.owner(), checked_op{}, x); }
