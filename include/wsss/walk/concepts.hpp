// SPDX-License-Identifier: MIT
// wsss/walk/concepts.hpp — the Propagator concept: vec(M_c*) = T^t vec(M_c) (AffinityNet, eq. 12)
#pragma once

#include <concepts>
#include <string_view>
#include <utility>

#include "wsss/backend/tags.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/walk/transition.hpp"

namespace wsss::walk {

/*  Propagator contract (a wsss::Policy)
    A propagator applies t steps of a random walk to every channel of a score map:
      static constexpr std::string_view name;         // "walk::sparse_power"
      struct config { index_t t = 256; ... };  config cfg;   // t: the walk steps of eq. 12
      struct plan { ... };                            // the walk's buffers, sized for s
      plan prepare(const exec<Tag>&, const batch&, const shape& s) const;
      void run(const exec<Tag>&, plan&, const transition& T, const tensor& cam, tensor& out) const;
    s is the CAMs' shape, C x H x W or C x n. cam has that shape (H x W = T's grid, n =
    T.nodes()), every channel including the background; out is ASSIGNED (resized to cam's
    shape when it differs, its storage reused otherwise) with out[c] = S^t cam[c], S being
    T's step operator (P = D^-1 A or Q = A D^-1, see transition.hpp); out must not be cam.
    Models agree with each other to 1e-4 in max-norm on scores in [0, 1] (dense_power is the
    oracle). Guarantees: cam is not modified; all-zero channels stay exactly zero; a cam whose
    shape differs from the plan's or T's is a shape_error, a non-finite score a value_error;
    a config out of range (t < 0, a t dense_power cannot do) is a value_error at construction.
    Kernels launch on ex.tag (cpu, omp, thrust_omp: the same bits); the buffers are host
    memory, so host backends only (supports<P, Tag>). A model bound to a device backend
    (backend_type, e.g. device_sparse_power<cuda_t>) takes an exec of that backend.       */
template <class P>
concept Propagator = Policy<P> && std::copy_constructible<P> &&
                     requires(const P& p, typename P::plan& pl, const exec<backend_of_t<P>>& ex, const batch& b, const shape& s,
                              const transition& T, const tensor& cam, tensor& out) {
                       { p.prepare(ex, b, s) } -> std::same_as<typename P::plan>;
                       p.run(ex, pl, T, cam, out);
                     };

/// One call: prepare for cam's shape and run, on a default exec unless one is given. Keep the
/// plan (prepare once, run per image) when many maps of one shape are walked.
template <Propagator P, backend::Backend Tag = omp_t>
tensor propagate(const P& p, const transition& T, const tensor& cam, const exec<Tag>& ex = {}) {
  typename P::plan pl = p.prepare(ex, batch{}, cam.shape());
  tensor out;
  p.run(ex, pl, T, cam, out);
  return out;
}

namespace detail {

/// Channels and positions (C, n) of a CAM shape C x H x W or C x n.
inline std::pair<index_t, index_t> cam_extent(const shape& s, std::string_view component) {
  if (s.rank() != 2 && s.rank() != 3) throw_shape(component, "CAMs must be C x H x W or C x n, got ", s);
  return {s.dim(0), s.numel() / (s.dim(0) ? s.dim(0) : 1)};
}

/// Checks cam against the plan's shape and T (shape, finiteness) and out against aliasing;
/// returns the channel count.
inline index_t check_cam(const shape& planned, index_t height, index_t width, const tensor& cam, const tensor& out,
                         std::string_view component) {
  if (cam.rank() != 2 && cam.rank() != 3)
    throw_shape(component, "CAMs must be C x H x W or C x n, got ", cam.shape());
  if (cam.rank() == 3 && (cam.dim(1) != height || cam.dim(2) != width))
    throw_shape(component, "CAMs are ", cam.dim(1), "x", cam.dim(2), " but the affinity graph is ", height, "x", width);
  if (cam.rank() == 2 && cam.dim(1) != height * width)
    throw_shape(component, "CAMs hold ", cam.dim(1), " positions but the affinity graph has ", height * width, " nodes");
  if (cam.shape() != planned)
    throw_shape(component, "CAMs are ", cam.shape(), " but the plan was prepared for ", planned);
  if (&out == &cam) throw_value(component, "out must not be cam (the walk reads cam while it writes out)");
  expect_finite(cam, component, "CAMs");
  return cam.dim(0);
}
inline index_t check_cam(const shape& planned, const transition& T, const tensor& cam, const tensor& out,
                         std::string_view component) {
  return check_cam(planned, T.height, T.width, cam, out, component);
}

}  // namespace detail
}  // namespace wsss::walk
