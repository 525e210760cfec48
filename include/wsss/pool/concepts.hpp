// SPDX-License-Identifier: MIT
// wsss/pool/concepts.hpp — the Pooler and SuperpixelPooler concepts: global aggregation of
// N x C x H x W score maps into N x C image scores (SEC sec. 3.1, the attention paper sec. 3, SPN eq. 1-3).
#pragma once

#include <concepts>
#include <span>
#include <string_view>

#include "wsss/core/tensor.hpp"

namespace wsss::pool {

/*  Pooler contract
    A pooler is a policy type that aggregates a score map into one score per (image, class).
      static constexpr std::string_view name;   // "pool::gwrp", used in errors and benchmarks
      struct config { ... };                     // the paper's numbers, with the paper's defaults
      struct cache { ... };                      // what forward keeps for backward; reusable
      const config& cfg() const;
      void forward(const tensor& s, tensor& out, cache& c) const;
      void backward(const tensor& g, const cache& c, tensor& g_in) [const];
    forward: s is N x C x H x W (rank 4, finite, H*W >= 1); out is (re)shaped to N x C and
      OVERWRITTEN. The cache is overwritten too; passing the same cache again reuses its storage.
    backward: g is N x C (dL/d out of the last forward with this cache); g_in is (re)shaped to
      N x C x H x W and ASSIGNED (not added): g_in = dout/ds^T g. Every entry is written.
    Both check shapes and values at the call and throw shape_error / value_error whose text starts
    with "[wsss.shape] <name>" / "[wsss.value] <name>". A pooler with learnable parameters (fcl)
    ADDS the parameter gradients into its ad::parameter::grad, like the tape does; this is why
    backward is called on a non-const pooler in the concept.
    Inside the autodiff graph, pool::apply(tape, pooler, x) records one node (see pool/op.hpp). */
template <class P>
concept Pooler = requires(P& p, const P& cp, const tensor& s, tensor& out, tensor& g_in,
                          typename P::cache& c, const typename P::cache& cc) {
  { P::name } -> std::convertible_to<std::string_view>;
  typename P::config;
  { cp.cfg() } -> std::convertible_to<const typename P::config&>;
  cp.forward(s, out, c);
  p.backward(out, cc, g_in);
};

/*  SuperpixelPooler contract (refines Pooler)
    The pooling layout comes from an image's superpixels, precomputed per input size into a
    plan (typename P::plan; SPN's responsibilities h_i^j). In addition to the Pooler members:
      void forward(const tensor& s, std::span<const plan> plans, tensor& out, cache& c) const;
    with one plan per image (plans.size() == N), each built for the feature size H x W of s.
    The plain forward(s, out, c) uses the plans bound at construction. The plans are read, not
    copied: they must outlive the backward call that follows.                                 */
template <class P>
concept SuperpixelPooler =
    Pooler<P> && requires(const P& cp, const tensor& s, tensor& out, typename P::cache& c,
                          std::span<const typename P::plan> plans) {
      typename P::plan;
      cp.forward(s, plans, out, c);
    };

}  // namespace wsss::pool
