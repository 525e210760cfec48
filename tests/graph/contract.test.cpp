// SPDX-License-Identifier: MIT
// tests/graph/contract.test.cpp — every GraphBuilder model through the public contract checker
// (wsss/testing/graph.hpp) on cpu, omp and thrust_omp (the same bits from every launcher), and
// the checker itself against broken builders
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/opencl.hpp>
#include <wsss/superpixel/segmentation.hpp>
#include <wsss/testing/graph.hpp>

// thrust_omp runs where the tests link wsss::thrust_omp (Thrust found, THRUST_DEVICE_SYSTEM set).
#if __has_include(<thrust/for_each.h>) && defined(THRUST_DEVICE_SYSTEM)
#include <wsss/backend/thrust/for_each_index.hpp>
#define WSSS_TEST_THRUST 1
#endif

using namespace wsss;

namespace {

/// Every GraphBuilder model of the library.
using all_builders = std::tuple<graph::radius, graph::four_connected, graph::eight_connected,
                                graph::superpixel_adjacency, graph::bilateral_full>;

constexpr index_t grid_h = 6, grid_w = 7;

/// What each model's check needs: the builder, the batch it reads, F x H x W features and a
/// config its constructor must reject.
template <class B>
struct setup {
  B builder{};
  std::optional<typename B::config> bad;
  std::vector<rgb_image> images;
  std::vector<superpixel::segmentation> superpixels;
  tensor features;
  batch data() const { return {.images = images, .superpixels = superpixels}; }
};

template <class B>
setup<B> make_setup() {
  rng g(17);
  setup<B> s;
  s.features = random_normal({5, grid_h, grid_w}, g);
  if constexpr (std::is_same_v<B, graph::radius>) {
    s.builder = graph::radius{{2.5}};
    s.bad = graph::radius::config{0.5};
  } else if constexpr (std::is_same_v<B, graph::four_connected> || std::is_same_v<B, graph::eight_connected>) {
    s.bad = typename B::config{static_cast<graph::distance>(7)};
  } else if constexpr (std::is_same_v<B, graph::superpixel_adjacency>) {
    // Random ids in [0, 5) with a -1 (no superpixel) corner.
    superpixel::segmentation seg{superpixel::label_tensor({grid_h, grid_w}), 5};
    for (index_t i = 0; i < seg.labels.numel(); ++i) seg.labels[i] = static_cast<std::int32_t>(g.below(5));
    seg.labels[0] = -1;
    s.superpixels.push_back(std::move(seg));
  } else if constexpr (std::is_same_v<B, graph::bilateral_full>) {
    rgb_image img(4 * grid_h, 4 * grid_w);
    for (index_t y = 0; y < img.height(); ++y)
      for (index_t x = 0; x < img.width(); ++x)
        for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(g.below(256));
    s.images.push_back(std::move(img));
    s.builder = graph::bilateral_full({.stride = 4.0});
    s.bad = graph::bilateral_full::config{10.0, -1.0};
  }
  return s;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every graph builder satisfies the contract checker on every host backend", B,
                          builder_contract) {
  const setup<B> s = make_setup<B>();
  const shape grid{grid_h, grid_w};
  const auto on_cpu = testing::check_graph_builder(s.builder, exec<cpu_t>{}, grid, s.data(), s.features, s.bad);
  CHECK_MESSAGE(on_cpu.ok, on_cpu.log);
  workspace ws;
  const auto on_omp = testing::check_graph_builder(s.builder, on(omp, ws), grid, s.data(), s.features, s.bad);
  CHECK_MESSAGE(on_omp.ok, on_omp.log);
#if WSSS_TEST_THRUST
  const auto on_thrust = testing::check_graph_builder(s.builder, exec<thrust_omp_t>{}, grid, s.data(), s.features);
  CHECK_MESSAGE(on_thrust.ok, on_thrust.log);
#endif
  if constexpr (B::weights == graph::weighting::learned) {
    B paper = s.builder;  // eq. 3 as the paper writes it
    paper.cfg.dist = graph::distance::sum_l1;
    const auto sum_l1 = testing::check_graph_builder(paper, exec<cpu_t>{}, grid, s.data(), s.features);
    CHECK_MESSAGE(sum_l1.ok, sum_l1.log);
  }
}
TEST_CASE_TEMPLATE_APPLY(builder_contract, all_builders);

// ---- the device twins of the learned builders (graph/device.hpp) ----------------------------

TEST_CASE_TEMPLATE_DEFINE("the device twins of the learned builders satisfy the contract checker on host tags, "
                          "thrust_omp and OpenCL", B, device_builder_contract) {
  const setup<B> s = make_setup<B>();
  const shape grid{grid_h, grid_w};
  const auto on_cpu = testing::check_graph_builder(graph::device_graph<B, cpu_t>{s.builder.cfg}, exec<cpu_t>{}, grid,
                                                   s.data(), s.features, s.bad);
  CHECK_MESSAGE(on_cpu.ok, on_cpu.log);
  const auto on_omp = testing::check_graph_builder(graph::device_graph<B, omp_t>{s.builder.cfg}, exec<omp_t>{}, grid,
                                                   s.data(), s.features);
  CHECK_MESSAGE(on_omp.ok, on_omp.log);
#if WSSS_TEST_THRUST
  const auto on_thrust = testing::check_graph_builder(graph::device_graph<B, thrust_omp_t>{s.builder.cfg},
                                                      exec<thrust_omp_t>{}, grid, s.data(), s.features);
  CHECK_MESSAGE(on_thrust.ok, on_thrust.log);
#endif
  const auto on_cl = testing::check_graph_builder(graph::device_graph<B, opencl_t>{s.builder.cfg},
                                                  exec<opencl_t>{backend::opencl::default_queue()}, grid, s.data(),
                                                  s.features, s.bad);
  CHECK_MESSAGE(on_cl.ok, on_cl.log);
  static_assert(supports<graph::device_graph<B, opencl_t>, opencl_t>::value);
}
TEST_CASE_TEMPLATE_APPLY(device_builder_contract, std::tuple<graph::radius, graph::four_connected, graph::eight_connected>);

TEST_CASE("device_radius gives radius's weights at AffinityNet's 448 x 448 (host bits, OpenCL's exp within 2e-7) and "
          "counts its transfers") {
  // psa's affinity features at 448 x 448: 448 channels on the 56 x 56 stride-8 grid, gamma 5.
  rng g(21);
  const tensor f = random_normal({448, 56, 56}, g, 0.0, 0.05);
  for (const graph::distance dist : {graph::distance::mean_l1, graph::distance::sum_l1}) {
    INFO("distance " << int(dist));
    const graph::radius host({5.0, dist});
    const graph::csr_graph ref = graph::build(host, f.shape(), f, {}, exec<cpu_t>{});
    auto on = [&](const auto& ex) {
      using Tag = typename std::remove_cvref_t<decltype(ex)>::backend_type;
      const graph::device_radius<Tag> dev(host.cfg);
      auto pl = dev.prepare(ex, {}, f.shape());
      graph::csr_graph out;
      for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the plan's device arrays
        const auto t0 = backend::transfers();
        dev.run(ex, pl, f, out);
        const auto d = backend::transfers() - t0;
        CHECK(d.uploads == (repeat == 0 ? 5u : 1u));  // the pair lists once per plan, then the features
        CHECK(d.downloads == 1);                      // the weights
      }
      REQUIRE(out.row_ptr == ref.row_ptr);
      REQUIRE(out.col == ref.col);
      return out.weight;
    };
    CHECK(on(exec<cpu_t>{}) == ref.weight);
    CHECK(on(exec<omp_t>{}) == ref.weight);
#if WSSS_TEST_THRUST
    CHECK(on(exec<thrust_omp_t>{}) == ref.weight);
#endif
    const std::vector<float> cl = on(exec<opencl_t>{backend::opencl::default_queue()});
    REQUIRE(cl.size() == ref.weight.size());
    float rel = 0;
    for (std::size_t e = 0; e < cl.size(); ++e) rel = std::max(rel, std::abs(cl[e] - ref.weight[e]) / ref.weight[e]);
    MESSAGE("OpenCL eq. 3 against the host: max relative difference ", rel);
    CHECK(rel <= 2e-7f);  // the same distance sums; exp may round differently by an ulp
  }
}

namespace {

/// A radius builder whose run drops the first edge's weight to half: asymmetric, not eq. 3.
struct lopsided : graph::radius {
  using graph::radius::radius;
  static constexpr std::string_view name = "graph::lopsided";
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& f, graph::csr_graph& out) const {
    graph::radius::run(ex, pl, f, out);
    if (out.weighted()) out.weight[0] *= 0.5f;
  }
};
static_assert(graph::GraphBuilder<lopsided>);

/// A builder that ignores the grid it is given (always 3 x 3) and has an empty name.
struct fixed_grid : graph::four_connected {
  using graph::four_connected::four_connected;
  static constexpr std::string_view name = "";
  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const shape&) const {
    return graph::four_connected::prepare(ex, b, shape{3, 3});
  }
};
static_assert(graph::GraphBuilder<fixed_grid>);

}  // namespace

TEST_CASE("the graph contract checker catches broken builders") {
  const setup<graph::radius> s = make_setup<graph::radius>();
  const auto bad_weights = testing::check_graph_builder(lopsided{}, exec<cpu_t>{}, {grid_h, grid_w}, {}, s.features);
  CHECK_FALSE(bad_weights.ok);
  CHECK(bad_weights.log.find("asymmetric") != std::string::npos);
  CHECK(bad_weights.log.find("eq. 3") != std::string::npos);
  const auto bad_grid = testing::check_graph_builder(fixed_grid{}, exec<cpu_t>{}, {grid_h, grid_w});
  CHECK_FALSE(bad_grid.ok);
  CHECK(bad_grid.log.find("name") != std::string::npos);
  CHECK(bad_grid.log.find("neither the grid") != std::string::npos);
}
