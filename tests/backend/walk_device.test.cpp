// SPDX-License-Identifier: MIT
// tests/backend/walk_device.test.cpp — walk::device_sparse_power through the public contract
// checker on host tags and Thrust's OpenMP system, on OpenCL (PoCL) against sparse_power, and
// its transfers
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

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

TEST_CASE("device_sparse_power makes T where W is (resident_graph): the host T's bits, W and T never cross the bus") {
  // AffinityNet's chain at 448 x 448: eq. 3 on the device (device_radius::weigh), T built there
  // by make_transition's kernels, the walk; against the same walk given the host's T.
  rng r(17);
  const tensor f = random_normal({32, 56, 56}, r, 0.0, 0.1);
  tensor cam = random_uniform({21, 56, 56}, r);
  std::fill(cam.data() + 56 * 56, cam.data() + 2 * 56 * 56, 0.0f);
  const graph::radius host_graph({5.0});
  const graph::csr_graph wg = graph::build(host_graph, f.shape(), f, {}, exec<cpu_t>{});
  const walk::sparse_power::config cfg{.t = 64};
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    INFO("mode " << int(mode));
    const walk::transition_config tc{8.0f, mode};
    const walk::transition T = walk::make_transition(wg, tc);
    const tensor host = walk::propagate(walk::sparse_power{cfg}, T, cam, exec<cpu_t>{});
    auto on = [&](const auto& ex) {
      using Tag = typename std::remove_cvref_t<decltype(ex)>::backend_type;
      const graph::device_radius<Tag> g(host_graph.cfg);
      const walk::device_sparse_power<Tag> w{cfg};
      static_assert(walk::resident_chain<graph::device_radius<Tag>, walk::device_sparse_power<Tag>>);
      auto gp = g.prepare(ex, {}, f.shape());
      auto wp = w.prepare(ex, {}, cam.shape());
      tensor given, resident;
      w.run(ex, wp, T, cam, given);  // the host's T uploaded
      for (int repeat = 0; repeat < 2; ++repeat) {
        const auto t0 = backend::transfers();
        w.run(ex, wp, walk::resident_graph<Tag>{gp.graph, g.weigh(ex, gp, f), tc}, cam, resident);
        const auto d = backend::transfers() - t0;
        // first run: the pair lists (4) and T's layout (4) once per grid; then the features and CAMs only
        CHECK(d.uploads == (repeat == 0 ? 10u : 2u));
        CHECK(d.downloads == 1);  // the walked scores
      }
      CHECK(std::all_of(resident.data() + 56 * 56, resident.data() + 2 * 56 * 56, [](float v) { return v == 0.0f; }));
      return std::pair{max_abs_diff(resident, given), max_abs_diff(resident, host)};
    };
    CHECK(on(exec<cpu_t>{}).first == 0.0f);
    CHECK(on(exec<omp_t>{}).first == 0.0f);
    CHECK(on(exec<thrust_omp_t>{}).first == 0.0f);
    const auto [cl_given, cl_host] = on(exec<opencl_t>{backend::opencl::default_queue()});
    MESSAGE("OpenCL resident chain: max |d| ", cl_given, " against its walk on the host's T, ", cl_host,
            " against sparse_power");
    CHECK(cl_given < 1e-5f);  // OpenCL's exp and pow may round differently by an ulp
    CHECK(cl_host < 1e-5f);
  }
}

TEST_CASE("device_sparse_power on a resident_graph: a structure-only W, named errors") {
  const problem pr(9, 11, 3, 4);
  graph::csr_graph s = pr.g;
  s.weight.clear();  // W_ij = 1 on the edges
  const walk::transition T = walk::make_transition(s, {});
  const walk::device_sparse_power<thrust_omp_t> w{{.t = 12}};
  const exec<thrust_omp_t> ex;
  auto wp = w.prepare(ex, {}, pr.cam.shape());
  tensor given, resident;
  w.run(ex, wp, T, pr.cam, given);
  w.run(ex, wp, walk::resident_graph<thrust_omp_t>{s, nullptr, {}}, pr.cam, resident);
  CHECK(max_abs_diff(resident, given) == 0.0f);
  CHECK(max_abs_diff(resident, walk::propagate(walk::sparse_power{{.t = 12}}, T, pr.cam, exec<cpu_t>{})) < 1e-6f);

  const auto short_weights = backend::to_device(thrust_omp, std::span<const float>(pr.g.weight.data(), 5));
  CHECK_THROWS_AS(w.run(ex, wp, walk::resident_graph<thrust_omp_t>{s, &short_weights, {}}, pr.cam, resident), shape_error);
  CHECK_THROWS_AS(w.run(ex, wp, walk::resident_graph<thrust_omp_t>{s, nullptr, {0.0f}}, pr.cam, resident), value_error);
  graph::csr_graph lopsided = s;  // drop node 0's first edge: no longer symmetric
  lopsided.col.erase(lopsided.col.begin());
  for (std::size_t i = 1; i < lopsided.row_ptr.size(); ++i) --lopsided.row_ptr[i];
  CHECK_THROWS_AS(w.run(ex, wp, walk::resident_graph<thrust_omp_t>{lopsided, nullptr, {}}, pr.cam, resident), value_error);
  static_assert(!walk::resident_chain<graph::radius, walk::device_sparse_power<cpu_t>>);
  static_assert(!walk::resident_chain<graph::device_radius<omp_t>, walk::device_sparse_power<cpu_t>>);
}

TEST_CASE("device_sparse_power walks a batch on one grid as its disjoint union: each image's bits alone") {
  // Three images on a 20 x 23 grid (460 nodes: two mass chunks each, the second partial, so no
  // chunk may cross into the next image), stride 2 on 40 x 46 CAMs, three walked planes each.
  constexpr index_t images = 3, h = 40, w = 46, stride = 2, gh = 20, gw = 23;
  rng r(29);
  std::vector<tensor> feats, cams;
  const std::vector<std::vector<index_t>> planes{{0, 2, 3}, {1, 2, 4}, {5, 0, 3}};
  for (index_t i = 0; i < images; ++i) {
    feats.push_back(random_normal({12, gh, gw}, r, 0.0, 0.3));
    tensor c({6, h, w});
    const tensor u = random_uniform({3, h, w}, r);
    for (index_t j = 0; j < 3; ++j) std::copy_n(u.data() + j * h * w, h * w, c.data() + planes[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] * h * w);
    cams.push_back(std::move(c));
  }
  const tensor stacked = graph::stack_features(feats);  // 3 x 12 x gh x gw
  CHECK(stacked.shape() == shape{images, 12, gh, gw});
  const std::vector<tensor> two_shapes{feats[0], tensor({12, gh, gw + 1})};
  CHECK_THROWS_WITH_AS(graph::stack_features(two_shapes), doctest::Contains("feature map 1 is"), shape_error);
  const walk::sparse_power::config cfg{.t = 40, .keep_mass = 16};
  auto on = [&](const auto& ex, walk::orientation mode) {
    using Tag = typename std::remove_cvref_t<decltype(ex)>::backend_type;
    const graph::device_radius<Tag> g;
    const walk::device_sparse_power<Tag> wk{cfg};
    const walk::transition_config tc{8.0f, mode};
    auto gp = g.prepare(ex, {}, feats.front().shape());
    auto wp = wk.prepare(ex, {}, shape{7, gh, gw});
    walk::device::inference_buffers<Tag> b;
    std::vector<float> alone, weights_alone;  // image after image
    for (index_t i = 0; i < images; ++i) {
      const auto& wt = *g.weigh(ex, gp, feats[static_cast<std::size_t>(i)]);
      const auto wv = backend::to_host(ex.tag, wt);
      weights_alone.insert(weights_alone.end(), wv.begin(), wv.end());
      const auto m = walk::make_device_walk_input(ex.tag, b, cams[static_cast<std::size_t>(i)],
                                                  std::span<const index_t>(planes[static_cast<std::size_t>(i)]), 16.0f, stride);
      const auto y = backend::to_host(ex.tag, wk.run(ex, wp, walk::resident_graph<Tag>{gp.graph, &wt, tc}, m).x);
      alone.insert(alone.end(), y.begin(), y.end());
    }
    const auto t0 = backend::transfers();
    const auto m = walk::make_device_walk_input(ex.tag, b, std::span<const tensor>(cams), planes, 16.0f, stride);
    const auto* wt = g.weigh(ex, gp, stacked);
    CHECK(backend::to_host(ex.tag, *wt) == weights_alone);  // eq. 3: image b's weights at b edges
    const walk::device_walked<Tag> s = wk.run(ex, wp, walk::resident_graph<Tag>{gp.graph, wt, tc, images}, m);
    CHECK(s.images == images);
    const auto together = backend::to_host(ex.tag, s.x);
    const auto d = backend::transfers() - t0;
    CHECK(d.uploads == 2 + 4);  // the CAM planes and the features; T's layout of the union once
    CHECK(d.downloads == 2);    // the two checks' downloads: nothing else crosses the bus
    CHECK(together.size() == alone.size());
    index_t differ = 0;
    for (std::size_t k = 0; k < std::min(together.size(), alone.size()); ++k) differ += together[k] != alone[k];
    return differ;
  };
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    INFO("mode " << int(mode));
    CHECK(on(exec<cpu_t>{}, mode) == 0);
    CHECK(on(exec<omp_t>{}, mode) == 0);
    CHECK(on(exec<thrust_omp_t>{}, mode) == 0);
    CHECK(on(exec<opencl_t>{backend::opencl::default_queue()}, mode) == 0);
  }

  // Named errors: a walk input of another batch size, weights of another, no image.
  const exec<thrust_omp_t> ex;
  const graph::device_radius<thrust_omp_t> g;
  const walk::device_sparse_power<thrust_omp_t> wk{cfg};
  auto gp = g.prepare(ex, {}, feats.front().shape());
  auto wp = wk.prepare(ex, {}, shape{7, gh, gw});
  walk::device::inference_buffers<thrust_omp_t> b;
  const auto m = walk::make_device_walk_input(ex.tag, b, std::span<const tensor>(cams), planes, 16.0f, stride);
  const auto* wt = g.weigh(ex, gp, stacked);
  CHECK_THROWS_WITH_AS(wk.run(ex, wp, walk::resident_graph<thrust_omp_t>{gp.graph, nullptr, {}, 2}, m),
                       doctest::Contains("3 image(s)) does not fit the graph's 20x23 grid (2 image(s))"), shape_error);
  CHECK_THROWS_WITH_AS(wk.run(ex, wp, walk::resident_graph<thrust_omp_t>{gp.graph, wt, {}, 2}, m),
                       doctest::Contains("2 graph(s) of"), shape_error);
  CHECK_THROWS_AS(wk.run(ex, wp, walk::resident_graph<thrust_omp_t>{gp.graph, nullptr, {}, 0}, m), value_error);
  CHECK_THROWS_WITH_AS(g.weigh(ex, gp, tensor({2, 12, gh, gw + 1})), doctest::Contains("but the plan's grid is 20x23"),
                       shape_error);
  const std::vector<tensor> two_sizes{cams[0], tensor({6, h, w - 2})};
  CHECK_THROWS_WITH_AS(walk::make_device_walk_input(ex.tag, b, std::span<const tensor>(two_sizes),
                                                    std::span<const std::vector<index_t>>(planes.data(), 2), 16.0f, stride),
                       doctest::Contains("a batch shares one shape"), shape_error);
  const std::vector<std::vector<index_t>> short_list{{0, 2, 3}, {1, 2}};
  CHECK_THROWS_WITH_AS(walk::make_device_walk_input(ex.tag, b, std::span<const tensor>(cams.data(), 2), short_list, 16.0f, stride),
                       doctest::Contains("image 1 of the batch"), shape_error);
  const std::vector<std::vector<index_t>> wrong{{0, 2, 3}, {0, 2, 3}};  // image 1's plane 1 is not listed
  CHECK_THROWS_WITH_AS(walk::make_device_walk_input(ex.tag, b, std::span<const tensor>(cams.data(), 2), wrong, 16.0f, stride),
                       doctest::Contains("CAM channel 1 of image 1 is non-zero"), value_error);
}

TEST_CASE("docs/walk.md: eq. 3, T and the walk on a device") {
  rng r(3);
  const tensor feats = random_normal({16, 20, 24}, r, 0.0, 0.2);  // F x dh x dw
  const tensor cams = random_uniform({21, 20, 24}, r);             // C x dh x dw
  // example-begin walk-resident
  const exec<opencl_t> ex{backend::opencl::default_queue()};  // or exec<cuda_t>, exec<thrust_omp_t>, ...
  const graph::device_radius<opencl_t> g;                      // eq. 3 on the device
  const walk::device_sparse_power<opencl_t> w{{.t = 256}};     // eq. 12 on the device
  auto gp = g.prepare(ex, {}, feats.shape());
  auto wp = w.prepare(ex, {}, cams.shape());
  tensor rev;
  // W stays where weigh made it; T (eq. 11, beta 8) is built there: features and CAMs up, rev down.
  w.run(ex, wp, walk::resident_graph<opencl_t>{gp.graph, g.weigh(ex, gp, feats), {.beta = 8}}, cams, rev);
  // example-end
  const walk::transition T = walk::make_transition(graph::build(graph::radius{}, feats.shape(), feats), {.beta = 8});
  CHECK(max_abs_diff(rev, walk::propagate(walk::sparse_power{{.t = 256}}, T, cams)) < 1e-5f);
}
