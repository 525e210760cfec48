// SPDX-License-Identifier: MIT
// wsss/crf/concepts.hpp — GaussianFilter, Compatibility, CrfEngine and DifferentiableCrf: the
// policy contracts of the fully connected CRF (Krähenbühl & Koltun 2011; CRF-RNN, Zheng 2015)
#pragma once

#include <concepts>
#include <span>
#include <string_view>

#include "wsss/autodiff/tape.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf {

/*  GaussianFilter contract
    A plan of the (normalised) Gaussian filter F = P K Q over one image's features, built once
    by init(features D x N, normalization) and reused for every mean-field iteration.
      - F is linear. K is the Gaussian sum K_ij ≈ exp(-|f_i - f_j|² / 2) with the self term
        i = j included; P, Q are the normalisation's per-pixel scales (kernels.hpp).
      - apply_add(in, out, ld, s, transpose) ADDS s · F in (transpose: s · F^T in) into out;
        in and out are N x ld, pixel-major ("interleaved"), any ld >= 1 (mean field pads
        rows to a multiple of 8); padding channels are carried through linearly. It allocates nothing after reserve(ld) and
        must not be called from two threads on one plan at once.
      - apply(L x N) returns F in and apply_transpose(L x N) returns F^T in (allocating
        convenience paths). F^T is the exact adjoint: <F x, y> = <x, F^T y>.
      - pixels() is N; response_to_ones() is n = K·1.                                      */
template <class F>
concept GaussianFilter =
    std::default_initializable<F> && std::movable<F> &&
    requires(F& f, const F& cf, const tensor& t, normalization nm, const float* in, float* out, index_t ld, float s) {
      { F::name } -> std::convertible_to<std::string_view>;
      f.init(t, nm);
      f.reserve(ld);
      f.apply_add(in, out, ld, s, true);
      { f.apply(t) } -> std::same_as<tensor>;
      { f.apply_transpose(t) } -> std::same_as<tensor>;
      { cf.pixels() } -> std::same_as<index_t>;
    };

/*  Compatibility contract
    The label compatibility mu (K x K) of the pairwise energy mu(l, l') k(f_i, f_j).
      - matrix(K) returns mu (K x K), used for the energy and by the autodiff op.
      - subtract(m, a, n, ld, K) performs a[p] -= mu · m[p] for n interleaved pixel rows
        (the message step of mean field); it ADDS into a.
      - Potts is mu = -I in update form (the reference's "-w·Q", attractive), which equals
        the penalty w·[l != l'] up to a per-pixel constant.                                 */
template <class C>
concept Compatibility = std::copy_constructible<C> &&
    requires(const C& c, index_t k, const float* m, float* a, index_t n, index_t ld) {
      { C::name } -> std::convertible_to<std::string_view>;
      { c.matrix(k) } -> std::same_as<tensor>;
      c.subtract(m, a, n, ld, k);
    };

/*  CrfEngine contract
    infer(unary N x K x H x W energies, images) returns Q (N x K x H x W, each pixel a
    distribution over K labels); images hold one guide per batch item matching H x W.
    Shapes are checked (shape_error), unaries must be finite and K >= 1 (value_error).      */
template <class E>
concept CrfEngine = requires(E& e, const tensor& u, std::span<const rgb_image> imgs) {
  { E::name } -> std::convertible_to<std::string_view>;
  typename E::config;
  { e.infer(u, imgs) } -> std::same_as<tensor>;
};

/*  DifferentiableCrf contract
    A CrfEngine that also records itself on a tape: record(tape, x, mu, w, images) returns
    Q_T as a var whose backward ADDS dL/dx (unaries), dL/dmu (K x K compatibility) and dL/dw
    (kernel weights) through all T iterations; the images receive no gradient.              */
template <class E>
concept DifferentiableCrf =
    CrfEngine<E> && requires(const E& e, ad::tape& t, const ad::var& v, std::span<const rgb_image> imgs) {
      typename E::op;
      { e.record(t, v, v, v, imgs) } -> std::same_as<ad::var>;
    };

}  // namespace wsss::crf
