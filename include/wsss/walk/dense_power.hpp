// SPDX-License-Identifier: MIT
// wsss/walk/dense_power.hpp — dense T^t by log2(t) squarings, as the paper and code do (AffinityNet, eq. 11-12)
#pragma once

#include <Eigen/Core>
#include <string_view>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/view.hpp"
#include "wsss/walk/concepts.hpp"

namespace wsss::walk {

/// The faithful dense propagator and the oracle of the others: forms the n x n matrix
/// M = S^T (the public code's column-normalised T_ref in the default orientation), squares it
/// log2(t) times (Eigen GEMM) and multiplies: out = cam (C x n) . M^t, i.e.
/// vec(M_c*) = S^t vec(M_c) — log2(t) + 1 matrix products, O(n^3 log t) time, 2 n^2 floats.
/// t must be a power of two (eq. 12's remark). With restore (default) the columns (rows in the
/// diffuse orientation) of M are re-normalised to sum 1 after each squaring; restore = false
/// is the public code's arithmetic bit for bit in structure. Any host exec is accepted; Eigen's
/// GEMM uses OpenMP threads when built with it. The matrices live in the plan.
struct dense_power {
  static constexpr std::string_view name = "walk::dense_power";
  struct config {
    index_t t = 256;        ///< walk steps, a power of two
    bool restore = true;    ///< re-normalise M's stochastic side after each squaring
  };
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  /// The two n x n matrices the squarings alternate between.
  struct plan {
    shape cam_shape;
    matrix m, tmp;
    std::size_t bytes() const noexcept {
      return static_cast<std::size_t>(m.size() + tmp.size()) * sizeof(float);
    }
  };
  config cfg{};

  dense_power() = default;
  explicit dense_power(config c) : cfg(c) { check(cfg); }

  /// s: the CAMs' C x H x W or C x n; sizes the n x n matrices (2 n^2 floats).
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    check(cfg);
    const index_t n = detail::cam_extent(s, name).second;
    plan pl;
    pl.cam_shape = s;
    pl.m.resize(n, n);
    pl.tmp.resize(n, n);
    return pl;
  }

  template <class Tag>
  void run(const exec<Tag>&, plan& pl, const transition& T, const tensor& cam, tensor& out) const {
    require_backend<dense_power, Tag>();  // Eigen's GEMM: host memory, its own OpenMP threads
    const index_t c = detail::check_cam(pl.cam_shape, T, cam, out, name);
    const index_t n = T.nodes();
    matrix& m = pl.m;
    m.setZero(n, n);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = T.row_ptr[static_cast<std::size_t>(i)]; k < T.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
        m(T.col[static_cast<std::size_t>(k)], i) = T.val[static_cast<std::size_t>(k)];
    for (index_t t = cfg.t; t > 1; t /= 2) {
      pl.tmp.noalias() = m * m;
      m.swap(pl.tmp);
      // Squaring doubles a stochastic matrix's rounding drift (2^s * 1e-7 after s squarings);
      // re-normalising the side that sums to 1 is a no-op in exact arithmetic.
      if (cfg.restore && T.cfg.mode == orientation::average) m.array().rowwise() /= m.colwise().sum().array();
      if (cfg.restore && T.cfg.mode == orientation::diffuse) m.array().colwise() /= m.rowwise().sum().array();
    }
    if (out.shape() != cam.shape()) out = tensor::uninitialized(cam.shape());
    as_matrix(out, c, n).noalias() = as_matrix(cam, c, n) * m;
  }

 private:
  static void check(const config& c) {
    if (c.t < 1 || (c.t & (c.t - 1)) != 0)
      throw_value(name, "t must be a power of two (log2 t squarings), got ", c.t);
  }
};
static_assert(Propagator<dense_power>);

}  // namespace wsss::walk
