// SPDX-License-Identifier: MIT
// wsss/walk/dense_power.hpp — dense T^t by log2(t) squarings, as the paper and code do (AffinityNet, eq. 11-12)
#pragma once

#include <Eigen/Core>
#include <string_view>

#include "wsss/core/error.hpp"
#include "wsss/core/view.hpp"
#include "wsss/walk/concepts.hpp"

namespace wsss::walk {

/// The faithful dense propagator and the oracle of the others: forms the n x n matrix
/// M = S^T (the public code's column-normalised T_ref in the default orientation), squares it
/// log2(t) times (Eigen GEMM) and multiplies: out = cam (C x n) . M^t, i.e.
/// vec(M_c*) = S^t vec(M_c) — log2(t) + 1 matrix products, O(n^3 log t) time, 2 n^2 floats.
/// t must be a power of two (eq. 12's remark). With restore (default) the columns (rows in the
/// diffuse orientation) of M are re-normalised to sum 1 after each squaring; restore = false
/// is the public code's arithmetic bit for bit in structure. The backend tag is accepted for the concept;
/// Eigen's GEMM uses OpenMP threads when built with it.
struct dense_power {
  static constexpr std::string_view name = "walk::dense_power";
  struct config {
    index_t t = 256;        ///< walk steps, a power of two
    bool restore = true;    ///< re-normalise M's stochastic side after each squaring
  };
  config cfg{};

  template <class Backend>
  tensor propagate(Backend, const transition& T, const tensor& cam) const {
    static_assert(supports<dense_power, Backend>::value, "walk::dense_power runs on host backends (Eigen GEMM)");
    const index_t c = detail::check_cam(T, cam, name);
    if (cfg.t < 1 || (cfg.t & (cfg.t - 1)) != 0)
      throw_value(name, "t must be a power of two (log2 t squarings), got ", cfg.t);
    const index_t n = T.nodes();
    using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    mat m = mat::Zero(n, n);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = T.row_ptr[static_cast<std::size_t>(i)]; k < T.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
        m(T.col[static_cast<std::size_t>(k)], i) = T.val[static_cast<std::size_t>(k)];
    mat tmp(n, n);
    for (index_t t = cfg.t; t > 1; t /= 2) {
      tmp.noalias() = m * m;
      m.swap(tmp);
      // Squaring doubles a stochastic matrix's rounding drift (2^s * 1e-7 after s squarings);
      // re-normalising the side that sums to 1 is a no-op in exact arithmetic.
      if (cfg.restore && T.cfg.mode == orientation::average) m.array().rowwise() /= m.colwise().sum().array();
      if (cfg.restore && T.cfg.mode == orientation::diffuse) m.array().colwise() /= m.rowwise().sum().array();
    }
    tensor out(cam.shape());
    as_matrix(out, c, n).noalias() = as_matrix(cam, c, n) * m;
    return out;
  }

  /// Peak bytes of the workspace: two n x n float matrices.
  static std::size_t workspace_bytes(index_t n, index_t) {
    return 2 * static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * sizeof(float);
  }
};
static_assert(Propagator<dense_power>);

}  // namespace wsss::walk
