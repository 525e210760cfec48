// SPDX-License-Identifier: MIT
// tests/autodiff/ops_custom_example.test.cpp — the documented recipe for a new op (docs/autodiff.md):
// a component defines forward/backward once, apply() records it, grad_check verifies it
#include <doctest/doctest.h>

#include <cmath>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/reduce.hpp>

using namespace wsss;

// example-begin custom-op
// y = log(1 + e^x) (softplus), written as a wsss op.
struct softplus_op {
  static constexpr std::string_view name = "softplus";
  struct saved {};  // nothing beyond the input, which backward receives anyway

  tensor forward(saved&, const tensor& x) const {
    tensor y = tensor::uninitialized(x.shape());
    for (index_t i = 0; i < x.numel(); ++i) y[i] = std::max(x[i], 0.0f) + std::log1p(std::exp(-std::abs(x[i])));
    return y;
  }
  // ADD dL/dx = dL/dy * sigmoid(x) into the gradient slot, if the input needs one.
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    for (index_t i = 0; i < gy.numel(); ++i) (*gx[0])[i] += gy[i] / (1.0f + std::exp(-(*x[0])[i]));
  }
};
static_assert(ad::Op<softplus_op>);

ad::var softplus(ad::var x) { return ad::apply(x.owner(), softplus_op{}, x); }
// example-end custom-op

TEST_CASE("the documented custom op records, backpropagates and passes grad_check") {
  // example-begin grad-check
  rng g(1);
  const tensor x = random_uniform({2, 3, 4}, g, -3.0, 3.0);
  const ad::grad_check_result r =
      ad::grad_check([](ad::tape&, std::span<const ad::var> v) { return softplus(v[0]); }, {x});
  CHECK_MESSAGE(r.ok, r.log);
  // example-end grad-check

  // example-begin tape
  ad::tape t;
  const ad::var xv = t.leaf(x, /*requires_grad=*/true);
  const ad::var loss = ad::mean(softplus(xv));  // shape {1}
  t.backward(loss);
  const tensor& dx = *t.grad(xv);  // d loss / d x, shaped like x
  // example-end tape
  for (index_t i = 0; i < x.numel(); ++i) CHECK(dx[i] == doctest::Approx(1.0 / (1.0 + std::exp(-x[i])) / 24.0));

  ad::no_grad ng(t);
  const ad::var y = softplus(xv);
  CHECK(!y.requires_grad());
}
