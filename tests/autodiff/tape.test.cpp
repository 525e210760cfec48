// SPDX-License-Identifier: MIT
// tests/autodiff/tape.test.cpp — the tape, apply(), parameters, no_grad and grad_check itself
#include <doctest/doctest.h>

#include <wsss/autodiff.hpp>

using namespace wsss;

namespace {

// y = x0 * x1 (elementwise), written here as the smallest possible op.
struct mul_op {
  static constexpr std::string_view name = "test.mul";
  struct saved {};
  tensor forward(saved&, const tensor& a, const tensor& b) const {
    tensor y = tensor::uninitialized(a.shape());
    for (index_t i = 0; i < a.numel(); ++i) y[i] = a[i] * b[i];
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx) const {
    for (index_t i = 0; i < gy.numel(); ++i) {
      if (gx[0]) (*gx[0])[i] += gy[i] * (*x[1])[i];
      if (gx[1]) (*gx[1])[i] += gy[i] * (*x[0])[i];
    }
  }
};
static_assert(ad::Op<mul_op>);

// y = sum of all inputs' elements, any arity.
struct sum_all_op {
  static constexpr std::string_view name = "test.sum_all";
  struct saved {};
  tensor forward(saved&, std::span<const tensor* const> xs) const {
    tensor y({1});
    for (const tensor* x : xs)
      for (float v : *x) y[0] += v;
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    for (tensor* g : gx)
      if (g)
        for (float& v : *g) v += gy[0];
  }
};

// A deliberately wrong gradient, to prove grad_check can fail.
struct bad_square_op {
  static constexpr std::string_view name = "test.bad_square";
  struct saved {};
  tensor forward(saved&, const tensor& a) const {
    tensor y(a.shape());
    for (index_t i = 0; i < a.numel(); ++i) y[i] = a[i] * a[i];
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx) const {
    for (index_t i = 0; i < gy.numel(); ++i) (*gx[0])[i] += gy[i] * 3.0f * (*x[0])[i];
  }
};

}  // namespace

TEST_CASE("backward of a product reaches both leaves and reused vars accumulate") {
  ad::tape t;
  auto a = t.leaf(tensor::from({3}, std::vector<float>{1, 2, 3}), true);
  auto b = t.leaf(tensor::from({3}, std::vector<float>{4, 5, 6}), true);
  auto c = t.leaf(tensor({3}, 2.0f));  // constant: no gradient
  auto ab = ad::apply(t, mul_op{}, a, b);
  auto aab = ad::apply(t, mul_op{}, ab, a);          // a used twice: d/da = 2ab
  const std::array<ad::var, 2> parts{aab, ad::apply(t, mul_op{}, b, c)};
  auto loss = ad::apply(t, sum_all_op{}, std::span<const ad::var>(parts));
  CHECK(loss.value()[0] == doctest::Approx(1 * 1 * 4 + 2 * 2 * 5 + 3 * 3 * 6 + 2 * (4 + 5 + 6)));
  t.backward(loss);
  const tensor& ga = *t.grad(a);
  const tensor& gb = *t.grad(b);
  CHECK(ga[0] == doctest::Approx(2 * 1 * 4));
  CHECK(ga[2] == doctest::Approx(2 * 3 * 6));
  CHECK(gb[1] == doctest::Approx(2 * 2 + 2));
  CHECK(t.grad(c) == nullptr);
}

TEST_CASE("parameters accumulate gradients, frozen ones and no_grad record nothing") {
  ad::parameter w("w", tensor({2}, 3.0f));
  ad::parameter frozen("f", tensor({2}, 1.0f));
  frozen.trainable = false;
  ad::tape t;
  auto x = t.leaf(tensor({2}, 2.0f));
  std::array<ad::var, 1> one{ad::apply(t, mul_op{}, ad::apply(t, mul_op{}, t.param(w), x), t.param(frozen))};
  t.backward(ad::apply(t, sum_all_op{}, std::span<const ad::var>(one)));
  CHECK(w.grad[0] == doctest::Approx(2.0));
  CHECK(frozen.grad.empty());
  w.zero_grad();
  CHECK(w.grad[1] == 0.0f);

  t.clear();
  {
    ad::no_grad ng(t);
    auto y = ad::apply(t, mul_op{}, t.param(w), t.leaf(tensor({2}, 1.0f), true));
    CHECK_FALSE(y.requires_grad());
    CHECK(y.value()[0] == 3.0f);
  }
  CHECK(t.grad_enabled());
}

TEST_CASE("tape rejects foreign vars and non-scalar losses with a clear error") {
  ad::tape t1, t2;
  auto a = t1.leaf(tensor({2}), true);
  CHECK_THROWS_WITH_AS(t2.value(a), doctest::Contains("does not belong to this tape"), value_error);
  CHECK_THROWS_WITH_AS(t1.backward(a), doctest::Contains("loss must hold one value, got shape 2"), shape_error);
  CHECK_THROWS_AS(t1.backward(a, tensor({3})), shape_error);
  t1.clear();
  CHECK_THROWS_AS(a.value(), value_error);
}

TEST_CASE("grad_check accepts a correct gradient and rejects a wrong one") {
  rng g(11);
  std::vector<tensor> in{random_normal({4, 5}, g), random_normal({4, 5}, g)};
  auto good = ad::grad_check([](ad::tape& t, std::span<const ad::var> v) { return ad::apply(t, mul_op{}, v[0], v[1]); }, in);
  CHECK_MESSAGE(good.ok, good.log);
  CHECK(good.checked == 40);
  auto bad = ad::grad_check([](ad::tape& t, std::span<const ad::var> v) { return ad::apply(t, bad_square_op{}, v[0]); },
                            {in[0]});
  CHECK_FALSE(bad.ok);
  CHECK(bad.log.find("analytic") != std::string::npos);
}
