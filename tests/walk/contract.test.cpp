// SPDX-License-Identifier: MIT
// tests/walk/contract.test.cpp — every Propagator model through the public contract checker
// (wsss/testing/walk.hpp) on cpu, omp and thrust_omp (the same bits from every launcher), in
// both orientations, and the checker itself against broken propagators
#include <doctest/doctest.h>

#include <algorithm>
#include <tuple>

#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/testing/walk.hpp>
#include <wsss/walk.hpp>

// thrust_omp runs where the tests link wsss::thrust_omp (Thrust found, THRUST_DEVICE_SYSTEM set).
#if __has_include(<thrust/for_each.h>) && defined(THRUST_DEVICE_SYSTEM)
#include <wsss/backend/thrust/for_each_index.hpp>
#define WSSS_TEST_THRUST 1
#endif

using namespace wsss;

namespace {

/// Every Propagator model of the library.
using all_propagators = std::tuple<walk::dense_power, walk::sparse_power, walk::chebyshev>;

/// A config each model's constructor must reject.
template <class P>
typename P::config bad_config() {
  if constexpr (std::is_same_v<P, walk::dense_power>) return {.t = 100};  // not a power of two
  else if constexpr (std::is_same_v<P, walk::sparse_power>) return {.t = -1};
  else return {.t = 16, .tol = 0.0};
}

/// A radius-3 affinity graph of random features on 6 x 7 and four CAM channels in [0, 1].
struct problem {
  graph::csr_graph g;
  tensor cam;
  problem() {
    rng r(23);
    const tensor f = random_normal({6, 6, 7}, r, 0.0, 0.3);
    g = graph::build(graph::radius{{3.0}}, f.shape(), f);
    cam = random_uniform({4, 6, 7}, r);
  }
};

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every propagator satisfies the contract checker on every host backend", P,
                          propagator_contract) {
  const problem pr;
  const P p{};
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    INFO("mode " << int(mode));
    const walk::transition T = walk::make_transition(pr.g, {8.0f, mode});
    const auto on_cpu = testing::check_propagator(p, exec<cpu_t>{}, T, pr.cam, bad_config<P>());
    CHECK_MESSAGE(on_cpu.ok, on_cpu.log);
    workspace ws;
    const auto on_omp = testing::check_propagator(p, on(omp, ws), T, pr.cam);
    CHECK_MESSAGE(on_omp.ok, on_omp.log);
#if WSSS_TEST_THRUST
    const auto on_thrust = testing::check_propagator(p, exec<thrust_omp_t>{}, T, pr.cam);
    CHECK_MESSAGE(on_thrust.ok, on_thrust.log);
#endif
  }
}
TEST_CASE_TEMPLATE_APPLY(propagator_contract, all_propagators);

namespace {

/// A walk of 4 steps whatever t says: disagrees with dense_power.
struct short_walk : walk::sparse_power {
  using walk::sparse_power::sparse_power;
  static constexpr std::string_view name = "walk::short_walk";
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const walk::transition& T, const tensor& cam, tensor& out) const {
    walk::sparse_power{{4}}.run(ex, pl, T, cam, out);
  }
};
static_assert(walk::Propagator<short_walk>);

/// A "walk" that adds a small constant: zero channels do not stay zero.
struct leaky : walk::sparse_power {
  using walk::sparse_power::sparse_power;
  static constexpr std::string_view name = "walk::leaky";
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const walk::transition& T, const tensor& cam, tensor& out) const {
    walk::sparse_power::run(ex, pl, T, cam, out);
    for (float& v : out) v += 1e-3f;
  }
};
static_assert(walk::Propagator<leaky>);

}  // namespace

TEST_CASE("the walk contract checker catches broken propagators") {
  const problem pr;
  const walk::transition T = walk::make_transition(pr.g);
  const auto few = testing::check_propagator(short_walk{}, exec<cpu_t>{}, T, pr.cam);
  CHECK_FALSE(few.ok);
  CHECK(few.log.find("differs from dense_power") != std::string::npos);
  const auto leak = testing::check_propagator(leaky{}, exec<cpu_t>{}, T, pr.cam);
  CHECK_FALSE(leak.ok);
  CHECK(leak.log.find("did not stay zero") != std::string::npos);
}
