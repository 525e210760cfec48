// SPDX-License-Identifier: MIT
// wsss/attention/top_down.hpp — top-down attention maps (attention paper sec. 4): from a class's
// output unit down to a chosen layer, one rectified-Gaussian QP (eq. 3) per layer with b = gamma
// (eq. 5, the parent-to-child transitions) + alpha (eq. 7) and D from eq. 8-9; eq. 4's maps
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "wsss/attention/concepts.hpp"
#include "wsss/attention/coordinate_ascent.hpp"
#include "wsss/attention/excitation.hpp"
#include "wsss/attention/qp.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/bilateral.hpp"

namespace wsss::attention {

/// D of eq. 8-9 over a layer's H x W positions. The paper's delta = w / sum w - 1 puts the -1 on
/// every pair (inhibition = 1, precision = 0); measured on our grids its maximiser is a single
/// neuron whatever b is (docs/attention.md), so the default reads the -1 as the diagonal's (the
/// random-walk Laplacian R - I, a smoothness prior) and adds the Gaussian's own unit precision:
/// D = sym(R) - inhibition * 1 1^T - precision * I with precision 2, whose solution smooths b over
/// the bilateral graph (p = (2I - sym R)^-1 b where no constraint is active).
struct lateral_config {
  double sigma_z = 10.0;    ///< eq. 8, image pixels
  double sigma_r = 30.0;    ///< eq. 8, histogram counts
  int bins = 8;             ///< HSV histogram bins per channel (the paper does not say)
  double inhibition = 0.0;  ///< c: 1 is eq. 9 read literally
  double precision = 2.0;   ///< s: 0 is eq. 9 read literally

  void validate(std::string_view who) const {
    if (!(sigma_z > 0) || !(sigma_r > 0) || bins <= 0)
      throw_value(who, "sigma_z, sigma_r and bins must be positive, got ", sigma_z, ", ", sigma_r, ", ", bins);
    if (!(inhibition >= 0) || !(precision >= 0) || !std::isfinite(inhibition) || !std::isfinite(precision))
      throw_value(who, "inhibition and precision must be finite and >= 0, got ", inhibition, " and ", precision);
  }
};

/// The image-dependent part of eq. 3 for a layer of H x W neurons (b left empty): neuron i's
/// centre z_i is its cell's position in image pixels, r_i the HSV histogram of its cell (the
/// image split into H x W cells: a position's own pixels, not its whole receptive field, which
/// at conv5 covers most of the image and would make every histogram alike);
/// R = w / rowsum(w) with w_ii = 1, and S = (R + R^T) / 2 since only D's symmetric part enters
/// p^T D p. Precomputed once per image and grid (every layer of the pass shares fc8's grid).
inline qp lateral_problem(const rgb_image& img, index_t height, index_t width, const lateral_config& c = {}) {
  constexpr std::string_view who = "attention::lateral_problem";
  c.validate(who);
  const double stride = 0.5 * (static_cast<double>(img.height()) / static_cast<double>(height) +
                               static_cast<double>(img.width()) / static_cast<double>(width));
  const graph::bilateral_full builder({.sigma_z = c.sigma_z, .sigma_r = c.sigma_r, .stride = stride, .bins = c.bins});
  auto pl = builder.prepare(exec<>{}, images_only(std::span<const rgb_image>(&img, 1)), shape{height, width});
  graph::csr_graph g;
  builder.run(exec<>{}, pl, tensor{}, g);
  const index_t n = height * width;
  Eigen::MatrixXd r = Eigen::MatrixXd::Identity(n, n);
  for (index_t i = 0; i < n; ++i)
    for (index_t k = g.row_ptr[static_cast<std::size_t>(i)]; k < g.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
      r(i, g.col[static_cast<std::size_t>(k)]) = g.weight[static_cast<std::size_t>(k)];
  r.array().colwise() /= r.rowwise().sum().array();
  qp q;
  q.lateral = 0.5 * (r + r.transpose());
  q.rank_one = c.inhibition;
  q.self = c.precision;
  return q;
}

/// What the top-down pass does between layers. Table 1's B4 (w/o neighbor) is neighbors =
/// false: p = b, the Markov chain of Zhang et al. with the feed-forward term; with feedforward
/// = false too it is their pure Markov chain (p = gamma).
struct top_down_config {
  std::string target = "pool4";  ///< the layer whose attention is returned (the paper: pool-4)
  bool neighbors = true;         ///< solve eq. 3 with D (false: p = max(b, 0))
  bool feedforward = true;       ///< alpha (eq. 7) in b
  bool every_layer = true;       ///< a QP at every layer on the way down (false: at the target only)
};

/// Totals over a pass's QPs, for logs and the benchmark.
struct pass_stats {
  long solves = 0;
  long iterations = 0;
  long unconverged = 0;
  double max_residual = 0;
};

/// The top-down pass (sec. 4) with a solver slot (AttentionSolver). A neuron of eq. 3 is a
/// spatial position: D is defined by positions and image regions only, so the QP runs on the
/// signal summed over channels, and its solution is split back over the channels in proportion
/// to b's channel terms (gamma's and alpha's), which the next layer's transitions need.
/// After each QP p is rescaled to sum 1: p^l(y) is a distribution over layer l's neurons, as
/// the Markov chain's is, so gamma and alpha keep equal weight at every layer.
template <AttentionSolver Solver = coordinate_ascent>
struct top_down {
  static constexpr std::string_view name = "attention::top_down";
  top_down_config cfg{};
  Solver solver{};

  /// p(a^target_i | y) summed over channels, K x H x W, one map per class of `classes` (each
  /// sums to 1, or is 0 when the class's output unit has no positive input). acts: the chain's
  /// forward activations (layer_chain::forward, one image); fcl_weight: the FCL's weights
  /// (classes x H*W over the top layer's maps); lateral: lateral_problem for the grid (unused
  /// without neighbors).
  tensor operator()(const layer_chain& ch, std::span<const tensor> acts, const tensor& fcl_weight, const qp& lateral,
                    std::span<const int> classes, pass_stats* stats = nullptr) const {
    const std::size_t levels = ch.layers.size();
    if (acts.size() != levels + 1) throw_shape(name, acts.size(), " activations for a chain of ", levels, " layers");
    const std::size_t target = target_level(ch);
    const tensor& top = acts.back();
    expect_rank(top, 4, name, "score maps", "1 x C x H x W");
    const index_t c_all = top.dim(1), hw = top.dim(2) * top.dim(3), k = static_cast<index_t>(classes.size());
    expect_shape(fcl_weight, shape{c_all, hw}, name, "FCL weight");
    // The FCL's output unit y -> class y's score map (eq. 6 with the rectified scores as the
    // children's activations: the scores are pre-ReLU).
    tensor p({k, c_all, top.dim(2), top.dim(3)});
    for (index_t j = 0; j < k; ++j) {
      const index_t y = classes[static_cast<std::size_t>(j)];
      if (y < 0 || y >= c_all) throw_value(name, "class ", y, " outside [0, ", c_all, ")");
      double z = 0;
      for (index_t i = 0; i < hw; ++i) z += std::max(fcl_weight[y * hw + i], 0.0f) * std::max(top[y * hw + i], 0.0f);
      if (z <= 0) continue;
      for (index_t i = 0; i < hw; ++i)
        p[(j * c_all + y) * hw + i] =
            static_cast<float>(std::max(fcl_weight[y * hw + i], 0.0f) * std::max(top[y * hw + i], 0.0f) / z);
    }
    pass_stats st;
    // The classes' QPs run in parallel, each thread on its own copy of the problem (whose b it
    // sets); the copies are made once per pass.
    const int threads = cfg.neighbors ? std::clamp(backend::max_threads(), 1, static_cast<int>(std::max<index_t>(k, 1))) : 1;
    std::vector<qp> work(static_cast<std::size_t>(threads), cfg.neighbors ? lateral : qp{});
    for (std::size_t l = levels;; --l) {  // p lives on acts[l]'s neurons
      if (cfg.every_layer || l == target) lateral_step(acts[l], work, p, st);
      if (l == target) break;
      p = transition(ch.layers[l - 1], acts[l - 1], p);
    }
    if (stats) {
      stats->solves += st.solves;
      stats->iterations += st.iterations;
      stats->unconverged += st.unconverged;
      stats->max_residual = std::max(stats->max_residual, st.max_residual);
    }
    return channel_sum(p);
  }

  /// acts' index of the target layer's output (0 when it is the chain's input).
  std::size_t target_level(const layer_chain& ch) const {
    for (std::size_t l = 0; l < ch.layers.size(); ++l)
      if (layer_name(ch.layers[l]) == cfg.target) return l + 1;
    if (cfg.target == ch.input) return 0;
    throw_value(name, "the chain has no layer '", cfg.target, "'");
  }

 private:
  /// One layer's QP for every class: b = gamma + alpha per position, p from the solver (warm
  /// start: the Markov chain's max(b, 0)), then split over channels as b is and rescaled to 1.
  void lateral_step(const tensor& a, std::vector<qp>& work, tensor& p, pass_stats& st) const {
    const index_t k = p.dim(0), c = p.dim(1), hw = p.dim(2) * p.dim(3);
    expect_shape(a, shape{1, c, p.dim(2), p.dim(3)}, name, "activations");
    tensor alpha({c, hw});
    if (cfg.feedforward) {
      double total = 0;
      for (index_t i = 0; i < a.numel(); ++i) total += std::max(a[i], 0.0f);
      if (total > 0)
        for (index_t i = 0; i < a.numel(); ++i) alpha[i] = static_cast<float>(std::max(a[i], 0.0f) / total);
    }
    if (cfg.neighbors && work.front().lateral.rows() != hw)
      throw_shape(name, "lateral problem of ", work.front().lateral.rows(), " neurons for a ", p.dim(2), "x", p.dim(3), " layer");
    std::vector<solve_report> reports(static_cast<std::size_t>(k));
    std::vector<char> solved(static_cast<std::size_t>(k), 0);
    std::exception_ptr error;
    std::mutex mu;
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast<int>(work.size())) if (work.size() > 1)
    for (index_t j = 0; j < k; ++j) {
      try {
        qp& q = work[static_cast<std::size_t>(backend::thread_num()) % work.size()];
        class_step(alpha, q, p.data() + j * c * hw, c, hw, reports[static_cast<std::size_t>(j)], solved[static_cast<std::size_t>(j)]);
      } catch (...) {
        const std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    for (index_t j = 0; j < k; ++j) {
      if (!solved[static_cast<std::size_t>(j)]) continue;
      const solve_report& r = reports[static_cast<std::size_t>(j)];
      st.solves += 1;
      st.iterations += r.iterations;
      st.unconverged += r.converged ? 0 : 1;
      st.max_residual = std::max(st.max_residual, r.residual);
    }
  }

  /// One class's QP: pj (c x hw) holds gamma on entry and p split over the channels on exit.
  void class_step(const tensor& alpha, qp& q, float* pj, index_t c, index_t hw, solve_report& report, char& solved) const {
    for (index_t i = 0; i < c * hw; ++i) pj[i] += alpha[i];  // b's channel terms
    q.b = Eigen::VectorXd::Zero(hw);
    for (index_t ch = 0; ch < c; ++ch)
      for (index_t i = 0; i < hw; ++i) q.b[i] += pj[ch * hw + i];
    Eigen::VectorXd sol = q.b.cwiseMax(0.0);
    if (cfg.neighbors && q.b.maxCoeff() > 0) {
      report = solver.solve(q, sol);
      solved = 1;
    }
    const double total = sol.sum();
    for (index_t i = 0; i < hw; ++i) {
      const double scale = q.b[i] > 0 && total > 0 ? sol[i] / (q.b[i] * total) : 0.0;
      for (index_t ch = 0; ch < c; ++ch) pj[ch * hw + i] = static_cast<float>(pj[ch * hw + i] * scale);
    }
  }

  static tensor channel_sum(const tensor& p) {
    const index_t k = p.dim(0), c = p.dim(1), hw = p.dim(2) * p.dim(3);
    tensor out({k, p.dim(2), p.dim(3)});
    for (index_t j = 0; j < k; ++j)
      for (index_t ch = 0; ch < c; ++ch)
        for (index_t i = 0; i < hw; ++i) out[j * hw + i] += p[(j * c + ch) * hw + i];
    return out;
  }
};

/// Eq. 4: the classes' target-layer maps (K x h x w) upscaled (bilinear) to height x width and
/// normalised over the classes at every pixel; a pixel no class attends to gets 1/K each.
inline tensor class_attention(const tensor& maps, index_t height, index_t width) {
  expect_rank(maps, 3, "attention::class_attention", "maps", "K x h x w");
  tensor up = maps.dim(1) == height && maps.dim(2) == width ? maps : resize_bilinear(maps, height, width);
  const index_t k = up.dim(0), n = height * width;
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    for (index_t j = 0; j < k; ++j) s += std::max(up[j * n + i], 0.0f);
    for (index_t j = 0; j < k; ++j)
      up[j * n + i] = s > 0 ? static_cast<float>(std::max(up[j * n + i], 0.0f) / s) : 1.0f / static_cast<float>(k);
  }
  return up;
}

}  // namespace wsss::attention
