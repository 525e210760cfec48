// SPDX-License-Identifier: MIT
// wsss/pool/op.hpp — poolers as autodiff ops: pool::apply(tape, pooler, x) records one node
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <type_traits>

#include "wsss/autodiff/op.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/fcl.hpp"

namespace wsss::pool {

namespace detail {
/// g (+)= d elementwise.
inline void add_into(tensor& g, const tensor& d) {
  float* p = g.data();
  const float* q = d.data();
  for (index_t i = 0; i < g.numel(); ++i) p[i] += q[i];
}
}  // namespace detail

/// The Op (autodiff/op.hpp) of a parameter-free pooler P: one input (N x C x H x W), one
/// output (N x C). It holds a copy of the pooler (its config and, for gwrp, its decays; the
/// superpixel pooler holds a view of its plans, which must outlive backward).
template <Pooler P>
struct op {
  static constexpr std::string_view name = P::name;
  struct saved {
    typename P::cache c;
  };
  P pooler;

  tensor forward(saved& s, const tensor& x) const {
    tensor out;
    pooler.forward(x, out, s.c);
    return out;
  }
  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gxs) const {
    if (!gxs[0]) return;
    tensor g;
    pooler.backward(gy, s.c, g);
    detail::add_into(*gxs[0], g);
  }
};

/// The Op of pool::fcl: inputs (x, W, b), so the tape routes dL/dW and dL/db into the
/// parameters through tape.param().
struct fcl_op {
  static constexpr std::string_view name = "pool::fcl";
  struct saved {};
  fcl::config cfg;

  tensor forward(saved&, const tensor& x, const tensor& w, const tensor& b) const {
    fcl::check_input(cfg, x);
    fcl::check_params(cfg, w, b);
    const index_t N = x.dim(0), C = cfg.classes, hw = cfg.height * cfg.width;
    tensor y = tensor::uninitialized(shape{N, C});
    detail::launch(N * C, x.numel(), detail::fcl_forward_kernel{x.data(), w.data(), b.data(), y.data(), C, hw, cfg.sigmoid});
    return y;
  }
  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const tensor& x = *xs[0];
    const index_t N = x.dim(0), C = cfg.classes, hw = cfg.height * cfg.width;
    if (gxs[0])
      detail::launch(N * C, x.numel(),
                     detail::fcl_input_grad_kernel{gy.data(), y.data(), xs[1]->data(), gxs[0]->data(), C, hw, cfg.sigmoid, true});
    if (gxs[1] || gxs[2])
      detail::launch(C, x.numel(),
                     detail::fcl_param_grad_kernel{gy.data(), y.data(), x.data(), gxs[1] ? gxs[1]->data() : nullptr,
                                                   gxs[2] ? gxs[2]->data() : nullptr, N, C, hw, cfg.sigmoid});
  }
};
static_assert(ad::Op<fcl_op>);

/// Records pooler p on tape t: y = p(x), N x C. Parameter-free poolers become op<P>.
template <Pooler P>
  requires std::is_copy_constructible_v<P> && (!std::is_same_v<P, fcl>)
ad::var apply(ad::tape& t, const P& p, const ad::var& x) {
  return ad::apply(t, op<P>{p}, x);
}

/// Records the FCL with its weight and bias as tape parameters (their gradients are added
/// into weight.grad and bias.grad by tape.backward).
inline ad::var apply(ad::tape& t, fcl& p, const ad::var& x) {
  return ad::apply(t, fcl_op{p.cfg()}, x, t.param(p.weight), t.param(p.bias));
}

}  // namespace wsss::pool
