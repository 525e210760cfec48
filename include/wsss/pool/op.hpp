// SPDX-License-Identifier: MIT
// wsss/pool/op.hpp — the autodiff node of a parameter-free pooler: what P::record puts on the tape
#pragma once

#include <span>
#include <string_view>
#include <type_traits>

#include "wsss/autodiff/op.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/pool/concepts.hpp"

namespace wsss::pool {

namespace detail {
/// g += d elementwise.
inline void add_into(tensor& g, const tensor& d) {
  float* p = g.data();
  const float* q = d.data();
  for (index_t i = 0; i < g.numel(); ++i) p[i] += q[i];
}
}  // namespace detail

/// The Op (autodiff/op.hpp) of pooler P: one input (N x C x H x W), one output (N x C). It
/// holds a copy of the pooler (its config) and of the prepared plan: the node runs on its own
/// plan and its backward reads that one, so the caller's plan may be reused or destroyed as
/// soon as record returns. Runs on the default exec (omp).
template <Pooler P>
  requires std::is_copy_constructible_v<P>
struct op {
  static constexpr std::string_view name = P::name;
  struct saved {
    typename P::plan pl;  ///< the prepared plan, filled by this node's run
  };
  P pooler;
  const typename P::plan* prepared = nullptr;

  tensor forward(saved& s, const tensor& x) const {
    s.pl = *prepared;  // before any run: a copy of the structure, the run buffers still empty
    tensor out;
    pooler.run(policy_exec(pooler, exec<>{}), s.pl, x, out);
    return out;
  }
  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gxs, std::span<const ad::grad_slot> mode) const {
    if (!gxs[0]) return;
    if (mode[0] == ad::grad_slot::overwrite) {  // pooler backward assigns: write the slot directly
      pooler.backward(policy_exec(pooler, exec<>{}), s.pl, gy, *gxs[0]);
      return;
    }
    tensor g;
    pooler.backward(policy_exec(pooler, exec<>{}), s.pl, gy, g);
    detail::add_into(*gxs[0], g);
  }
};

/// What a parameter-free pooler's record does: y = p(x) on tape t, one op<P> node.
template <class P>
ad::var record(ad::tape& t, const P& p, const typename P::plan& pl, const ad::var& x) {
  return ad::apply(t, op<P>{p, &pl}, x);
}

}  // namespace wsss::pool
