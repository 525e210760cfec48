// SPDX-License-Identifier: MIT
// wsss/crf/sequential.hpp — sequential (pixel-by-pixel) mean field with the exact filter: the
// coordinate-descent form whose energy provably never increases (Krähenbühl & Koltun 2011, §3)
#pragma once

#include <cmath>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/exact_filter.hpp"
#include "wsss/crf/mean_field.hpp"

namespace wsss::crf {

struct sequential_result {
  tensor q;                    ///< K x H x W marginals after the last sweep
  std::vector<double> energy;  ///< E(Q0), then E after every pixel update (sweeps·N + 1 values)
};

/// Free energy without the self term: E(Q) = Σ_p <Q_p, U_p> + Σ_p <Q_p, log Q_p>
/// + ½ Σ_p Σ_{j != p} <Q_p, mu m_pj>, m_pj = Σ_k w_k F_k(p, j) Q_j. Q is K x N.
template <Compatibility Compat = potts>
double sequential_energy(const image_plan<exact_filter>& plan, const tensor& u, const tensor& q, float ws, float wa,
                         const Compat& compat = {}) {
  const index_t k = u.dim(-3), n = plan.pixels();
  const tensor mu = compat.matrix(k);
  double e = 0;
  std::vector<double> m(static_cast<std::size_t>(k));
  for (index_t p = 0; p < n; ++p) {
    std::fill(m.begin(), m.end(), 0.0);
    for (index_t j = 0; j < n; ++j) {
      if (j == p) continue;
      const double w = ws * plan.smoothness.weight(p, j) + wa * plan.appearance.weight(p, j);
      for (index_t l = 0; l < k; ++l) m[static_cast<std::size_t>(l)] += w * q[l * n + j];
    }
    for (index_t l = 0; l < k; ++l) {
      double pair = 0;
      for (index_t j = 0; j < k; ++j) pair += static_cast<double>(mu[l * k + j]) * m[static_cast<std::size_t>(j)];
      const double ql = q[l * n + p];
      e += ql * (static_cast<double>(u[l * n + p]) + 0.5 * pair + (ql > 0 ? std::log(ql) : 0.0));
    }
  }
  return e;
}

/// Sweeps pixels in raster order, each set to Q_p = softmax(-U_p - mu m_p) with m_p from all
/// other pixels' current Q (the self term excluded). Needs a symmetric filter (normalisation
/// symmetric or none) and a symmetric mu, under which every update is the exact minimiser of
/// E over Q_p, so E never increases. unary: K x H x W (or 1 x K x H x W) energies.
template <Compatibility Compat = potts>
sequential_result mean_field_sequential(const image_plan<exact_filter>& plan, const tensor& unary, float ws, float wa,
                                        int sweeps, const Compat& compat = {}) {
  constexpr std::string_view component = "crf::mean_field_sequential";
  if (unary.rank() != 3 && !(unary.rank() == 4 && unary.dim(0) == 1))
    throw_shape(component, "unary must be K x H x W, got ", unary.shape());
  const index_t k = unary.dim(-3), n = plan.pixels();
  if (k < 1) throw_value(component, "unary has zero labels");
  if (unary.dim(-2) != plan.height || unary.dim(-1) != plan.width)
    throw_shape(component, "image is ", plan.height, "x", plan.width, " but the unary is ", unary.dim(-2), "x", unary.dim(-1));
  detail::check_finite(unary, component, "unary");
  for (auto nm : {plan.smoothness.norm(), plan.appearance.norm()})
    if (nm != normalization::symmetric && nm != normalization::none)
      throw_value(component, "needs a symmetric filter (normalisation symmetric or none), got ", to_string(nm));
  const tensor mu = compat.matrix(k);
  for (index_t i = 0; i < k; ++i)
    for (index_t j = 0; j < k; ++j)
      if (mu[i * k + j] != mu[j * k + i]) throw_value(component, "needs a symmetric compatibility matrix");

  sequential_result r;
  r.q = tensor({k, plan.height, plan.width});
  std::vector<float> a(static_cast<std::size_t>(k)), qp(static_cast<std::size_t>(k));
  std::vector<double> m(static_cast<std::size_t>(k));
  for (index_t p = 0; p < n; ++p) {
    for (index_t l = 0; l < k; ++l) a[static_cast<std::size_t>(l)] = -unary[l * n + p];
    detail::softmax_row(a.data(), qp.data(), k);
    for (index_t l = 0; l < k; ++l) r.q[l * n + p] = qp[static_cast<std::size_t>(l)];
  }
  r.energy.push_back(sequential_energy(plan, unary, r.q, ws, wa, compat));
  for (int s = 0; s < sweeps; ++s)
    for (index_t p = 0; p < n; ++p) {
      std::fill(m.begin(), m.end(), 0.0);
      for (index_t j = 0; j < n; ++j) {
        if (j == p) continue;
        const double w = ws * plan.smoothness.weight(p, j) + wa * plan.appearance.weight(p, j);
        for (index_t l = 0; l < k; ++l) m[static_cast<std::size_t>(l)] += w * r.q[l * n + j];
      }
      for (index_t l = 0; l < k; ++l) {
        double pair = 0;
        for (index_t j = 0; j < k; ++j) pair += static_cast<double>(mu[l * k + j]) * m[static_cast<std::size_t>(j)];
        a[static_cast<std::size_t>(l)] = static_cast<float>(-static_cast<double>(unary[l * n + p]) - pair);
      }
      detail::softmax_row(a.data(), qp.data(), k);
      for (index_t l = 0; l < k; ++l) r.q[l * n + p] = qp[static_cast<std::size_t>(l)];
      r.energy.push_back(sequential_energy(plan, unary, r.q, ws, wa, compat));
    }
  return r;
}

}  // namespace wsss::crf
