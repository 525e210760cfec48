// SPDX-License-Identifier: MIT
// tests/graph/examples.test.cpp — the compiled sources of docs/graph.md's snippets
#include <doctest/doctest.h>

#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/losses/affinity.hpp>
#include <wsss/superpixel/segmentation.hpp>

TEST_CASE("docs/graph.md: builders in one call and with a kept plan") {
  wsss::rng rng(3);
  const wsss::tensor features = wsss::random_normal({448, 56, 56}, rng);  // F x H x W (AffinityNet head)
  wsss::rgb_image image(448, 448, 128);
  wsss::superpixel::segmentation slic{wsss::superpixel::label_tensor({56, 56}), 1};
  // example-begin graph-usage
  namespace graph = wsss::graph;
  // One call: psa's affinity graph, eq. 4 (gamma 5) weighted by eq. 3 (mean L1, as psa).
  const graph::csr_graph w = graph::build(graph::radius{}, features.shape(), features);

  // Many images on one grid: prepare the structure once, run per image.
  const graph::radius paper({.gamma = 5.0, .dist = graph::distance::sum_l1});  // eq. 3 as printed
  wsss::workspace ws;
  const auto ex = wsss::on(wsss::omp, ws);
  auto plan = paper.prepare(ex, {}, features.shape());  // plan.graph (CSR), plan.pairs (CSR order)
  graph::csr_graph out;
  paper.run(ex, plan, features, out);        // overwrites out, one weight per edge
  paper.run(ex, plan, wsss::tensor{}, out);  // empty features: the structure only

  // Per-image builders read the batch (one item): superpixels, or the image's histograms.
  const auto adj = graph::build(graph::superpixel_adjacency{}, {56, 56}, {}, {.superpixels = {&slic, 1}});
  const auto bil = graph::build(graph::bilateral_full({.stride = 16.0}), {28, 28}, {}, {.images = {&image, 1}});
  // example-end
  CHECK(w.weighted());
  CHECK(w.edges() == plan.graph.edges());
  CHECK(!out.weighted());
  CHECK(adj.nodes() == 1);
  CHECK(bil.edges() == 784 * 783);
}

TEST_CASE("docs/graph.md: an AffinityNet training step") {
  wsss::rng rng(4);
  const std::vector<wsss::label_map> label_maps(2, wsss::label_map(56, 56, 0));
  // example-begin affinity-training
  namespace graph = wsss::graph;
  namespace ad = wsss::ad;
  const wsss::exec<> ex{};
  auto pairs = graph::reference_pairs(56, 56);  // 34 x 2496, psa's order
  const wsss::losses::affinity_loss loss;      // the code's 1/4, 1/4, 1/2; paper(): eq. 10's 1, 1, 2
  auto labels = loss.prepare(ex, {.labels = label_maps}, pairs);  // N x E pair labels
  ad::tape tape;
  const ad::var feats = tape.leaf(wsss::random_normal({2, 448, 56, 56}, rng), true);  // N x F x H x W
  const ad::var a = ad::apply(tape, graph::affinity_op{&pairs}, feats);             // N x E affinities
  const ad::var L = loss.record(tape, labels, a);  // {1}; pairs and labels outlive backward
  tape.backward(L);
  // example-end
  CHECK(tape.value(L).numel() == 1);
  REQUIRE(tape.grad(feats) != nullptr);
}
