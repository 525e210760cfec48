// SPDX-License-Identifier: MIT
// wsss/testing/losses.hpp — contract checker for loss policies (public, like dlib's
// test_layer): a {1} finite value, determinism, plan reuse, finite differences of record,
// inputs of another shape refused, config validation, a non-empty name
#pragma once

#include <array>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/testing/crf.hpp"

namespace wsss::testing {

/// The CRF checker's result (the constrain loss is a CRF client; one checklist type for both).
using loss_check_result = crf_check_result;

template <class L>
struct loss_check_options {
  /// Which record inputs the finite differences perturb (empty: all); the others stay constant
  /// leaves (constrain's logits when Q is a constant target).
  std::vector<bool> vary{};
  ad::grad_check_options grad{.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4, .max_coords = 32};
  /// A config the constructor must refuse with a value_error naming the loss.
  std::optional<typename L::config> bad_config{};
};

/// Checks loss policy L on batch b and record inputs `inputs` (the first one's shape is the
/// shape prepare gets): record(tape, plan, vars...) -> {1} var.
template <Policy L, std::size_t N, class Tag = omp_t>
loss_check_result check_loss(L& loss, const batch& b, const std::array<tensor, N>& inputs,
                        const loss_check_options<L>& o = {}, const exec<Tag>& ex = {}) {
  loss_check_result r;
  r.expect(!L::name.empty(), "name: empty");
  const std::string name(L::name);
  auto record = [&](ad::tape& t, typename L::plan& pl, std::span<const ad::var> x) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) { return loss.record(t, pl, x[I]...); }(
               std::make_index_sequence<N>{});
  };
  auto value = [&](typename L::plan& pl, const std::array<tensor, N>& in) {
    ad::tape t;
    std::vector<ad::var> x;
    for (const tensor& v : in) x.push_back(t.leaf(v));
    return record(t, pl, x).value();
  };

  auto pl = loss.prepare(ex, b, inputs[0].shape());
  const tensor y = value(pl, inputs);
  r.expect(y.shape() == shape{1}, "record: the loss is ", y.shape(), ", not {1}");
  if (y.shape() != shape{1}) return r;
  r.expect(std::isfinite(y[0]), "record: the loss is ", y[0]);
  r.expect(crf_detail::same_bits(y, value(pl, inputs)), "record: not deterministic on one plan");
  auto fresh = loss.prepare(ex, b, inputs[0].shape());
  r.expect(crf_detail::same_bits(y, value(fresh, inputs)), "prepare: a fresh plan gives another value");

  std::vector<tensor> varied, fixed;
  std::vector<bool> vary = o.vary.empty() ? std::vector<bool>(N, true) : o.vary;
  for (std::size_t i = 0; i < N; ++i) (vary[i] ? varied : fixed).push_back(inputs[i]);
  const auto gc = ad::grad_check(
      [&](ad::tape& t, std::span<const ad::var> x) {
        std::vector<ad::var> all;
        std::size_t a = 0, c = 0;
        for (std::size_t i = 0; i < N; ++i) all.push_back(vary[i] ? x[a++] : t.leaf(fixed[c++]));
        return record(t, pl, all);
      },
      varied, o.grad);
  r.expect(gc.ok, "record: finite differences disagree\n", gc.log);

  std::array<tensor, N> wrong;
  for (std::size_t i = 0; i < N; ++i) {
    shape s = inputs[i].shape();
    s[s.rank() - 1] += 1;
    wrong[i] = tensor(s, 0.5f);
  }
  r.expect_throw<shape_error>([&] { (void)value(pl, wrong); }, name, "record: inputs of another shape than prepared");
  if (o.bad_config) r.expect_throw<value_error>([&] { (void)L(*o.bad_config); }, name, "config: a bad config is accepted");
  return r;
}

}  // namespace wsss::testing
