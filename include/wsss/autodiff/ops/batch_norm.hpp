// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/batch_norm.hpp — batch normalisation over the channel axis (Ioffe &
// Szegedy 2015, Alg. 1 and 2), with PyTorch's running-statistics update
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <utility>
#include <vector>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/dist/group.hpp"

namespace wsss::ad {

namespace detail {

/// y = gamma[c] (x - mu[c]) / sqrt(var[c] + eps) + beta[c] for x of shape N x C x ...
/// With batch statistics, mu/var are the biased moments over N and the spatial axes and the
/// running buffers move by momentum (running = (1 - m) running + m stat, the variance
/// unbiased, as in PyTorch); otherwise the running buffers are read (eval or frozen BN).
/// sum of f(i) for i in [0, n), in float over blocks of 512 (so the loop vectorises) and in
/// double across blocks (so a million-pixel channel keeps float precision).
template <class F>
double blocked_sum(index_t n, F f) {
  constexpr index_t block = 512;
  double total = 0;
  for (index_t i0 = 0; i0 < n; i0 += block) {
    const index_t i1 = std::min(n, i0 + block);
    float part = 0.0f;
#pragma omp simd reduction(+ : part)
    for (index_t i = i0; i < i1; ++i) part += f(i);
    total += part;
  }
  return total;
}

struct batch_norm_op {
  static constexpr std::string_view name = "batch_norm";
  tensor* running_mean = nullptr;
  tensor* running_var = nullptr;
  bool use_batch_stats = true;
  float momentum = 0.1f;
  float eps = 1e-5f;
  const dist::group* group = nullptr;  ///< synchronised batch statistics over these ranks (tape::batch_group)
  struct saved {
    std::vector<float> mean, invstd;
    double count = 0;  ///< values per channel the statistics ran over (every rank's, synchronised)
  };

  tensor forward(saved& s, const tensor& x, const tensor& gamma, const tensor& beta) const {
    constexpr std::string_view comp = "ad::batch_norm";
    if (x.rank() < 2) throw_shape(comp, "x must be N x C x ..., got ", x.shape());
    const index_t n = x.dim(0), c = x.dim(1), inner = x.numel() / std::max<index_t>(n * c, 1);
    expect_shape(gamma, shape{c}, comp, "gamma");
    expect_shape(beta, shape{c}, comp, "beta");
    expect_shape(*running_mean, shape{c}, comp, "running_mean");
    expect_shape(*running_var, shape{c}, comp, "running_var");
    if (!(eps > 0.0f)) throw_value(comp, "eps must be > 0, got ", eps);
    const dist::group* sync = use_batch_stats && group && group->size() > 1 ? group : nullptr;
    // Synchronised: the moments over every rank's shard, in two exchanges (the sums with the
    // count, then the centred squares about the global mean, as the one-process path does).
    std::vector<double> sums, squares;
    double count = static_cast<double>(n * inner);
    if (sync) {
      sums.assign(static_cast<std::size_t>(c) + 1, 0.0);
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
      for (index_t k = 0; k < c; ++k) sums[static_cast<std::size_t>(k)] = channel_sum(x, k);
      sums.back() = count;
      sync->sum(std::span<double>(sums));
      count = sums.back();
    }
    if (use_batch_stats && count < 2)
      throw_value(comp, "batch statistics need more than one value per channel, got input ", x.shape());
    if (sync) {
      squares.assign(static_cast<std::size_t>(c), 0.0);
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
      for (index_t k = 0; k < c; ++k)
        squares[static_cast<std::size_t>(k)] =
            centred_squares(x, k, static_cast<float>(sums[static_cast<std::size_t>(k)] / count));
      sync->sum(std::span<double>(squares));
    }
    s.count = count;
    s.mean.assign(static_cast<std::size_t>(c), 0.0f);
    s.invstd.assign(static_cast<std::size_t>(c), 0.0f);
    tensor y = tensor::uninitialized(x.shape());
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t k = 0; k < c; ++k) {
      const auto u = static_cast<std::size_t>(k);
      float mu, var;
      if (use_batch_stats) {
        const double md = (sync ? sums[u] : channel_sum(x, k)) / count;
        const double s2 = sync ? squares[u] : centred_squares(x, k, static_cast<float>(md));
        mu = static_cast<float>(md);
        var = static_cast<float>(s2 / count);
        (*running_mean)[k] = (1.0f - momentum) * (*running_mean)[k] + momentum * mu;
        (*running_var)[k] = (1.0f - momentum) * (*running_var)[k] + momentum * static_cast<float>(s2 / (count - 1));
      } else {
        mu = (*running_mean)[k];
        var = (*running_var)[k];
      }
      const float is = 1.0f / std::sqrt(var + eps);
      s.mean[u] = mu;
      s.invstd[u] = is;
      const float a = gamma[k] * is, b0 = beta[k] - mu * a;
      for (index_t b = 0; b < n; ++b) {
        const float* in = x.data() + (b * c + k) * inner;
        float* out = y.data() + (b * c + k) * inner;
#pragma omp simd
        for (index_t i = 0; i < inner; ++i) out[i] = a * in[i] + b0;
      }
    }
    return y;
  }

  // With batch statistics (Ioffe & Szegedy, sec. 3):
  //   dx = gamma invstd (gy - mean(gy) - xhat mean(gy xhat));  otherwise dx = gamma invstd gy.
  //   dgamma = sum gy xhat, dbeta = sum gy.
  // Synchronised, the means run over every rank's shard (one exchange of both sums); dgamma and
  // dbeta stay this rank's sums, as every parameter's gradient does until the trainer sums them.
  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx, std::span<const grad_slot> mode) const {
    const tensor& x = *xs[0];
    const tensor& gamma = *xs[1];
    const index_t n = x.dim(0), c = x.dim(1), inner = x.numel() / std::max<index_t>(n * c, 1);
    const float inv_m = 1.0f / static_cast<float>(s.count);
    const grad_slot m0 = mode_of(mode, 0), m1 = mode_of(mode, 1), m2 = mode_of(mode, 2);
    const dist::group* sync = use_batch_stats && group && group->size() > 1 && gx[0] ? group : nullptr;
    // sums[2k], sums[2k+1]: sum gy and sum gy xhat of channel k over every rank (sync only).
    std::vector<double> sums;
    if (sync) {
      sums.assign(2 * static_cast<std::size_t>(c), 0.0);
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
      for (index_t k = 0; k < c; ++k) {
        const auto [sg, sgx] = grad_sums(s, x, gy, k);
        sums[2 * static_cast<std::size_t>(k)] = sg;
        sums[2 * static_cast<std::size_t>(k) + 1] = sgx;
      }
      sync->sum(std::span<double>(sums));
    }
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t k = 0; k < c; ++k) {
      const auto u = static_cast<std::size_t>(k);
      const float mu = s.mean[u], is = s.invstd[u];
      const auto [sg, sgx] = grad_sums(s, x, gy, k);
      if (gx[1]) (*gx[1])[k] = (m1 == grad_slot::overwrite ? 0.0f : (*gx[1])[k]) + static_cast<float>(sgx);
      if (gx[2]) (*gx[2])[k] = (m2 == grad_slot::overwrite ? 0.0f : (*gx[2])[k]) + static_cast<float>(sg);
      if (!gx[0]) continue;
      const double all_sg = sync ? sums[2 * u] : sg, all_sgx = sync ? sums[2 * u + 1] : sgx;
      // dx = a g + b1 x + b0 with a = gamma invstd, b1 = -a invstd mean(g xhat),
      // b0 = -a (mean(g) - mu invstd mean(g xhat)).
      const float a = gamma[k] * is;
      const float mg = use_batch_stats ? static_cast<float>(all_sg) * inv_m : 0.0f;
      const float mgx = use_batch_stats ? static_cast<float>(all_sgx) * inv_m : 0.0f;
      const float b1 = -a * is * mgx, b0 = -a * (mg - mu * is * mgx);
      const float* px = x.data();
      const float* pg = gy.data();
      float* pd = gx[0]->data();
      by_mode(m0, [=](auto ow) {  // by value, restrict pointers: see binary_op::forward
        for (index_t b = 0; b < n; ++b) {
          const float* __restrict in = px + (b * c + k) * inner;
          const float* __restrict g = pg + (b * c + k) * inner;
          float* __restrict d = pd + (b * c + k) * inner;
#pragma omp simd
          for (index_t i = 0; i < inner; ++i) put<decltype(ow)::value>(d[i], a * g[i] + b1 * in[i] + b0);
        }
      });
    }
  }

 private:
  static index_t inner_of(const tensor& x) { return x.numel() / std::max<index_t>(x.dim(0) * x.dim(1), 1); }
  /// Sum of channel k of x over the batch and the spatial axes.
  static double channel_sum(const tensor& x, index_t k) {
    const index_t n = x.dim(0), c = x.dim(1), inner = inner_of(x);
    double s1 = 0;
    for (index_t b = 0; b < n; ++b) {
      const float* in = x.data() + (b * c + k) * inner;
      s1 += blocked_sum(inner, [in](index_t i) { return in[i]; });
    }
    return s1;
  }
  /// Sum of (x - mf)^2 over channel k.
  static double centred_squares(const tensor& x, index_t k, float mf) {
    const index_t n = x.dim(0), c = x.dim(1), inner = inner_of(x);
    double s2 = 0;
    for (index_t b = 0; b < n; ++b) {
      const float* in = x.data() + (b * c + k) * inner;
      s2 += blocked_sum(inner, [in, mf](index_t i) { return (in[i] - mf) * (in[i] - mf); });
    }
    return s2;
  }
  /// This rank's sum gy and sum gy xhat over channel k.
  static std::pair<double, double> grad_sums(const saved& s, const tensor& x, const tensor& gy, index_t k) {
    const index_t n = x.dim(0), c = x.dim(1), inner = inner_of(x);
    const float mu = s.mean[static_cast<std::size_t>(k)];
    double sg = 0, sgx = 0;
    for (index_t b = 0; b < n; ++b) {
      const float* in = x.data() + (b * c + k) * inner;
      const float* g = gy.data() + (b * c + k) * inner;
      sg += blocked_sum(inner, [g](index_t i) { return g[i]; });
      sgx += blocked_sum(inner, [g, in, mu](index_t i) { return g[i] * (in[i] - mu); });
    }
    return {sg, sgx * s.invstd[static_cast<std::size_t>(k)]};
  }
};
static_assert(OverwritingOp<batch_norm_op>);

}  // namespace detail

/// Batch norm of x (N x C x ...) with per-channel gamma, beta (C). use_batch_stats: normalise
/// by this batch's moments and update the running buffers (training); otherwise normalise
/// by the running buffers, which stay untouched (evaluation, frozen BN).
inline var batch_norm(var x, var gamma, var beta, tensor& running_mean, tensor& running_var, bool use_batch_stats,
                      float momentum, float eps) {
  tape& t = detail::tape_of(x, gamma, "ad::batch_norm");
  detail::tape_of(x, beta, "ad::batch_norm");
  return apply(t, detail::batch_norm_op{&running_mean, &running_var, use_batch_stats, momentum, eps, t.batch_group()}, x,
               gamma, beta);
}

}  // namespace wsss::ad
