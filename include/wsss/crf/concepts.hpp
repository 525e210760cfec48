// SPDX-License-Identifier: MIT
// wsss/crf/concepts.hpp — GaussianFilter, Compatibility, CrfEngine and DifferentiableCrf: the
// policy contracts of the fully connected CRF (Krähenbühl & Koltun 2011; CRF-RNN, Zheng 2015)
#pragma once

#include <concepts>
#include <string_view>

#include "wsss/autodiff/tape.hpp"
#include "wsss/backend/tags.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf {

/*  GaussianFilter contract
    A plan of the (normalised) Gaussian filter F = P K Q over one image's features, built once
    by init(tag, features D x N, normalization) and reused for every mean-field iteration.
      - F is linear. K is the Gaussian sum K_ij ≈ exp(-|f_i - f_j|² / 2) with the self term
        i = j included; P, Q are the normalisation's per-pixel scales (kernels.hpp).
      - apply_add(tag, in, out, ld, s, transpose) ADDS s · F in (transpose: s · F^T in) into
        out; in and out are N x ld, pixel-major ("interleaved"), any ld >= 1 (mean field pads
        rows to a multiple of 8); padding channels are carried through linearly. It allocates
        nothing after reserve(ld) and must not be called from two threads on one plan at once.
      - The tag is the backend (cpu_t, omp_t, thrust_omp_t, ...): index kernels launch on it,
        and every tag gives the same result (detail/parallel.hpp says what each one runs).
      - apply(L x N) returns F in and apply_transpose(L x N) returns F^T in (allocating
        convenience paths). F^T is the exact adjoint: <F x, y> = <x, F^T y>.
      - pixels() is N; response_to_ones() is n = K·1.                                      */
template <class F>
concept GaussianFilter =
    std::default_initializable<F> && std::movable<F> &&
    requires(F& f, const F& cf, const tensor& t, normalization nm, const float* in, float* out, index_t ld, float s) {
      { F::name } -> std::convertible_to<std::string_view>;
      f.init(wsss::omp, t, nm);
      f.reserve(ld);
      f.apply_add(wsss::omp, in, out, ld, s, true);
      { f.apply(t) } -> std::same_as<tensor>;
      { f.apply_transpose(t) } -> std::same_as<tensor>;
      { cf.pixels() } -> std::same_as<index_t>;
    };

/*  Compatibility contract
    The label compatibility mu (K x K) of the pairwise energy mu(l, l') k(f_i, f_j).
      - matrix(K) returns mu (K x K), used for the energy and by the autodiff op.
      - subtract(tag, m, a, n, ld, K) performs a[p] -= mu · m[p] for n interleaved pixel rows
        (the message step of mean field); it ADDS into a.
      - Potts is mu = -I in update form (the reference's "-w·Q", attractive), which equals
        the penalty w·[l != l'] up to a per-pixel constant.                                 */
template <class C>
concept Compatibility = std::copy_constructible<C> &&
    requires(const C& c, index_t k, const float* m, float* a, index_t n, index_t ld) {
      { C::name } -> std::convertible_to<std::string_view>;
      { c.matrix(k) } -> std::same_as<tensor>;
      c.subtract(wsss::omp, m, a, n, ld, k);
    };

/*  CrfEngine contract (a wsss::Policy)
    prepare(ex, batch, s) with s = N x K x H x W, the shape of the unaries, returns the plan:
    the per-image filter plans (lattices) built from batch.images (one H x W image per item)
    and, when batch.labels is given, one clamp map per item (255 = free; a fixed pixel keeps a
    one-hot Q). prepare reads from the config only what shapes the filters (kernel deviations,
    normalisation): weights and iterations are read by run, so one plan serves configs that
    differ only in those (grid_search relies on it).
    run(ex, pl, unary, q) is const: unary N x K x H x W energies of shape s, q is written
    (resized when its shape differs) with Q, each pixel a distribution over the K labels.
    A plan keeps its buffers: preparing it again for images of the same size allocates nothing
    new. Shapes are checked (shape_error), unaries must be finite and K >= 1 (value_error).
    ex is any host exec, or for an engine bound to a backend (backend_type, e.g.
    device_mean_field<opencl_t>) an exec of that backend (callers use wsss::policy_exec).  */
template <class E>
concept CrfEngine = Policy<E> && requires(const E& e, typename E::plan& pl, const exec<backend_of_t<E>>& ex, const batch& b,
                                          const shape& s, const tensor& u, tensor& q) {
  { e.prepare(ex, b, s) } -> std::same_as<typename E::plan>;
  e.run(ex, pl, u, q);
};

/*  DifferentiableCrf contract
    A CrfEngine that also records itself on a tape: record(tape, pl, unary) returns Q_T as a
    var whose backward ADDS dL/dU through all T iterations (and, for a trainable engine, into
    its parameters' grads: crf_rnn's compatibility and kernel weights). The plan must outlive
    the backward pass and not be prepared again before it; the images receive no gradient.
    record is const unless the engine is trainable.                                        */
template <class E>
concept DifferentiableCrf = CrfEngine<E> && requires(E& e, ad::tape& t, typename E::plan& pl, const ad::var& v) {
  { e.record(t, pl, v) } -> std::same_as<ad::var>;
};

}  // namespace wsss::crf
