// SPDX-License-Identifier: MIT
// wsss/crf/mean_field_op.hpp — mean field as one autodiff op: gradients w.r.t. the unaries,
// the compatibility mu and the kernel weights through all T iterations (CRF-RNN, Zheng et al.
// 2015, §4; attention paper §5)
#pragma once

#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/backend/tags.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/detail/mean_field.hpp"
#include "wsss/crf/image_plan.hpp"
#include "wsss/crf/permutohedral.hpp"

namespace wsss::crf {

/// y = Q_T (N x K x H x W) from x0 = U (N x K x H x W energies), x1 = mu (K x K, learned
/// compatibility: a = -U - mu m) and x2 = w (2: smoothness, appearance), on a plan prepared
/// for x0's shape (its lattices and clamp maps; it must outlive backward). Backward, per
/// iteration t = T..1 (Q_t = softmax(a_t), a_t = -U - mu m_t, m_t = Σ_k w_k F_k Q_{t-1}):
///   g_a = Q_t ⊙ (g_Q - <Q_t, g_Q>),  g_U -= g_a,  g_mu -= Σ_p g_a m_t^T,  g_m = -mu^T g_a,
///   r_k = F_k^T g_m,  g_w_k += <r_k, Q_{t-1}>,  g_{Q_{t-1}} = Σ_k w_k r_k;
/// and finally Q_0 = softmax(-U). Clamped pixels pass no gradient. The filters are linear in
/// Q; their normalisers depend only on the image, which receives no gradient (as CRF-RNN).
/// Runs on omp_t (a tape carries no exec).
template <GaussianFilter Filter = permutohedral>
struct mean_field_op {
  static constexpr std::string_view name = "crf::mean_field_op";
  mean_field_plan<Filter>* plan = nullptr;
  int iterations = 10;

  struct saved {
    std::vector<tensor> q;  // per image: (T + 1) x N x ld
    std::vector<tensor> m;  // per image: T x N x ld
  };

  tensor forward(saved& s, const tensor& u, const tensor& mu, const tensor& w) const {
    if (!plan) throw_value(name, "no plan given");
    detail::check_unary(name, *plan, u);
    const index_t b = plan->dims[0], k = plan->dims[1], n = plan->dims[2] * plan->dims[3], ld = detail::padded(k);
    expect_shape(mu, {k, k}, name, "compatibility mu");
    expect_shape(w, {2}, name, "kernel weights");
    detail::check_finite(mu, name, "compatibility mu");
    detail::check_finite(w, name, "kernel weights");
    require(iterations >= 0, name, "iterations must be >= 0, got ", iterations);
    s.q.resize(static_cast<std::size_t>(b));
    s.m.resize(static_cast<std::size_t>(b));
    tensor y;
    detail::solve(wsss::omp, name, *plan, learned(mu), iterations, w[0], w[1], u, y, [&](index_t i, int t) {
      tensor& qs = s.q[static_cast<std::size_t>(i)];
      tensor& ms = s.m[static_cast<std::size_t>(i)];
      if (t == 0) {
        qs = tensor::uninitialized({(iterations + 1) * n * ld});
        ms = tensor::uninitialized({std::max(iterations, 1) * n * ld});
      } else {
        std::copy(plan->msg.data(), plan->msg.data() + n * ld, ms.data() + (t - 1) * n * ld);
      }
      std::copy(plan->q.data(), plan->q.data() + n * ld, qs.data() + t * n * ld);
    });
    return y;
  }

  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const tensor& mu = *xs[1];
    const tensor& w = *xs[2];
    tensor* gu = gxs[0];
    tensor* gmu = gxs[1];
    tensor* gw = gxs[2];
    const index_t b = plan->dims[0], k = plan->dims[1], n = plan->dims[2] * plan->dims[3], ld = detail::padded(k);
    tensor gq({n * ld}), ga({n * ld}), gm({n * ld}), rs({n * ld}), ra({n * ld});
    for (index_t i = 0; i < b; ++i) {
      image_plan<Filter>& pl = plan->images[static_cast<std::size_t>(i)];
      const std::uint8_t* clamp = plan->clamp(i);
      const float* qs = s.q[static_cast<std::size_t>(i)].data();
      const float* ms = s.m[static_cast<std::size_t>(i)].data();
      detail::interleave(wsss::omp, gy.data() + i * k * n, gq.data(), k, n, ld, 1.0f);
      for (int t = iterations; t >= 0; --t) {
        softmax_backward(qs + t * n * ld, gq.data(), ga.data(), clamp, k, n, ld);
        if (gu) {
          float* g = gu->data() + i * k * n;
          for (index_t c = 0; c < k; ++c)
            for (index_t p = 0; p < n; ++p) g[c * n + p] -= ga[p * ld + c];  // dU/da = -1
        }
        if (t == 0) break;
        const float* mt = ms + (t - 1) * n * ld;
        if (gmu)
          for (index_t l = 0; l < k; ++l)
            for (index_t j = 0; j < k; ++j) {
              double acc = 0;
              for (index_t p = 0; p < n; ++p) acc += static_cast<double>(ga[p * ld + l]) * mt[p * ld + j];
              (*gmu)[l * k + j] -= static_cast<float>(acc);
            }
        std::fill(gm.begin(), gm.end(), 0.0f);
        for (index_t p = 0; p < n; ++p)
          for (index_t l = 0; l < k; ++l) {
            const float g = ga[p * ld + l];
            if (g == 0.0f) continue;
            for (index_t j = 0; j < k; ++j) gm[p * ld + j] -= mu[l * k + j] * g;
          }
        std::fill(rs.begin(), rs.end(), 0.0f);
        std::fill(ra.begin(), ra.end(), 0.0f);
        pl.smoothness.apply_add(gm.data(), rs.data(), ld, 1.0f, true);
        pl.appearance.apply_add(gm.data(), ra.data(), ld, 1.0f, true);
        const float* qprev = qs + (t - 1) * n * ld;
        if (gw) {
          double ds = 0, da = 0;
          for (index_t e = 0; e < n * ld; ++e) {
            ds += static_cast<double>(rs[e]) * qprev[e];
            da += static_cast<double>(ra[e]) * qprev[e];
          }
          (*gw)[0] += static_cast<float>(ds);
          (*gw)[1] += static_cast<float>(da);
        }
        for (index_t e = 0; e < n * ld; ++e) gq[e] = w[0] * rs[e] + w[1] * ra[e];
      }
    }
  }

 private:
  /// g_a = Q ⊙ (g_Q - <Q, g_Q>) per pixel; zero at clamped pixels.
  static void softmax_backward(const float* q, const float* gq, float* ga, const std::uint8_t* clamp, index_t k,
                               index_t n, index_t ld) {
    for (index_t p = 0; p < n; ++p) {
      const float* qp = q + p * ld;
      const float* gp = gq + p * ld;
      float* o = ga + p * ld;
      std::fill(o, o + ld, 0.0f);
      if (clamp && clamp[p] != ignore_label) continue;
      double dotp = 0;
      for (index_t c = 0; c < k; ++c) dotp += static_cast<double>(qp[c]) * gp[c];
      for (index_t c = 0; c < k; ++c) o[c] = qp[c] * static_cast<float>(gp[c] - dotp);
    }
  }
};

static_assert(ad::Op<mean_field_op<permutohedral>>);

}  // namespace wsss::crf
