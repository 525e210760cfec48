// SPDX-License-Identifier: MIT
// wsss/walk/concepts.hpp — the Propagator concept: vec(M_c*) = T^t vec(M_c) (AffinityNet, eq. 12)
#pragma once

#include <concepts>
#include <string_view>

#include "wsss/backend/tags.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/walk/transition.hpp"

namespace wsss::walk {

/*  Propagator contract
    A propagator applies t steps of a random walk to every channel of a score map:
      static constexpr std::string_view name;
      struct config { index_t t = 256; ... };    // t: the number of walk steps of eq. 12
      tensor propagate(Backend tag, const transition& T, const tensor& cam) const;
    cam is C x H x W (H x W = T's grid) or C x n (n = T.nodes()), every channel including the
    background; the result has cam's shape and is ASSIGNED (a new tensor), with
    out[c] = S^t cam[c] where S is T's step operator (P = D^-1 A or Q = A D^-1, see
    transition.hpp). Models agree with each other to 1e-4 in max-norm on scores in [0, 1]
    (dense_power is the oracle). Guarantees: the input is not modified; a shape mismatch is a
    shape_error, a non-finite score a value_error; all-zero channels stay exactly zero.
    The backend tag selects where the work runs (cpu, omp, thrust_omp); a model without a
    parallel version accepts any host tag (they all derive from cpu_t).                     */
template <class P>
concept Propagator = std::copy_constructible<P> && requires(const P& p, const transition& T, const tensor& cam) {
  { P::name } -> std::convertible_to<std::string_view>;
  typename P::config;
  { p.propagate(cpu, T, cam) } -> std::same_as<tensor>;
};

namespace detail {

/// Checks cam against T (shape, finiteness) and returns its channel count.
inline index_t check_cam(const transition& T, const tensor& cam, std::string_view component) {
  if (cam.rank() != 2 && cam.rank() != 3)
    throw_shape(component, "CAMs must be C x H x W or C x n, got ", cam.shape());
  if (cam.rank() == 3 && (cam.dim(1) != T.height || cam.dim(2) != T.width))
    throw_shape(component, "CAMs are ", cam.dim(1), "x", cam.dim(2), " but the affinity graph is ", T.height, "x",
                T.width);
  if (cam.rank() == 2 && cam.dim(1) != T.nodes())
    throw_shape(component, "CAMs hold ", cam.dim(1), " positions but the affinity graph has ", T.nodes(), " nodes");
  expect_finite(cam, component, "CAMs");
  return cam.dim(0);
}

}  // namespace detail
}  // namespace wsss::walk
