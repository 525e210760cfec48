// SPDX-License-Identifier: MIT
// tests/nn/optim_sgd_adam.test.cpp — SGD and Adam against closed-form steps (torch.optim
// semantics), parameter groups, skipped parameters, schedules, and state save/load
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <wsss/autodiff/parameter.hpp>
#include <wsss/nn/optim/adam.hpp>
#include <wsss/nn/optim/schedule.hpp>
#include <wsss/nn/optim/sgd.hpp>

using namespace wsss;
namespace optim = wsss::nn::optim;

namespace {

ad::parameter scalar_param(const std::string& name, float value, float grad) {
  ad::parameter p(name, tensor(shape{1}, value));
  p.grad = tensor(shape{1}, grad);
  return p;
}

}  // namespace

TEST_CASE("SGD with momentum and weight decay takes torch's two steps") {
  // w0 = 1, g = 0.5 both steps, lr 0.1, momentum 0.9, wd 0.01.
  ad::parameter p = scalar_param("w", 1.0f, 0.5f);
  optim::sgd opt({&p}, {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f});
  opt.step();
  const double d1 = 0.5 + 0.01 * 1.0, b1 = d1, w1 = 1.0 - 0.1 * b1;
  CHECK(p.value[0] == doctest::Approx(w1));
  opt.step();
  const double d2 = 0.5 + 0.01 * w1, b2 = 0.9 * b1 + d2, w2 = w1 - 0.1 * b2;
  CHECK(p.value[0] == doctest::Approx(w2));
  CHECK(opt.steps() == 2);
}

TEST_CASE("SGD variants: plain, dampening, Nesterov") {
  ad::parameter a = scalar_param("a", 2.0f, -1.0f);
  optim::sgd plain({&a}, {.lr = 0.5f});
  plain.step();
  CHECK(a.value[0] == doctest::Approx(2.5));

  ad::parameter b = scalar_param("b", 0.0f, 1.0f);
  optim::sgd damp({&b}, {.lr = 1.0f, .momentum = 0.5f, .dampening = 0.5f});
  damp.step();  // first buffer = g (no dampening on the first step, as torch)
  damp.step();  // buffer = 0.5 * 1 + 0.5 * 1 = 1
  CHECK(b.value[0] == doctest::Approx(-2.0));

  ad::parameter c = scalar_param("c", 0.0f, 1.0f);
  optim::sgd nest({&c}, {.lr = 1.0f, .momentum = 0.9f, .nesterov = true});
  nest.step();  // b = 1, d = g + 0.9 b = 1.9
  CHECK(c.value[0] == doctest::Approx(-1.9));
  nest.step();  // b = 0.9 + 1 = 1.9, d = 1 + 0.9 * 1.9
  CHECK(c.value[0] == doctest::Approx(-1.9 - 2.71));
  CHECK_THROWS_WITH_AS(optim::sgd({&c}, {.lr = 1.0f, .nesterov = true}),
                       doctest::Contains("[wsss.value] optim::sgd: Nesterov"), value_error);
}

TEST_CASE("parameter groups scale lr and decay per parameter, frozen and unreached parameters are skipped") {
  ad::parameter w = scalar_param("backbone.weight", 1.0f, 1.0f), fc = scalar_param("fc8.weight", 1.0f, 1.0f),
                bias = scalar_param("fc8.bias", 1.0f, 1.0f), frozen = scalar_param("bn.weight", 1.0f, 1.0f);
  frozen.trainable = false;
  ad::parameter unreached("conv.weight", tensor(shape{1}, 1.0f));  // no gradient yet
  std::vector<ad::parameter*> ps{&w, &fc, &bias, &frozen, &unreached};
  CHECK(optim::assign_group(ps, [](const std::string& n) { return n.starts_with("fc8."); }, {10.0f, 1.0f}) == 2);
  CHECK(optim::assign_group(ps, [](const std::string& n) { return n.ends_with(".bias"); }, {20.0f, 0.0f}) == 1);
  optim::sgd opt(ps, {.lr = 0.01f, .weight_decay = 0.1f});
  opt.step();
  CHECK(w.value[0] == doctest::Approx(1.0 - 0.01 * (1.0 + 0.1)));
  CHECK(fc.value[0] == doctest::Approx(1.0 - 0.1 * (1.0 + 0.1)));
  CHECK(bias.value[0] == doctest::Approx(1.0 - 0.2 * 1.0));
  CHECK(frozen.value[0] == 1.0f);
  CHECK(unreached.value[0] == 1.0f);
}

TEST_CASE("Adam takes torch's bias-corrected steps, AdamW decays decoupled") {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  ad::parameter p = scalar_param("w", 1.0f, 0.5f);
  optim::adam opt({&p}, {.lr = 0.1f});
  opt.step();
  // Step 1: m = 0.05, v = 0.00025; mhat = 0.5, vhat = 0.25 -> w -= lr * 0.5 / (0.5 + eps).
  CHECK(p.value[0] == doctest::Approx(1.0 - lr).epsilon(1e-6));
  p.grad[0] = -1.0f;
  opt.step();
  const double m = b1 * 0.05 + (1 - b1) * -1.0, v = b2 * 0.00025 + (1 - b2) * 1.0;
  const double w2 = (1.0 - lr) - lr * (m / (1 - b1 * b1)) / (std::sqrt(v / (1 - b2 * b2)) + eps);
  CHECK(p.value[0] == doctest::Approx(w2).epsilon(1e-6));

  ad::parameter q = scalar_param("q", 2.0f, 0.5f), r = scalar_param("r", 2.0f, 0.5f);
  optim::adam l2({&q}, {.lr = 0.1f, .weight_decay = 0.1f});
  optim::adam decoupled({&r}, {.lr = 0.1f, .weight_decay = 0.1f, .decoupled_decay = true});
  l2.step();         // g' = 0.5 + 0.2: the first step is still lr * sign
  decoupled.step();  // w = 2 (1 - 0.01) - 0.1
  CHECK(q.value[0] == doctest::Approx(1.9).epsilon(1e-6));
  CHECK(r.value[0] == doctest::Approx(2.0 * 0.99 - 0.1).epsilon(1e-6));
}

TEST_CASE("step and poly schedules") {
  const optim::step_schedule s{.lr0 = 0.1f, .gamma = 0.1f, .step_size = 10};
  CHECK(s(0) == doctest::Approx(0.1));
  CHECK(s(9) == doctest::Approx(0.1));
  CHECK(s(10) == doctest::Approx(0.01));
  CHECK(s(25) == doctest::Approx(0.001));
  const optim::poly_schedule p{.lr0 = 0.01f, .max_iter = 100, .power = 0.9f};
  CHECK(p(0) == doctest::Approx(0.01));
  CHECK(p(50) == doctest::Approx(0.01 * std::pow(0.5, 0.9)));
  CHECK(p(99) == doctest::Approx(0.01 * std::pow(0.01, 0.9)));
  CHECK(p(100) == 0.0f);
  CHECK_THROWS_WITH_AS(p(-1), doctest::Contains("[wsss.value] optim::poly_schedule"), value_error);
}

TEST_CASE("optimizer state saved by slot resumes a run exactly") {
  auto run = [](auto make, int steps_before, bool reload) {
    ad::parameter a("a", tensor::from({2}, std::vector<float>{1, -1})), b("b", tensor(shape{3}, 0.5f));
    std::vector<ad::parameter*> ps{&a, &b};
    auto opt = make(ps);
    auto set_grads = [&](int k) {
      a.grad = tensor::from({2}, std::vector<float>{0.3f * static_cast<float>(k), -0.2f});
      b.grad = tensor(shape{3}, 0.1f * static_cast<float>(k + 1));
    };
    for (int k = 0; k < steps_before; ++k) {
      set_grads(k);
      opt.step();
    }
    if (reload) {
      const optim::state_dict st = opt.state();
      auto fresh = make(ps);
      fresh.load_state(st);
      opt = std::move(fresh);
    }
    for (int k = steps_before; k < steps_before + 2; ++k) {
      set_grads(k);
      opt.step();
    }
    return std::vector<float>{a.value[0], a.value[1], b.value[0]};
  };
  auto make_sgd = [](std::vector<ad::parameter*> ps) { return optim::sgd(ps, {.lr = 0.1f, .momentum = 0.9f}); };
  auto make_adam = [](std::vector<ad::parameter*> ps) { return optim::adam(ps, {.lr = 0.1f}); };
  CHECK(run(make_sgd, 3, true) == run(make_sgd, 3, false));
  CHECK(run(make_adam, 3, true) == run(make_adam, 3, false));
  CHECK(run(make_adam, 3, true) != run(make_adam, 0, false));  // the state matters

  ad::parameter a("a", tensor(shape{2}));
  optim::adam opt({&a}, {});
  CHECK_THROWS_WITH_AS(opt.load_state({{"3.exp_avg", tensor(shape{2})}}),
                       doctest::Contains("[wsss.value] optim::adam::load_state: state key \"3.exp_avg\" names slot 3"),
                       value_error);
  CHECK_THROWS_WITH_AS(opt.load_state({{"0.exp_avg", tensor(shape{5})}}), doctest::Contains("[wsss.shape]"), shape_error);
  optim::sgd s({&a}, {.lr = 0.1f, .momentum = 0.5f});
  CHECK_THROWS_WITH_AS(s.load_state({{"step", tensor(shape{1})}, {"x.momentum_buffer", tensor(shape{2})}}),
                       doctest::Contains("unexpected state key \"x.momentum_buffer\""), value_error);
}
