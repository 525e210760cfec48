// SPDX-License-Identifier: MIT
// wsss/walk/chebyshev.hpp — T^t v by a truncated Chebyshev expansion of x^t, with an error bound (AffinityNet, eq. 12)
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/detail/spmm.hpp"

namespace wsss::walk {

/// Chebyshev coefficients c_0..c_t of x^t on [a, 1] in the variable u = (2x - 1 - a) / (1 - a):
/// x^t = sum_k c_k T_k(u) exactly (x^t is a polynomial of degree t). For t <= 4096 they come
/// from interpolation at the t + 1 Chebyshev-Lobatto points (exact for degree t); above that
/// the closed form on [-1, 1], c_k = 2^(1-t) binom(t, (t-k)/2) (k = t mod 2), is used and
/// `a` is taken as -1.
inline std::vector<double> chebyshev_power_coefficients(index_t t, double a) {
  if (t < 0) throw_value("walk::chebyshev_power_coefficients", "t must be >= 0, got ", t);
  std::vector<double> c(static_cast<std::size_t>(t + 1), 0.0);
  if (t == 0) {
    c[0] = 1.0;
    return c;
  }
  if (t > 4096 || a <= -1.0) {
    for (index_t k = t % 2; k <= t; k += 2) {
      const double lc = (1.0 - static_cast<double>(t)) * std::numbers::ln2 + std::lgamma(t + 1.0) -
                        std::lgamma((t - k) / 2 + 1.0) - std::lgamma((t + k) / 2 + 1.0);
      c[static_cast<std::size_t>(k)] = std::exp(lc) * (k == 0 ? 0.5 : 1.0);
    }
    return c;
  }
  const index_t n = t;
  std::vector<double> f(static_cast<std::size_t>(n + 1)), cosines(static_cast<std::size_t>(2 * n));
  for (index_t m = 0; m < 2 * n; ++m) cosines[static_cast<std::size_t>(m)] = std::cos(std::numbers::pi * m / n);
  for (index_t m = 0; m <= n; ++m) {
    const double x = 0.5 * (1.0 - a) * cosines[static_cast<std::size_t>(m)] + 0.5 * (1.0 + a);
    f[static_cast<std::size_t>(m)] = std::pow(x, static_cast<double>(t)) * ((m == 0 || m == n) ? 0.5 : 1.0);
  }
  for (index_t k = 0; k <= n; ++k) {
    double s = 0;
    for (index_t m = 0; m <= n; ++m) s += f[static_cast<std::size_t>(m)] * cosines[static_cast<std::size_t>((k * m) % (2 * n))];
    c[static_cast<std::size_t>(k)] = s * 2.0 / static_cast<double>(n) * ((k == 0 || k == n) ? 0.5 : 1.0);
  }
  return c;
}

/// vec(M_c*) ~= p_K(S) vec(M_c), p_K the degree-K truncation of x^t's Chebyshev expansion on
/// an interval [a, 1] holding S's spectrum (Gershgorin: a = min(0, 2 / max_i d_i - 1), the
/// unit diagonal of eq. 11 keeps S away from -1). K is the least degree whose a-priori bound
///   max-norm error <= tau(K) * sqrt(sum_i d_i v_i^2 / min_i d_i)       (average)
///   max-norm error <= tau(K) * sqrt(max_i d_i * sum_i v_i^2 / d_i)     (diffuse)
/// with tau(K) = sum_{k>K} |c_k| is <= tol for every channel (derivation in docs/walk.md).
/// Cost K sparse products instead of t: about sqrt(t log(1/tol)) (K ~ 60-100 for t = 256).
struct chebyshev {
  static constexpr std::string_view name = "walk::chebyshev";
  struct config {
    index_t t = 256;    ///< walk steps the expansion stands for
    double tol = 1e-5;  ///< bound on max_i |out_ci - (S^t v_c)_i| (exact arithmetic)
    index_t keep_mass = 4;  ///< restore y_k's conserved mass every this many steps (0: never)
  };
  /// Three n x ld buffers (y_k in packed.x, y_{k-1}, the sum) and what the last run chose.
  struct plan : detail::sparse_plan_base {
    tensor yprev, sum;
    index_t degree = 0;  ///< K of the last run, the number of sparse products done
    double bound = 0;    ///< its guaranteed max-norm error (before float rounding)
    std::size_t bytes() const noexcept {
      return packed.bytes() + static_cast<std::size_t>(yprev.numel() + sum.numel()) * sizeof(float);
    }
  };
  config cfg{};

  chebyshev() = default;
  explicit chebyshev(config c) : cfg(c) { check(cfg); }

  /// s: the CAMs' C x H x W or C x n.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    check(cfg);
    plan pl;
    pl.sparse_plan_base::prepare(s, name);
    pl.yprev = tensor::uninitialized({pl.packed.x.numel()});
    pl.sum = tensor::uninitialized({pl.packed.x.numel()});
    return pl;
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const transition& T, const tensor& cam, tensor& out) const {
    require_backend<chebyshev, Tag>();
    pl.degree = 0;
    pl.bound = 0.0;
    if (!detail::begin_walk(pl.cam_shape, T, cam, cfg.t, out, pl.packed, name)) return;
    const detail::packed_cams& p = pl.packed;
    const index_t n = T.nodes();

    const auto [dmin, dmax] = std::minmax_element(T.degree.begin(), T.degree.end());
    // The closed-form coefficients used above t = 4096 are those of [-1, 1]. a is capped at 0:
    // a widened interval stays valid, while a -> 1 (nearly edgeless graphs, S ~ I) would make
    // U = (2S - (1 + a) I) / (1 - a) amplify rounding without bound.
    const double a = cfg.t > 4096 ? -1.0 : std::clamp(2.0 / *dmax - 1.0 - 1e-6, -1.0, 0.0);
    const std::vector<double> c = chebyshev_power_coefficients(cfg.t, a);
    double norm = 0;  // the largest channel factor of the bound
    for (std::size_t k = 0; k < p.channels.size(); ++k) {
      double s = 0;
      for (index_t i = 0; i < n; ++i) {
        const double v = p.x[i * p.ld + static_cast<index_t>(k)], d = T.degree[static_cast<std::size_t>(i)];
        s += T.cfg.mode == orientation::average ? d * v * v : v * v / d;
      }
      norm = std::max(norm, std::sqrt(T.cfg.mode == orientation::average ? s / *dmin : s * *dmax));
    }
    std::vector<double> tail(c.size() + 1, 0.0);  // tail[k] = sum_{j >= k} |c_j|
    for (std::size_t k = c.size(); k-- > 0;) tail[k] = tail[k + 1] + std::abs(c[k]);
    index_t deg = 0;
    while (deg < cfg.t && tail[static_cast<std::size_t>(deg + 1)] * norm > cfg.tol) ++deg;

    // U = (2S - (1 + a) I) / (1 - a) maps the spectrum into [-1, 1].
    const float u_scale = static_cast<float>(2.0 / (1.0 - a)), u_shift = static_cast<float>((1.0 + a) / (1.0 - a));
    // l^T T_k(U) v = T_k(1) l^T v = l^T v: every y_k keeps the input's conserved mass.
    pl.keeper.reset(T, p);
    const index_t used = n * p.ld;
    float* sum = pl.sum.data();
    float* yk = pl.packed.x.data();
    float* yprev = pl.yprev.data();
    for (index_t i = 0; i < used; ++i) sum[i] = static_cast<float>(c[0]) * yk[i];
    std::fill(yprev, yprev + used, 0.0f);  // y_{-1} = 0
    for (index_t k = 1; k <= deg; ++k) {
      // y_1 = U y_0; y_k = 2 U y_{k-1} - y_{k-2}: the first step takes lead 1 and y_{-1} = 0.
      const float lead = k == 1 ? 0.5f : 1.0f;
      detail::for_each_block(p.ld, [&](auto b, index_t off) {
        detail::launch(ex.tag, T, p.ld, n,
                       detail::chebyshev_kernel<decltype(b)::value>{T.row_ptr.data(), T.col.data(), T.val.data(), yk,
                                                                    yprev, sum, lead * u_scale, lead * u_shift,
                                                                    static_cast<float>(c[static_cast<std::size_t>(k)]),
                                                                    p.ld, off});
      });
      std::swap(yk, yprev);
      // Both terms of the three-term recurrence are restored together: correcting y_k alone
      // would feed the difference back through the recurrence and grow geometrically.
      if (cfg.keep_mass > 0 && k % cfg.keep_mass == 0) {
        pl.keeper.restore(yk, p.ld);
        if (k > 1) pl.keeper.restore(yprev, p.ld);
      }
    }
    pl.degree = deg;
    pl.bound = tail[static_cast<std::size_t>(deg + 1)] * norm;
    detail::unpack(p, sum, cam, n, out);
  }

  /// The walked CAMs with the degree and bound the run chose (one call, default exec).
  struct result {
    tensor out;
    index_t degree = 0;
    double bound = 0;
  };
  template <backend::Backend Tag = omp_t>
  result propagate_with_bound(const transition& T, const tensor& cam, const exec<Tag>& ex = {}) const {
    plan pl = prepare(ex, batch{}, cam.shape());
    result r;
    run(ex, pl, T, cam, r.out);
    r.degree = pl.degree;
    r.bound = pl.bound;
    return r;
  }

 private:
  static void check(const config& c) {
    detail::check_steps(c.t, name);
    if (!(c.tol > 0)) throw_value(name, "tol must be > 0, got ", c.tol);
  }
};
static_assert(Propagator<chebyshev>);

}  // namespace wsss::walk
