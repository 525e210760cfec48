// SPDX-License-Identifier: MIT
// tests/backend/walk_device.test.cpp — walk::device_sparse_power through the public contract
// checker on host tags and Thrust's OpenMP system, on OpenCL (PoCL) against sparse_power, and
// its transfers
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <wsss/backend/thrust/for_each_index.hpp>
#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/opencl.hpp>
#include <wsss/testing/walk.hpp>
#include <wsss/walk.hpp>

using namespace wsss;

namespace {

// A radius-5 affinity graph of smooth random features on h x w and c CAM channels in [0, 1],
// one of them all zero (it must stay exactly zero).
struct problem {
  graph::csr_graph g;
  tensor cam;
  problem(index_t h, index_t w, index_t c, std::uint64_t seed) {
    rng r(seed);
    const tensor f = random_normal({8, h, w}, r, 0.0, 0.4);
    g = graph::build(graph::radius{{5.0}}, f.shape(), f);
    cam = random_uniform({c, h, w}, r);
    std::fill(cam.data() + h * w, cam.data() + 2 * h * w, 0.0f);
  }
};

float max_abs_diff(const tensor& a, const tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float d = 0;
  for (index_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

}  // namespace

TEST_CASE("device_sparse_power satisfies the propagator contract on cpu, omp and thrust_omp (same bits)") {
  const problem pr(6, 7, 4, 23);
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    INFO("mode " << int(mode));
    const walk::transition T = walk::make_transition(pr.g, {8.0f, mode});
    const auto on_cpu = testing::check_propagator(walk::device_sparse_power<cpu_t>{}, exec<cpu_t>{}, T, pr.cam,
                                                  walk::sparse_power::config{.t = -1});
    CHECK_MESSAGE(on_cpu.ok, on_cpu.log);
    const auto on_omp = testing::check_propagator(walk::device_sparse_power<omp_t>{}, exec<omp_t>{}, T, pr.cam);
    CHECK_MESSAGE(on_omp.ok, on_omp.log);
    const auto on_thrust =
        testing::check_propagator(walk::device_sparse_power<thrust_omp_t>{}, exec<thrust_omp_t>{}, T, pr.cam);
    CHECK_MESSAGE(on_thrust.ok, on_thrust.log);
  }
}

TEST_CASE("device_sparse_power equals sparse_power (thrust_omp and OpenCL on PoCL) and counts its transfers") {
  // AffinityNet's walk at 448 x 448: a 56 x 56 graph at stride 8, 21 channels, t = 256.
  const problem pr(56, 56, 21, 5);
  const walk::transition T = walk::make_transition(pr.g, {8.0f, walk::orientation::average});
  const walk::sparse_power::config cfg{.t = 256};
  const tensor ref = walk::propagate(walk::sparse_power{cfg}, T, pr.cam, exec<cpu_t>{});
  auto check = [&](const auto& ex) {
    const walk::device_sparse_power<typename std::remove_cvref_t<decltype(ex)>::backend_type> dev{cfg};
    auto pl = dev.prepare(ex, batch{}, pr.cam.shape());
    tensor out;
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the plan's device buffers
      const auto t0 = backend::transfers();
      dev.run(ex, pl, T, pr.cam, out);
      const auto d = backend::transfers() - t0;
      CHECK(d.uploads == 5);  // row_ptr, col, val, degrees, the packed CAMs
      CHECK(d.downloads == 1);
    }
    CHECK(std::all_of(out.data() + 56 * 56, out.data() + 2 * 56 * 56, [](float v) { return v == 0.0f; }));
    return max_abs_diff(out, ref);
  };
  const float d_thrust = check(exec<thrust_omp_t>{});
  const float d_cl = check(exec<opencl_t>{backend::opencl::default_queue()});
  MESSAGE("max |d| against sparse_power: thrust_omp ", d_thrust, ", OpenCL ", d_cl);
  CHECK(d_thrust < 1e-6f);  // the same row kernel; only the mass sums run in another order
  CHECK(d_cl < 1e-5f);
  static_assert(supports<walk::device_sparse_power<opencl_t>, opencl_t>::value);
}
