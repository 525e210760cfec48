// SPDX-License-Identifier: MIT
// tests/graph/builders.test.cpp — graph builders against naive O(n^2) constructions (AffinityNet eq. 4, attention eq. 8)
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <utility>

#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/superpixel/segmentation.hpp>

using namespace wsss;
using edge_set = std::set<std::pair<index_t, index_t>>;

namespace {

edge_set edges(const graph::csr_graph& g) {
  edge_set s;
  for (index_t i = 0; i < g.nodes(); ++i)
    for (index_t k = g.row_ptr[static_cast<std::size_t>(i)]; k < g.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
      s.insert({i, g.col[static_cast<std::size_t>(k)]});
  return s;
}

// Naive: every ordered pair of grid nodes whose predicate holds.
template <class Pred>
edge_set naive(index_t h, index_t w, Pred pred) {
  edge_set s;
  for (index_t i = 0; i < h * w; ++i)
    for (index_t j = 0; j < h * w; ++j)
      if (i != j && pred(i / w - j / w, i % w - j % w)) s.insert({i, j});
  return s;
}

}  // namespace

TEST_CASE("half_plane_offsets(5) are the reference's 34 offsets in its order") {
  std::vector<graph::offset> expected;
  for (int dx = 1; dx <= 4; ++dx) expected.push_back({0, dx});
  const int reach[] = {0, 4, 4, 3, 2};  // max |dx| with dx^2 + dy^2 < 25, per dy
  for (int dy = 1; dy <= 4; ++dy)
    for (int dx = -reach[dy]; dx <= reach[dy]; ++dx) expected.push_back({dy, dx});
  const auto got = graph::half_plane_offsets(5.0);
  REQUIRE(got.size() == 34);
  CHECK(got == expected);
  CHECK(got.front() == graph::offset{0, 1});
  CHECK(got[4] == graph::offset{1, -4});
  CHECK(got.back() == graph::offset{4, 2});
}

TEST_CASE("radius builder equals the naive pair set of eq. 4 (both orientations)") {
  for (double gamma : {1.0, 1.5, 2.3, 3.0, 5.0}) {
    for (const auto& hw : {std::pair<index_t, index_t>{7, 9}, {1, 6}, {11, 4}}) {
      const index_t h = hw.first, w = hw.second;  // named: clang 14 cannot capture a binding in INFO
      INFO("gamma " << gamma << " grid " << h << "x" << w);
      const auto g = graph::build(graph::radius{{gamma}}, {h, w});
      CHECK_NOTHROW(g.validate());
      CHECK(g.symmetric());
      CHECK(edges(g) == naive(h, w, [&](index_t dy, index_t dx) { return double(dy * dy + dx * dx) < gamma * gamma; }));
    }
  }
  // Interior degree for gamma 5 is 2 * 34 = 68.
  const auto g = graph::build(graph::radius{}, {20, 20});
  CHECK(g.degree(10 * 20 + 10) == 68);
}

TEST_CASE("4- and 8-connectivity equal their naive definitions") {
  const auto g4 = graph::build(graph::four_connected{}, {5, 6}), g8 = graph::build(graph::eight_connected{}, {5, 6});
  CHECK(edges(g4) == naive(5, 6, [](index_t dy, index_t dx) { return std::abs(dy) + std::abs(dx) == 1; }));
  CHECK(edges(g8) == naive(5, 6, [](index_t dy, index_t dx) { return std::max(std::abs(dy), std::abs(dx)) == 1; }));
  CHECK(g4.edges() == 2 * (5 * 5 + 4 * 6));
}

TEST_CASE("reference_pairs reproduces psa's 34 x 2496 training layout") {
  const auto p = graph::reference_pairs(56, 56, 5.0);
  REQUIRE(p.size() == 34 * 2496);
  const auto offs = graph::half_plane_offsets(5.0);
  rng g(3);
  for (int trial = 0; trial < 200; ++trial) {
    const index_t k = static_cast<index_t>(g.below(static_cast<std::uint64_t>(p.size())));
    const index_t o = k / 2496, f = k % 2496;  // offset-major; from pixel row-major in 52 x 48
    const index_t y = f / 48, x = 4 + f % 48;
    CHECK(p.from[static_cast<std::size_t>(k)] == y * 56 + x);
    CHECK(p.to[static_cast<std::size_t>(k)] == (y + offs[static_cast<std::size_t>(o)].dy) * 56 + x + offs[static_cast<std::size_t>(o)].dx);
  }
  CHECK_THROWS_WITH_AS(graph::reference_pairs(4, 56), doctest::Contains("[wsss.shape] graph::reference_pairs"),
                       wsss::shape_error);
}

TEST_CASE("psa's inference graph (border quirk) is a subgraph of the radius graph missing the border pairs") {
  const index_t h = 12, w = 14;
  const auto quirk = graph::from_pairs(graph::both_orientations(graph::reference_pairs(h, w)));
  const auto full = graph::build(graph::radius{}, {h, w});
  CHECK(quirk.symmetric());
  const edge_set q = edges(quirk), f = edges(full);
  for (const auto& e : q) CHECK(f.count(e) == 1);
  // A pair is missing exactly when neither end can be psa's "from" pixel for it: the
  // upper (or left, same row) end must lie in rows [0, h - 4), columns [4, w - 4).
  for (const auto& [i, j] : f) {
    const index_t a = std::min(i, j);
    const bool from_ok = a / w < h - 4 && a % w >= 4 && a % w < w - 4;
    CHECK(q.count({i, j}) == (from_ok ? 1u : 0u));
  }
  CHECK(quirk.degree((h - 1) * w + w / 2) < full.degree((h - 1) * w + w / 2));
}

TEST_CASE("half_plane_pairs hold every unordered radius pair exactly once") {
  const auto p = graph::half_plane_pairs(9, 8, 3.0);
  const auto g = graph::build(graph::radius{{3.0}}, {9, 8});
  edge_set un;
  for (index_t k = 0; k < p.size(); ++k) {
    const index_t a = p.from[static_cast<std::size_t>(k)], b = p.to[static_cast<std::size_t>(k)];
    CHECK(un.insert({std::min(a, b), std::max(a, b)}).second);
  }
  edge_set half;
  for (auto [i, j] : edges(g))
    if (i < j) half.insert({i, j});
  CHECK(un == half);
}

TEST_CASE("superpixel adjacency joins regions that share a 4-neighbour boundary") {
  rng g(11);
  superpixel::segmentation seg{superpixel::label_tensor({6, 7}), 7};
  superpixel::label_tensor& l = seg.labels;
  for (index_t i = 0; i < l.numel(); ++i) l[i] = static_cast<std::int32_t>(g.below(5));
  l[0] = 6;  // id 5 unused: an isolated node
  const graph::superpixel_adjacency sa;
  const batch one{.superpixels = {&seg, 1}};
  const auto adj = graph::build(sa, {6, 7}, {}, one);
  CHECK(adj.height == 1);
  CHECK(adj.width == 7);
  CHECK_NOTHROW(adj.validate());
  edge_set expected;
  for (index_t i = 0; i < 42; ++i)
    for (index_t j = 0; j < 42; ++j)
      if (std::abs(i / 7 - j / 7) + std::abs(i % 7 - j % 7) == 1 && l[i] != l[j]) expected.insert({l[i], l[j]});
  CHECK(edges(adj) == expected);
  CHECK(adj.degree(5) == 0);
  CHECK_THROWS_WITH_AS(graph::build(sa, {7, 6}, {}, one),
                       doctest::Contains("[wsss.shape] graph::superpixel_adjacency"), wsss::shape_error);
  l[3] = -2;  // -1 is "no superpixel" in a segmentation; below it nothing is valid
  CHECK_THROWS_WITH_AS(graph::build(sa, {6, 7}, {}, one), doctest::Contains("[wsss.value] graph::superpixel_adjacency"),
                       wsss::value_error);
}

TEST_CASE("superpixel adjacency: pixels of no superpixel (-1) join nothing") {
  // Two regions side by side, separated by a column of -1 (padding): no edge between them.
  superpixel::segmentation seg{superpixel::label_tensor({3, 5}), 2};
  for (index_t y = 0; y < 3; ++y)
    for (index_t x = 0; x < 5; ++x) seg.labels[y * 5 + x] = x < 2 ? 0 : x == 2 ? -1 : 1;
  const auto adj = graph::build(graph::superpixel_adjacency{}, {3, 5}, {}, batch{.superpixels = {&seg, 1}});
  CHECK(adj.nodes() == 2);
  CHECK(adj.edges() == 0);
  seg.labels[2] = 0;  // a bridge at the top row joins them
  CHECK(edges(graph::build(graph::superpixel_adjacency{}, {3, 5}, {}, batch{.superpixels = {&seg, 1}})) ==
        edge_set{{0, 1}, {1, 0}});
}

TEST_CASE("bilateral_full weights follow eq. 8 on every ordered pair") {
  rng g(5);
  const tensor r = random_uniform({4, 3, 5}, g, 0.0, 40.0);
  graph::bilateral_full::config cfg;
  cfg.stride = 4.0;
  const graph::bilateral_full bf(cfg);
  auto pl = bf.with_descriptors(r);
  graph::csr_graph b;
  bf.run(exec<cpu_t>{}, pl, {}, b);
  CHECK_NOTHROW(b.validate());
  CHECK(b.edges() == 15 * 14);
  CHECK(b.symmetric());
  for (index_t i = 0; i < 15; ++i)
    for (index_t j = 0; j < 15; ++j) {
      if (i == j) continue;
      double dz = 16.0 * double((i / 5 - j / 5) * (i / 5 - j / 5) + (i % 5 - j % 5) * (i % 5 - j % 5)), dr = 0;
      for (index_t c = 0; c < 4; ++c) dr += std::pow(double(r[c * 15 + i]) - r[c * 15 + j], 2);
      const double w = std::exp(-dz / 100.0) * std::exp(-dr / 900.0);
      CHECK(b.weight[static_cast<std::size_t>(b.find(i, j))] == doctest::Approx(w).epsilon(1e-5));
    }
  CHECK_THROWS_WITH_AS(graph::bilateral_full({0.0, 30.0, 1.0}), doctest::Contains("[wsss.value] graph::bilateral_full"),
                       wsss::value_error);
}

TEST_CASE("hsv_histograms count each cell's pixels once per channel") {
  rgb_image img(16, 24);
  for (index_t y = 0; y < 16; ++y)
    for (index_t x = 0; x < 24; ++x) {
      img(y, x, 0) = x < 12 ? 255 : 0;  // left half pure red (h 0, s 1, v 1)
      img(y, x, 1) = 0;
      img(y, x, 2) = x < 12 ? 0 : 128;  // right half dark blue (h 240 deg, s 1, v ~0.5)
    }
  const tensor h = graph::hsv_histograms(img, 2, 3, 8);
  CHECK(h.shape() == shape{24, 2, 3});
  for (index_t node = 0; node < 6; ++node)
    for (int ch = 0; ch < 3; ++ch) {
      double s = 0;
      for (int b = 0; b < 8; ++b) s += h[(ch * 8 + b) * 6 + node];
      CHECK(s == doctest::Approx(64.0));  // 8 x 8 pixels per cell
    }
  CHECK(h[(0 * 8 + 0) * 6 + 0] == 64.0f);       // red: hue bin 0
  CHECK(h[(8 + 7) * 6 + 0] == 64.0f);           // saturation 1: last bin
  CHECK(h[(16 + 7) * 6 + 0] == 64.0f);          // value 1: last bin
  CHECK(h[(0 * 8 + 5) * 6 + 2] == 64.0f);       // blue: hue 240/360 * 8 = bin 5
  CHECK(h[(16 + 4) * 6 + 2] == 64.0f);          // value 128/255: bin 4
}

TEST_CASE("bad graph input raises named exceptions") {
  CHECK_THROWS_WITH_AS(graph::radius{{0.5}}, doctest::Contains("[wsss.value] graph::radius"), wsss::value_error);
  CHECK_THROWS_WITH_AS(graph::half_plane_offsets(std::nan("")), doctest::Contains("[wsss.value] graph::half_plane_offsets"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(graph::build(graph::radius{}, {0, 5}), doctest::Contains("[wsss.value] graph::radius"), wsss::value_error);
  graph::pair_list p{2, 2, {0, 1}, {1, 1}};
  CHECK_THROWS_WITH_AS(graph::from_pairs(p), doctest::Contains("self-loop"), wsss::value_error);
  p.to[1] = 4;
  CHECK_THROWS_WITH_AS(graph::from_pairs(p), doctest::Contains("[wsss.value] graph::from_pairs"), wsss::value_error);
  auto g = graph::build(graph::four_connected{}, {3, 3});
  g.col[0] = 7;  // row 0 now lists 7 then 3: unsorted
  CHECK_THROWS_WITH_AS(g.validate(), doctest::Contains("strictly increasing"), wsss::value_error);
  auto gw = graph::build(graph::four_connected{}, {3, 3});
  tensor w({gw.edges()}, 0.5f);
  w[3] = std::nanf("");
  CHECK_THROWS_WITH_AS(graph::with_weights(gw, w), doctest::Contains("non-finite affinity"), wsss::value_error);
  CHECK_THROWS_WITH_AS(graph::with_weights(gw, tensor({3})), doctest::Contains("[wsss.shape] graph::with_weights"),
                       wsss::shape_error);
}

TEST_CASE("from_pairs keeps the pairs' weights: psa's weighted inference graph") {
  rng g(6);
  const index_t h = 12, w = 14;
  const tensor f = random_normal({5, h, w}, g);
  graph::pair_list half = graph::reference_pairs(h, w);
  const tensor a = graph::affinities(f, half);
  half.weight.assign(a.begin(), a.end());
  const auto quirk = graph::from_pairs(graph::both_orientations(half));
  CHECK_NOTHROW(quirk.validate());
  CHECK(quirk.symmetric(0.0f));
  // Every edge carries the affinity of its pair, as the radius builder's run computes it.
  const auto full = graph::build(graph::radius{}, {h, w}, f);
  for (index_t k = 0; k < half.size(); ++k) {
    const index_t i = half.from[static_cast<std::size_t>(k)], j = half.to[static_cast<std::size_t>(k)];
    CHECK(quirk.weight[static_cast<std::size_t>(quirk.find(i, j))] == a[k]);
    CHECK(full.weight[static_cast<std::size_t>(full.find(i, j))] == a[k]);
  }
  // A pair repeated with another weight is refused; without weights the graph stays bare.
  graph::pair_list twice{2, 2, {0, 0}, {1, 1}, {0.5f, 0.25f}};
  CHECK_THROWS_WITH_AS(graph::from_pairs(twice), doctest::Contains("[wsss.value] graph::from_pairs"), wsss::value_error);
  twice.weight = {0.5f, 0.5f};
  CHECK(graph::from_pairs(twice).weight == std::vector<float>{0.5f});
  twice.weight.clear();
  CHECK(!graph::from_pairs(twice).weighted());
  CHECK(graph::from_pairs(graph::edges_of(full)).weight == full.weight);
}
