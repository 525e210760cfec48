// SPDX-License-Identifier: MIT
// wsss/pool/concepts.hpp — the Pooler and SuperpixelPooler concepts: global aggregation of
// N x C x H x W score maps into N x C image scores (SEC sec. 3.1, the attention paper sec. 3, SPN eq. 1-3).
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/autodiff/tape.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::pool {

/*  Pooler contract (a wsss::Policy; see core/policy.hpp for name, config, cfg and plan)
    A pooler aggregates a score map into one score per (image, class).
      plan prepare(const exec<Tag>&, const batch&, const shape& s) const;
      void run(const exec<Tag>&, plan&, const tensor& s, tensor& out) const;
      void backward(const exec<Tag>&, const plan&, const tensor& g, tensor& g_in) [const];
      ad::var record(ad::tape&, plan&, const ad::var& s) [const];
    prepare: s is N x C x H x W (rank 4, H*W >= 1); the plan holds everything per shape or per
      image (gwrp's decays from batch.tags, the SP layer's layouts from batch.superpixels) and,
      after a run, what backward needs. Config and batch are validated here.
    run: s must have the shape the plan was prepared for; out is (re)shaped to N x C and
      OVERWRITTEN. Starts with require_backend<P, Tag>(); kernels launch on ex.tag, and cpu,
      omp and thrust_omp give the same bits. Scratch comes from the plan or ex.scratch.
      A model bound to a device backend (backend_type: pool::device_gap<cuda_t>, ...) takes
      an exec of that backend; callers reach it through wsss::policy_exec.
    backward: g is N x C (dL/d out of the last run on this plan); g_in is (re)shaped to
      N x C x H x W and ASSIGNED (not added): g_in = dout/ds^T g. Every entry is written.
    record: y = pooler(s) as one tape node (ad::Op), gradients by tape.backward. The node owns
      a copy of the prepared plan and runs on it, so the caller's plan may be reused for the next
      record or destroyed at once (the built-in plans size their run buffers in run, so the
      copy is of the per-shape structure only).
    Errors: shape_error / value_error whose text starts with "[wsss.shape] <name>" /
    "[wsss.value] <name>". A pooler with learnable parameters (fcl) ADDS the parameter
    gradients into its ad::parameter::grad, like the tape does; this is why backward and record
    are called on a non-const pooler in the concept.                                            */
template <class P>
concept Pooler = Policy<P> && requires(P& p, const P& cp, const exec<backend_of_t<P>>& ex, const batch& b, const shape& s,
                                       typename P::plan& pl, const typename P::plan& cpl, const tensor& x,
                                       tensor& out, ad::tape& t, const ad::var& v) {
  { cp.prepare(ex, b, s) } -> std::same_as<typename P::plan>;
  cp.run(ex, pl, x, out);
  p.backward(ex, cpl, x, out);
  { p.record(t, pl, v) } -> std::same_as<ad::var>;
};

/*  SuperpixelPooler contract (refines Pooler)
    prepare reads one superpixel map per image from batch.superpixels (value_error when the
    batch has none) and lays it over the H x W grid of s (SPN's responsibilities h_i^j). Also
      std::vector<tensor> superpixel_features(const plan&, const tensor& s) const;
    eq. 1 itself: one C x K tensor of per-superpixel features per image.                       */
template <class P>
concept SuperpixelPooler = Pooler<P> && requires(const P& cp, const typename P::plan& pl, const tensor& x) {
  { cp.superpixel_features(pl, x) } -> std::same_as<std::vector<tensor>>;
};

/// What the built-in poolers' plans share (a user model need not derive from it).
struct plan_base {
  wsss::shape in;          ///< N x C x H x W the plan was prepared for (empty: not prepared)
  std::uint64_t runs = 0;  ///< runs so far (backward before the first run is an error)
};

/// Pools once: prepare then run on `ex` (the one-off case; a training loop keeps its plan).
template <Pooler P, class Tag = omp_t>
tensor run(const P& p, const tensor& s, const batch& b = {}, const exec<Tag>& ex = {}) {
  const auto pex = policy_exec(p, ex);  // a device pooler's own backend, else ex
  typename P::plan pl = p.prepare(pex, b, s.shape());
  tensor out;
  p.run(pex, pl, s, out);
  return out;
}

}  // namespace wsss::pool
