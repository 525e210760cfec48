// SPDX-License-Identifier: MIT
// tests/pool/contract.test.cpp — every Pooler model through the public contract checker
// (wsss/testing/pool.hpp), the checker itself against broken poolers, and cpu / omp /
// thrust_omp parity of every model (the same bits from every launcher)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "wsss/core/random.hpp"
#include "wsss/opencl.hpp"
#include "wsss/pool.hpp"
#include "wsss/superpixel.hpp"
#include "wsss/testing/pool.hpp"

#if __has_include(<thrust/for_each.h>)
#include "wsss/backend/thrust/for_each_index.hpp"
#define WSSS_TEST_THRUST_OMP 1
#endif

using wsss::index_t;
using wsss::tensor;
namespace pool = wsss::pool;
namespace sp = wsss::superpixel;

namespace {

/// Every Pooler model of the library.
using all_poolers = std::tuple<pool::gap, pool::gmp, pool::gwrp, pool::lse, pool::fcl, pool::sp_layer>;

/// N x C x H x W scores whose plane values are distinct levels 0.1 apart plus jitter below
/// 0.02, so a finite-difference step of 1e-2 never reorders them (gmp, gwrp).
tensor separated_scores(const wsss::shape& s, std::uint64_t seed) {
  wsss::rng g(seed);
  tensor x(s);
  const index_t hw = s[2] * s[3];
  std::vector<index_t> perm(static_cast<std::size_t>(hw));
  for (index_t k = 0; k < s[0] * s[1]; ++k) {
    for (index_t i = 0; i < hw; ++i) perm[static_cast<std::size_t>(i)] = i;
    for (index_t i = hw - 1; i > 0; --i) std::swap(perm[static_cast<std::size_t>(i)], perm[g.below(static_cast<std::uint64_t>(i + 1))]);
    for (index_t i = 0; i < hw; ++i)
      x[k * hw + i] = static_cast<float>(-1.0 + 0.1 * static_cast<double>(perm[static_cast<std::size_t>(i)]) + 0.02 * g.uniform());
  }
  return x;
}

/// Superpixel maps of `images` images of H x W pixels: vertical strips of varying width with
/// a "no superpixel" corner, different per image.
std::vector<sp::segmentation> strip_maps(index_t images, index_t H, index_t W) {
  std::vector<sp::segmentation> maps;
  for (index_t n = 0; n < images; ++n) {
    sp::segmentation s;
    s.count = static_cast<std::int32_t>(3 + n);
    s.labels = sp::label_tensor({H, W});
    for (index_t y = 0; y < H; ++y)
      for (index_t x = 0; x < W; ++x)
        s.labels[y * W + x] = (y < 2 && x < 2) ? -1 : static_cast<std::int32_t>((x * x + y) * s.count / (W * W + H));
    maps.push_back(std::move(s));
  }
  return maps;
}

/// What each model needs for scores of shape s: the pooler and the batch (tags for gwrp,
/// superpixel maps for the SP layer; the others ignore both).
struct inputs {
  std::vector<wsss::tag_set> tags;
  std::vector<sp::segmentation> maps;
  wsss::batch batch() const { return {.tags = tags, .superpixels = maps}; }
};
inputs inputs_for(const wsss::shape& s) {
  inputs in;
  for (index_t n = 0; n < s[0]; ++n) in.tags.push_back(n % 2 ? wsss::tag_set{1} : wsss::tag_set{1, 2});
  in.maps = strip_maps(s[0], 2 * s[2] + 1, 3 * s[3]);
  return in;
}
template <class P>
P make_pooler(const wsss::shape& s) {
  if constexpr (std::is_same_v<P, pool::fcl>) {
    wsss::rng g(5);
    pool::fcl p({s[1], s[2], s[3], true});
    p.weight.value = wsss::random_normal(p.weight.value.shape(), g, 0.0, 0.3);
    p.bias.value = wsss::random_normal(p.bias.value.shape(), g);
    return p;
  } else if constexpr (std::is_same_v<P, pool::gwrp>) {
    return pool::gwrp{{0.7f, 0.2f, 0.9f, 0}};
  } else {
    return P{};
  }
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every pooler satisfies the contract checker on every host backend", P, pooler_contract) {
  const wsss::shape s{2, 3, 4, 5};
  const tensor x = separated_scores(s, 31);
  const inputs in = inputs_for(s);
  const P p = make_pooler<P>(s);
  const auto cpu = wsss::testing::check_pooler(p, wsss::exec<wsss::cpu_t>{}, x, in.batch());
  CHECK_MESSAGE(cpu.ok, cpu.log);
  wsss::workspace ws;
  const auto omp = wsss::testing::check_pooler(p, wsss::on(wsss::omp, ws), x, in.batch());
  CHECK_MESSAGE(omp.ok, omp.log);
#if WSSS_TEST_THRUST_OMP
  const auto thrust = wsss::testing::check_pooler(p, wsss::exec<wsss::thrust_omp_t>{}, x, in.batch());
  CHECK_MESSAGE(thrust.ok, thrust.log);
#endif
}
TEST_CASE_TEMPLATE_APPLY(pooler_contract, all_poolers);

namespace {

/// Output, input gradient and (fcl) parameter gradients of one run + backward on exec ex.
struct outcome {
  tensor y, gin;
  std::vector<tensor> param_grads;
};
template <class P, class Tag>
outcome run_on(P p, const wsss::exec<Tag>& ex, const tensor& x, const tensor& g, const wsss::batch& b) {
  outcome o;
  auto pl = p.prepare(ex, b, x.shape());
  p.run(ex, pl, x, o.y);
  p.backward(ex, pl, g, o.gin);
  if constexpr (wsss::Trainable<P>) p.visit_params([&](wsss::ad::parameter& q) { o.param_grads.push_back(q.grad); });
  return o;
}
bool same(const tensor& a, const tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (index_t i = 0; i < a.numel(); ++i)
    if (!(a[i] == b[i])) return false;
  return true;
}
void check_same(const outcome& a, const outcome& b) {
  CHECK(same(a.y, b.y));
  CHECK(same(a.gin, b.gin));
  REQUIRE(a.param_grads.size() == b.param_grads.size());
  for (std::size_t i = 0; i < a.param_grads.size(); ++i) CHECK(same(a.param_grads[i], b.param_grads[i]));
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("cpu, omp and thrust_omp execs give every pooler the same bits", P, pooler_parity) {
  // 2 x 3 x 96 x 120 = 69120 elements: above the size where the omp backend goes parallel.
  const wsss::shape s{2, 3, 96, 120};
  wsss::rng gen(12);
  const tensor x = wsss::random_uniform(s, gen);
  const tensor g = wsss::random_normal({2, 3}, gen);
  const inputs in = inputs_for(s);
  const P p = make_pooler<P>(s);
  const outcome ref = run_on(p, wsss::exec<wsss::cpu_t>{}, x, g, in.batch());
  check_same(ref, run_on(p, wsss::exec<wsss::omp_t>{}, x, g, in.batch()));
  wsss::workspace ws;
  check_same(ref, run_on(p, wsss::on(wsss::omp, ws), x, g, in.batch()));
#if WSSS_TEST_THRUST_OMP
  check_same(ref, run_on(p, wsss::exec<wsss::thrust_omp_t>{}, x, g, in.batch()));
  check_same(ref, run_on(p, wsss::on(wsss::thrust_omp, ws), x, g, in.batch()));
#endif
}
TEST_CASE_TEMPLATE_APPLY(pooler_parity, all_poolers);

namespace {

/// gap with a backward that ADDS into g_in: the checker must catch it.
struct adding_gap : pool::gap {
  using pool::gap::gap;
  static constexpr std::string_view name = "test::adding_gap";
  template <class Tag>
  void backward(const wsss::exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    tensor fresh;
    pool::gap::backward(ex, pl, g, fresh);
    if (g_in.shape() != fresh.shape()) g_in = tensor(fresh.shape());
    for (index_t i = 0; i < fresh.numel(); ++i) g_in[i] += fresh[i];
  }
  wsss::ad::var record(wsss::ad::tape& t, plan& pl, const wsss::ad::var& x) const { return pool::record(t, *this, pl, x); }
};

/// gmp whose recorded gradient is scaled by 2: the finite differences must catch it.
struct wrong_gradient_gmp : pool::gmp {
  using pool::gmp::gmp;
  static constexpr std::string_view name = "test::wrong_gradient_gmp";
  template <class Tag>
  void backward(const wsss::exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    pool::gmp::backward(ex, pl, g, g_in);
    for (index_t i = 0; i < g_in.numel(); ++i) g_in[i] *= 2.0f;
  }
  wsss::ad::var record(wsss::ad::tape& t, plan& pl, const wsss::ad::var& x) const { return pool::record(t, *this, pl, x); }
};

}  // namespace

TEST_CASE("the contract checker catches an adding backward and a wrong gradient") {
  const tensor x = separated_scores({2, 3, 4, 5}, 3);
  const auto add = wsss::testing::check_pooler(adding_gap{}, wsss::exec<>{}, x);
  CHECK_FALSE(add.ok);
  CHECK(add.log.find("test::adding_gap: backward adds into g_in") != std::string::npos);
  const auto wrong = wsss::testing::check_pooler(wrong_gradient_gmp{}, wsss::exec<>{}, x);
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.log.find("test::wrong_gradient_gmp: record fails grad_check") != std::string::npos);
}

TEST_CASE("a recorded node owns its plan: the caller's plan may be reused or dropped before backward") {
  const tensor x = separated_scores({1, 2, 3, 3}, 8), other = separated_scores({1, 2, 3, 3}, 9);
  const pool::gmp p;
  const wsss::exec<> ex;
  wsss::ad::tape t;
  const wsss::ad::var v = t.leaf(x, true);
  wsss::ad::var y;
  {
    const auto pl = p.prepare(ex, {}, x.shape());
    y = p.record(t, pl, v);
    (void)p.record(t, pl, t.leaf(other));  // the same plan again, on scores with other arg maxima
  }                                        // and the plan is gone before backward
  const tensor g({1, 2}, 1.0f);
  t.backward(y, g);
  tensor ref;
  auto pl = p.prepare(ex, {}, x.shape());
  tensor out;
  p.run(ex, pl, x, out);
  p.backward(ex, pl, g, ref);
  REQUIRE(t.grad(v) != nullptr);
  CHECK(same(*t.grad(v), ref));
}

TEST_CASE("pool::run pools once with a default exec") {
  // example-begin pool-usage
  wsss::rng rng(1);
  const wsss::tensor scores = wsss::random_uniform({2, 21, 41, 41}, rng);  // N x C x H x W
  const std::vector<wsss::tag_set> tags{{3, 15}, {7}};                      // image-level labels
  const wsss::batch batch{.tags = tags};

  // One call: prepare + run (the decays of SEC's GWRP come from the tags).
  const wsss::tensor y = wsss::pool::run(wsss::pool::gwrp{}, scores, batch);  // N x C

  // A training step keeps the plan and the workspace, and records on the tape.
  const wsss::pool::gwrp gwrp;
  wsss::workspace ws;
  const auto ex = wsss::on(wsss::omp, ws);
  auto plan = gwrp.prepare(ex, batch, scores.shape());  // per-shape, per-image: reuse it
  wsss::ad::tape tape;
  const wsss::ad::var x = tape.leaf(scores, /*requires_grad=*/true);
  const wsss::ad::var pooled = gwrp.record(tape, plan, x);  // the node keeps its own copy of the plan
  tape.backward(pooled, wsss::tensor({2, 21}, 1.0f));

  // Standalone: run overwrites out, backward assigns g_in.
  wsss::tensor out, g_in;
  wsss::pool::lse lse({.r = 5.0f});
  auto lse_plan = lse.prepare(ex, batch, scores.shape());
  lse.run(ex, lse_plan, scores, out);
  lse.backward(ex, lse_plan, wsss::tensor({2, 21}, 1.0f), g_in);
  // example-end
  CHECK(same(y, pooled.value()));
  CHECK(out.shape() == wsss::shape{2, 21});
  CHECK(g_in.shape() == scores.shape());
  CHECK(tape.grad(x) != nullptr);
}

// ---- the device twins (pool/device.hpp): GAP, GMP and GWRP in a backend's memory ----------------

namespace {

using device_hosts = std::tuple<pool::gap, pool::gmp, pool::gwrp>;

wsss::exec<wsss::opencl_t> on_opencl() { return {wsss::backend::opencl::default_queue()}; }

/// Scores in [0, 1) rounded to 1/64: many equal values per plane, so GWRP's and GMP's tie
/// order (increasing position) is exercised, with a plane of one constant value.
tensor tied_scores(const wsss::shape& s, std::uint64_t seed) {
  wsss::rng g(seed);
  tensor x = wsss::random_uniform(s, g);
  for (index_t i = 0; i < x.numel(); ++i) x[i] = std::floor(x[i] * 64.0f) / 64.0f;
  std::fill(x.data(), x.data() + s[2] * s[3], 0.5f);
  return x;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("the device twins satisfy the contract checker on host tags, thrust_omp and OpenCL", H,
                          device_contract) {
  const wsss::shape s{2, 3, 4, 5};
  const tensor x = separated_scores(s, 31);
  const inputs in = inputs_for(s);
  const auto cfg = make_pooler<H>(s).cfg;
  const auto cpu = wsss::testing::check_pooler(pool::device_pool<H, wsss::cpu_t>{cfg}, wsss::exec<wsss::cpu_t>{}, x, in.batch());
  CHECK_MESSAGE(cpu.ok, cpu.log);
  const auto omp = wsss::testing::check_pooler(pool::device_pool<H, wsss::omp_t>{cfg}, wsss::exec<wsss::omp_t>{}, x, in.batch());
  CHECK_MESSAGE(omp.ok, omp.log);
#if WSSS_TEST_THRUST_OMP
  const auto thrust = wsss::testing::check_pooler(pool::device_pool<H, wsss::thrust_omp_t>{cfg},
                                                  wsss::exec<wsss::thrust_omp_t>{}, x, in.batch());
  CHECK_MESSAGE(thrust.ok, thrust.log);
#endif
  const auto cl = wsss::testing::check_pooler(pool::device_pool<H, wsss::opencl_t>{cfg}, on_opencl(), x, in.batch());
  CHECK_MESSAGE(cl.ok, cl.log);
  static_assert(wsss::supports<pool::device_pool<H, wsss::opencl_t>, wsss::opencl_t>::value);
}
TEST_CASE_TEMPLATE_APPLY(device_contract, device_hosts);

TEST_CASE_TEMPLATE_DEFINE("the device twins give their host pooler's results and count their transfers", H,
                          device_parity) {
  // SEC's 41 x 41 grid with 21 classes, and 200 x 200 planes where GWRP drops ranks (m < n).
  for (const wsss::shape& s : {wsss::shape{2, 21, 41, 41}, wsss::shape{2, 2, 200, 200}}) {
    INFO("scores " << s);
    const tensor x = tied_scores(s, 7);
    wsss::rng gen(8);
    const tensor g = wsss::random_normal({s[0], s[1]}, gen);
    std::vector<wsss::tag_set> tags;
    for (index_t n = 0; n < s[0]; ++n) tags.push_back(n % 2 || s[1] < 3 ? wsss::tag_set{1} : wsss::tag_set{1, static_cast<int>(s[1] - 1)});
    const wsss::batch b{.tags = tags};
    H host = make_pooler<H>(s);
    if constexpr (std::is_same_v<H, pool::gwrp>) host.cfg = {};  // SEC's decays: 0.996 / 0 / 0.999
    const outcome ref = run_on(host, wsss::exec<wsss::cpu_t>{}, x, g, b);
    // The same kernels and sums on host tags and Thrust's OpenMP system: the host's bits.
    check_same(ref, run_on(pool::device_pool<H, wsss::cpu_t>{host.cfg}, wsss::exec<wsss::cpu_t>{}, x, g, b));
    check_same(ref, run_on(pool::device_pool<H, wsss::omp_t>{host.cfg}, wsss::exec<wsss::omp_t>{}, x, g, b));
#if WSSS_TEST_THRUST_OMP
    check_same(ref, run_on(pool::device_pool<H, wsss::thrust_omp_t>{host.cfg}, wsss::exec<wsss::thrust_omp_t>{}, x, g, b));
#endif
    // OpenCL on PoCL: the kernels' OpenCL C twins and Boost.Compute's sort.
    const pool::device_pool<H, wsss::opencl_t> dev{host.cfg};
    const auto ex = on_opencl();
    auto pl = dev.prepare(ex, b, s);
    tensor y, gin;
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the plan's device arrays
      const auto t0 = wsss::backend::transfers();
      dev.run(ex, pl, x, y);
      const auto t1 = wsss::backend::transfers();
      dev.backward(ex, pl, g, gin);
      const auto t2 = wsss::backend::transfers();
      const bool tables = std::is_same_v<H, pool::gwrp> && repeat == 0;  // gwrp's weights, once per plan
      CHECK((t1 - t0).uploads == (tables ? 4u : 1u));
      CHECK((t1 - t0).downloads == 1);
      CHECK((t2 - t1).uploads == 1);
      CHECK((t2 - t1).downloads == 1);
    }
    float dy = 0;
    for (index_t k = 0; k < y.numel(); ++k) dy = std::max(dy, std::abs(y[k] - ref.y[k]) / std::max(1.0f, std::abs(ref.y[k])));
    MESSAGE(H::name, " on OpenCL: max relative |dy| ", dy);
    CHECK(dy <= 1e-6f);         // the float64 rank sum may round once more or less (FMA contraction)
    CHECK(same(gin, ref.gin));  // the same ranks, so the same gradient
  }
}
TEST_CASE_TEMPLATE_APPLY(device_parity, device_hosts);

TEST_CASE("a classifier's pooling slot moves to a device by its type: device_gwrp trains like gwrp") {
  const wsss::shape s{2, 3, 6, 7};
  const tensor x = separated_scores(s, 4);
  const inputs in = inputs_for(s);
  const pool::gwrp::config cfg{0.7f, 0.2f, 0.9f, 0};
  auto pooled = [&](const auto& p) {
    wsss::ad::tape t;
    const wsss::ad::var v = t.leaf(x, true);
    // What nn::cam_classifier does with its slot: prepare on the slot's own backend, record.
    auto plan = p.prepare(wsss::policy_exec(p, wsss::exec<>{}), in.batch(), s);
    const wsss::ad::var y = p.record(t, plan, v);
    t.backward(y, tensor({2, 3}, 1.0f));
    return std::pair{y.value(), *t.grad(v)};
  };
  const auto [y_host, g_host] = pooled(pool::gwrp{cfg});
  const auto [y_dev, g_dev] = pooled(pool::device_gwrp<wsss::opencl_t>{cfg});
  REQUIRE(y_dev.shape() == y_host.shape());
  for (index_t k = 0; k < y_host.numel(); ++k) CHECK(std::abs(y_dev[k] - y_host[k]) <= 1e-6f);
  CHECK(same(g_dev, g_host));

  const tensor& scores = x;
  const wsss::batch batch = in.batch();
  // example-begin pool-device
  // GWRP in OpenCL's memory (wsss::cuda_t from a .cu file, wsss::thrust_omp_t with Thrust):
  // the host pooler's config, its values, its errors.
  const wsss::pool::device_gwrp<wsss::opencl_t> on_device{cfg};
  const auto ex = wsss::policy_exec(on_device, wsss::exec<>{});  // an exec on the default queue
  auto plan = on_device.prepare(ex, batch, scores.shape());
  wsss::tensor y;
  on_device.run(ex, plan, scores, y);  // 1 upload and 1 download (3 more uploads on a plan's first run)
  // As a slot, the type alone moves the pooling: nn::cam_classifier<pool::device_gap<wsss::cuda_t>>.
  // example-end
  CHECK(same(y, y_dev));
}
