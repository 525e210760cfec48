// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/linear.hpp — fully connected layer y = x W^T + b (PyTorch's layout:
// W is out x in), one Eigen GEMM per pass
#pragma once

#include <array>
#include <span>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/core/view.hpp"

namespace wsss::ad {

namespace detail {

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
    tensor y = tensor::uninitialized({n, out});
    as_matrix(y, n, out).noalias() = as_matrix(x, n, in) * as_matrix(w, out, in).transpose();
    if (xs.size() == 3) {
      expect_shape(*xs[2], shape{out}, "ad::linear", "bias");
      as_matrix(y, n, out).rowwise() += as_matrix(*xs[2], 1, out).row(0);
    }
    return y;
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    const tensor& x = *xs[0];
    const tensor& w = *xs[1];
    const index_t n = x.dim(0), in = w.dim(1), out = w.dim(0);
    const auto g = as_matrix(gy, n, out);
    if (gx[0]) as_matrix(*gx[0], n, in).noalias() += g * as_matrix(w, out, in);
    if (gx[1]) as_matrix(*gx[1], out, in).noalias() += g.transpose() * as_matrix(x, n, in);
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
