// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/linear.hpp — fully connected layer y = x W^T + b (PyTorch's layout:
// W is out x in), one Eigen GEMM per pass
#pragma once

#include <algorithm>
#include <array>
#include <span>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/view.hpp"

namespace wsss::ad {

namespace detail {

/// Splits [0, count) into per-thread blocks and calls f(begin, length) on each in parallel;
/// every block's GEMM runs single-threaded (Eigen does not nest inside an OpenMP team), which
/// measured faster than Eigen's own threading for these skinny products.
template <class F>
void parallel_blocks(index_t count, double macs, F&& f) {
  const index_t threads = macs > 2e6 ? std::min<index_t>(backend::max_threads(), std::max<index_t>(count / 16, 1)) : 1;
  if (threads <= 1) {
    f(index_t{0}, count);
    return;
  }
  const index_t per = (count + threads - 1) / threads;
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(threads))
  for (index_t t = 0; t < threads; ++t) {
    const index_t b = t * per, len = std::min(per, count - b);
    if (len > 0) f(b, len);
  }
}

/// y (N x out) = x (N x in, trailing axes flattened) W^T (+ b).
struct linear_op {
  static constexpr std::string_view name = "linear";
  struct saved {};

  static void check(const tensor& x, const tensor& w) {
    constexpr std::string_view comp = "ad::linear";
    expect_rank(w, 2, comp, "weight", "out x in");
    if (x.rank() < 1 || x.dim(0) == 0) throw_shape(comp, "x must be N x in, got ", x.shape());
    if (x.numel() / x.dim(0) != w.dim(1))
      throw_shape(comp, "x ", x.shape(), " has ", x.numel() / x.dim(0), " features per row, weight ", w.shape(),
                  " expects ", w.dim(1));
  }

  tensor forward(saved&, std::span<const tensor* const> xs) const {
    const tensor& x = *xs[0];
    const tensor& w = *xs[1];
    check(x, w);
    const index_t n = x.dim(0), in = w.dim(1), out = w.dim(0);
    if (xs.size() == 3) expect_shape(*xs[2], shape{out}, "ad::linear", "bias");
    tensor y = tensor::uninitialized({n, out});
    const auto xm = as_matrix(x, n, in);
    const auto wm = as_matrix(w, out, in);
    auto ym = as_matrix(y, n, out);
    // Threads take blocks of output features (rows of W).
    parallel_blocks(out, static_cast<double>(n * in * out), [&](index_t o0, index_t len) {
      ym.middleCols(o0, len).noalias() = xm * wm.middleRows(o0, len).transpose();
      if (xs.size() == 3) ym.middleCols(o0, len).rowwise() += as_matrix(*xs[2], 1, out).row(0).segment(o0, len);
    });
    return y;
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    const tensor& x = *xs[0];
    const tensor& w = *xs[1];
    const index_t n = x.dim(0), in = w.dim(1), out = w.dim(0);
    const auto g = as_matrix(gy, n, out);
    const auto xm = as_matrix(x, n, in);
    const auto wm = as_matrix(w, out, in);
    const double macs = static_cast<double>(n * in * out);
    if (gx[0]) {  // gx += gy W, by blocks of input features
      auto gxm = as_matrix(*gx[0], n, in);
      parallel_blocks(in, macs, [&](index_t i0, index_t len) {
        gxm.middleCols(i0, len).noalias() += g * wm.middleCols(i0, len);
      });
    }
    if (gx[1]) {  // gW += gy^T x, by blocks of output features
      auto gwm = as_matrix(*gx[1], out, in);
      parallel_blocks(out, macs, [&](index_t o0, index_t len) {
        gwm.middleRows(o0, len).noalias() += g.middleCols(o0, len).transpose() * xm;
      });
    }
    if (gx.size() == 3 && gx[2]) as_matrix(*gx[2], 1, out) += g.colwise().sum();
  }
};
static_assert(Op<linear_op>);

}  // namespace detail

/// y = x W^T + b: x is N x in (or N x in x 1 x 1 after global pooling), W out x in, b out;
/// pass an empty var for b to omit the bias.
inline var linear(var x, var w, var b = var{}) {
  tape& t = detail::tape_of(x, w, "ad::linear");
  if (!b.valid()) {
    const std::array<var, 2> in{x, w};
    return apply(t, detail::linear_op{}, std::span<const var>(in));
  }
  detail::tape_of(x, b, "ad::linear");
  const std::array<var, 3> in{x, w, b};
  return apply(t, detail::linear_op{}, std::span<const var>(in));
}

}  // namespace wsss::ad
