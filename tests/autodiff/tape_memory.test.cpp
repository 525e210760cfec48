// SPDX-License-Identifier: MIT
// tests/autodiff/tape_memory.test.cpp — backward's gradient buffers: overwrite and pass-through
// slots give the same gradients as zero-fill-and-add, adding-only ops still see zeros, large
// (multithreaded) elementwise gradients match naive loops, and a training loop stops
// asking the OS for memory after its first step
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops/batch_norm.hpp>
#include <wsss/autodiff/ops/elementwise.hpp>
#include <wsss/autodiff/ops/pointwise.hpp>
#include <wsss/autodiff/ops/reduce.hpp>
#include <wsss/autodiff/ops/softmax.hpp>
#include <wsss/core/memory.hpp>

#include "support/broadcast.hpp"

using namespace wsss;

namespace {

// Wraps an op so that it exposes only the plain adding backward: the tape then zero-fills
// every fresh slot and never hands gy over. Reference behaviour for the capable ops.
template <class O>
struct adding_only {
  static constexpr std::string_view name = O::name;
  using saved = typename O::saved;
  O op;
  template <class... T>
  tensor forward(saved& s, const T&... x) const {
    return op.forward(s, x...);
  }
  void backward(const saved& s, const tensor& y, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const std::vector<ad::grad_slot> modes(gxs.size(), ad::grad_slot::accumulate);
    op.backward(s, y, gy, xs, gxs, modes);
  }
};
static_assert(ad::Op<adding_only<ad::detail::binary_op>> && !ad::OverwritingOp<adding_only<ad::detail::binary_op>>);

// Records op (capable, or wrapped as adding-only) on the tape.
template <class O, class V0, class... V>
ad::var rec(bool plain, const O& op, V0 x0, V... xs) {
  ad::tape& t = x0.owner();
  if (plain) return ad::apply(t, adding_only<O>{op}, x0, xs...);
  return ad::apply(t, op, x0, xs...);
}

// A chain touching every capable op family: bn -> relu -> add (x reused) -> mul by a
// per-channel mask -> sub -> softmax -> sum over channels -> mean; x also feeds a scale.
struct chain_grads {
  tensor gx, gmask, ggamma, gbeta;
};
chain_grads run_chain(bool plain, const tensor& x, const tensor& mask, const tensor& gamma, const tensor& beta) {
  namespace d = ad::detail;
  tensor rm({x.dim(1)}), rv({x.dim(1)}, 1.0f);
  ad::tape t;
  const ad::var xv = t.leaf(x, true), mv = t.leaf(mask, true), gv = t.leaf(gamma, true), bv = t.leaf(beta, true);
  const ad::var h = rec(plain, d::batch_norm_op{&rm, &rv, true, 0.1f, 1e-5f}, xv, gv, bv);
  const ad::var r = rec(plain, d::pointwise_op<d::relu_fn>{}, h);
  const ad::var s = rec(plain, d::binary_op{d::binary_kind::add}, r, xv);
  const ad::var m = rec(plain, d::binary_op{d::binary_kind::mul}, s, mv);
  const ad::var q = rec(plain, d::binary_op{d::binary_kind::sub}, m, rec(plain, d::pointwise_op<d::scale_fn>{{0.5f}}, xv));
  const ad::var p = rec(plain, d::softmax_op{1, false}, q);
  const ad::var c = rec(plain, d::reduce_axis_op{1, false, false}, p);
  const ad::var w = rec(plain, d::binary_op{d::binary_kind::mul}, c, rec(plain, d::reduce_axis_op{1, true, true}, q));
  t.backward(rec(plain, d::reduce_all_op{true}, w));
  return {*t.grad(xv), *t.grad(mv), *t.grad(gv), *t.grad(bv)};
}

bool bitwise_equal(const tensor& a, const tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (index_t i = 0; i < a.numel(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}


}  // namespace

TEST_CASE("overwrite and pass-through slots give bit-identical gradients to zero-fill-and-add") {
  rng g(5);
  const tensor x = random_normal({2, 8, 48, 48}, g);  // 36864 elements: above the parallel grain
  const tensor mask = random_uniform({1, 8, 1, 1}, g, 0.5, 1.5);
  const tensor gamma = random_uniform({8}, g, 0.5, 1.5), beta = random_normal({8}, g);
  const chain_grads fast = run_chain(false, x, mask, gamma, beta);
  const chain_grads plain = run_chain(true, x, mask, gamma, beta);
  CHECK(bitwise_equal(fast.gx, plain.gx));
  CHECK(bitwise_equal(fast.gmask, plain.gmask));
  CHECK(bitwise_equal(fast.ggamma, plain.ggamma));
  CHECK(bitwise_equal(fast.gbeta, plain.gbeta));
  CHECK(fast.gx.all_finite());
  double norm = 0;
  for (float v : fast.gx) norm += std::abs(v);
  CHECK(norm > 0);  // the chain does carry a gradient back
}

TEST_CASE("large elementwise gradients match naive loops with fresh and with accumulating slots") {
  rng g(7);
  const std::pair<shape, shape> cases[] = {
      {shape{2, 8, 64, 64}, shape{2, 8, 64, 64}},  // flat path
      {shape{2, 8, 64, 64}, shape{1, 8, 1, 1}},    // per-channel operand: per-thread sums
      {shape{2, 1, 64, 64}, shape{1, 8, 1, 64}},   // both stretched
      {shape{2, 8, 64, 64}, shape{64}},            // stretched along outer axes only
  };
  const ad::detail::binary_kind kinds[] = {ad::detail::binary_kind::add, ad::detail::binary_kind::sub,
                                           ad::detail::binary_kind::mul, ad::detail::binary_kind::div};
  for (const auto& c : cases)
    for (auto kind : kinds)
      for (bool accumulate : {false, true}) {
        const auto& sa = c.first;  // named: clang 14 cannot capture a binding in INFO
        const auto& sb = c.second;
        INFO(static_cast<int>(kind), " ", sa, " with ", sb, accumulate ? " (accumulating)" : " (fresh)");
        const tensor a = random_uniform(sa, g, -1.0, 1.0), b = random_uniform(sb, g, 0.5, 1.5);
        ad::tape t;
        const ad::var av = t.leaf(a, true), bv = t.leaf(b, true);
        const ad::var y = ad::detail::binary(av, bv, kind);
        const tensor w = random_normal(y.shape(), g);
        const tensor ea = random_normal(sa, g), eb = random_normal(sb, g);
        ad::var out = y;
        if (accumulate) {  // recorded after y: these reach a and b first, so y's slots add
          const ad::var extra = ad::add(ad::sum(ad::mul(av, t.leaf(ea))), ad::sum(ad::mul(bv, t.leaf(eb))));
          out = ad::add(ad::sum(ad::mul(y, t.leaf(w))), extra);
          t.backward(out);
        } else {
          t.backward(y, w);
        }
        std::vector<double> ga(static_cast<std::size_t>(a.numel())), gb(static_cast<std::size_t>(b.numel()));
        for (index_t i = 0; i < a.numel() && accumulate; ++i) ga[static_cast<std::size_t>(i)] = ea[i];
        for (index_t i = 0; i < b.numel() && accumulate; ++i) gb[static_cast<std::size_t>(i)] = eb[i];
        const shape& so = y.shape();
        for (index_t i = 0; i < so.numel(); ++i) {
          const index_t ia = wsss::testing::naive_broadcast_offset(sa, so, i),
                        ib = wsss::testing::naive_broadcast_offset(sb, so, i);
          const double x0 = a[ia], x1 = b[ib], gw = w[i];
          double da = gw, db = gw;
          switch (kind) {
            case ad::detail::binary_kind::add: break;
            case ad::detail::binary_kind::sub: db = -gw; break;
            case ad::detail::binary_kind::mul: da = gw * x1; db = gw * x0; break;
            case ad::detail::binary_kind::div: da = gw / x1; db = -gw * x0 / (x1 * x1); break;
          }
          ga[static_cast<std::size_t>(ia)] += da;
          gb[static_cast<std::size_t>(ib)] += db;
        }
        const tensor& ta = *t.grad(av);
        const tensor& tb = *t.grad(bv);
        double ea_max = 0, eb_max = 0;
        for (index_t i = 0; i < a.numel(); ++i)
          ea_max = std::max(ea_max, std::abs(ta[i] - ga[static_cast<std::size_t>(i)]) /
                                        (1.0 + std::abs(ga[static_cast<std::size_t>(i)])));
        for (index_t i = 0; i < b.numel(); ++i)
          eb_max = std::max(eb_max, std::abs(tb[i] - gb[static_cast<std::size_t>(i)]) /
                                        (1.0 + std::abs(gb[static_cast<std::size_t>(i)])));
        CHECK(ea_max < 1e-4);
        CHECK(eb_max < 1e-4);
      }
}

namespace {
// An op with only the adding backward: y = 2x, dx += 2 gy.
struct twice_op {
  static constexpr std::string_view name = "twice";
  struct saved {};
  tensor forward(saved&, const tensor& x) const {
    tensor y = tensor::uninitialized(x.shape());
    for (index_t i = 0; i < x.numel(); ++i) y[i] = 2.0f * x[i];
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    for (index_t i = 0; i < gy.numel(); ++i) (*gx[0])[i] += 2.0f * gy[i];
  }
};
static_assert(ad::Op<twice_op> && !ad::OverwritingOp<twice_op> && !ad::PassThroughOp<twice_op>);
}  // namespace

TEST_CASE("an adding-only op gets zero-filled slots even when the cache recycles a dirty block") {
  const shape s{3, 1000};
  ad::tape t;
  const tensor x(s, 1.0f);
  const ad::var xv = t.leaf(x, true);
  const ad::var y = ad::apply(t, twice_op{}, xv);
  const tensor seed(s, 0.25f);
  { const tensor dirty(s, std::numeric_limits<float>::quiet_NaN()); }  // its block returns to the cache
  t.backward(y, seed);
  const tensor& gx = *t.grad(xv);
  bool exact = true;
  for (float v : gx) exact = exact && v == 0.5f;
  CHECK(exact);
}

TEST_CASE("add hands gy over to one input and writes the other, reused inputs still add up") {
  ad::tape t;
  const tensor a({4, 5}, 1.0f), b({4, 5}, 2.0f);
  const ad::var av = t.leaf(a, true), bv = t.leaf(b, true);
  rng g(3);
  const tensor w = random_normal({4, 5}, g);
  tensor seed = w;
  const float* seed_block = seed.data();
  t.backward(ad::add(av, bv), std::move(seed));
  CHECK(t.grad(av)->data() == seed_block);  // moved, not copied
  CHECK(bitwise_equal(*t.grad(av), w));
  CHECK(bitwise_equal(*t.grad(bv), w));
  ad::tape u;
  const ad::var xv = u.leaf(a, true);
  u.backward(ad::add(xv, xv), w);  // one input in two slots: zero-filled, both paths add
  for (index_t i = 0; i < w.numel(); ++i) CHECK((*u.grad(xv))[i] == doctest::Approx(2.0f * w[i]));
}

TEST_CASE("parameter gradients are written into p.grad and accumulate there across backward calls") {
  rng g(4);
  ad::parameter w("w", random_normal({3, 70}, g));
  const tensor x = random_normal({3, 70}, g);
  const float* storage = nullptr;
  for (int pass = 1; pass <= 2; ++pass) {
    ad::tape t;
    t.backward(ad::sum(ad::mul(t.param(w), t.leaf(x))));
    REQUIRE(w.grad.shape() == w.value.shape());
    if (pass == 1) storage = w.grad.data();
    CHECK(w.grad.data() == storage);  // the second pass adds in place
    bool ok = true;
    for (index_t i = 0; i < x.numel(); ++i) ok = ok && w.grad[i] == static_cast<float>(pass) * x[i];
    CHECK(ok);
  }
}

TEST_CASE("a training loop asks the OS for no memory after its first step") {
  rng g(9);
  ad::parameter gamma("gamma", tensor({16}, 1.0f)), beta("beta", tensor({16})),
      mask("mask", random_uniform({1, 16, 1, 1}, g, 0.5, 1.5));
  tensor rm({16}), rv({16}, 1.0f);
  const tensor x = random_normal({2, 16, 40, 40}, g);
  for (ad::parameter* p : {&gamma, &beta, &mask}) p->zero_grad();  // gradients live across steps
  ad::tape t;
  std::vector<memory::stats> after;
  std::vector<float> losses;
  for (int step = 0; step < 3; ++step) {
    t.clear();
    const ad::var xv = t.leaf(x);
    const ad::var h = ad::relu(ad::batch_norm(xv, t.param(gamma), t.param(beta), rm, rv, true, 0.1f, 1e-5f));
    const ad::var y = ad::softmax(ad::mul(ad::add(h, xv), t.param(mask)), 1);
    const ad::var loss = ad::mean(ad::mul(y, y));
    losses.push_back(loss.value()[0]);
    t.backward(loss);
    for (ad::parameter* p : {&gamma, &beta, &mask}) {
      REQUIRE(p->grad.shape() == p->value.shape());
      as_array(p->value) -= 0.1f * as_array(p->grad);
      p->zero_grad();
    }
    after.push_back(memory::current_stats());
  }
  CHECK(after[2].os_allocs == after[0].os_allocs);  // steps 2 and 3 ran on recycled blocks
  CHECK(after[1].os_allocs == after[0].os_allocs);
  CHECK(after[2].hits > after[1].hits);
  CHECK(after[2].in_use == after[1].in_use);  // nothing leaks from step to step
  CHECK(losses[2] != losses[0]);               // the parameters did move
}
