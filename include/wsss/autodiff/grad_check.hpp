// SPDX-License-Identifier: MIT
// wsss/autodiff/grad_check.hpp — finite-difference gradient check (public API, like dlib's
// test_layer): every op, loss and differentiable policy is checked with this function.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "wsss/autodiff/tape.hpp"
#include "wsss/core/random.hpp"

namespace wsss::ad {

struct grad_check_options {
  double eps = 1e-2;            ///< central-difference step (float32 forward: keep it large)
  double rtol = 1e-2;           ///< relative tolerance on |analytic - numeric|
  double atol = 1e-3;           ///< absolute tolerance, for near-zero gradients
  index_t max_coords = 48;      ///< coordinates probed per input (random subset; all if fewer)
  std::uint64_t seed = 7;       ///< projection weights and coordinate choice
};

struct grad_check_result {
  bool ok = true;
  double max_abs_err = 0;
  double max_rel_err = 0;
  index_t checked = 0;
  std::string log;              ///< the worst mismatches, for CHECK_MESSAGE
};

/// Checks the gradient of f at `inputs`. f records ops on the tape from one var per input and
/// returns an output y. The scalar checked is L = sum(w * y), w fixed random weights, summed
/// in double; the analytic gradient comes from backward(y, w), the numeric one from central
/// differences (f re-run in no-grad mode). Pass tensor64-free float inputs of modest size.
inline grad_check_result grad_check(const std::function<var(tape&, std::span<const var>)>& f,
                                    const std::vector<tensor>& inputs, const grad_check_options& opt = {}) {
  grad_check_result r;
  rng g(opt.seed);
  std::vector<tensor> x = inputs;

  tape t;
  std::vector<var> vs;
  for (const tensor& xi : x) vs.push_back(t.leaf(xi, true));
  const var y = f(t, vs);
  tensor w(y.value().shape());
  fill_uniform(w, g, -1.0, 1.0);
  t.backward(y, w);

  auto loss = [&](const std::vector<tensor>& xin) {
    tape tt;
    no_grad ng(tt);
    std::vector<var> vv;
    for (const tensor& xi : xin) vv.push_back(tt.leaf(xi));
    const tensor& yy = f(tt, vv).value();
    if (yy.shape() != w.shape()) throw_shape("ad::grad_check", "output shape changed between runs");
    double s = 0;
    for (index_t k = 0; k < yy.numel(); ++k) s += static_cast<double>(w[k]) * yy[k];
    return s;
  };

  std::ostringstream log;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const tensor* ga = t.grad(vs[i]);
    const index_t n = x[i].numel();
    std::vector<index_t> coords(static_cast<std::size_t>(n));
    std::iota(coords.begin(), coords.end(), index_t{0});
    for (index_t k = n - 1; k > 0; --k) std::swap(coords[static_cast<std::size_t>(k)], coords[g.below(static_cast<std::uint64_t>(k + 1))]);
    coords.resize(static_cast<std::size_t>(std::min(n, opt.max_coords)));
    for (index_t k : coords) {
      const float orig = x[i][k];
      x[i][k] = static_cast<float>(orig + opt.eps);
      const double lp = loss(x);
      x[i][k] = static_cast<float>(orig - opt.eps);
      const double lm = loss(x);
      x[i][k] = orig;
      // Divide by the step actually taken in float, not the nominal eps.
      const double h = static_cast<double>(static_cast<float>(orig + opt.eps)) -
                       static_cast<double>(static_cast<float>(orig - opt.eps));
      const double num = (lp - lm) / h;
      const double ana = ga ? static_cast<double>((*ga)[k]) : 0.0;
      const double abs_err = std::abs(num - ana);
      const double rel_err = abs_err / std::max({std::abs(num), std::abs(ana), 1e-12});
      ++r.checked;
      r.max_abs_err = std::max(r.max_abs_err, abs_err);
      if (abs_err > opt.atol) r.max_rel_err = std::max(r.max_rel_err, rel_err);
      if (abs_err > opt.atol + opt.rtol * std::max(std::abs(num), std::abs(ana))) {
        if (r.ok || log.tellp() < 2000)
          log << "input " << i << " flat " << k << ": analytic " << ana << " numeric " << num << "\n";
        r.ok = false;
      }
    }
  }
  r.log = log.str();
  if (r.checked == 0) {
    r.ok = false;
    r.log = "grad_check: no coordinate was checked (empty inputs)";
  }
  return r;
}

}  // namespace wsss::ad
