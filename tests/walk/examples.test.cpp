// SPDX-License-Identifier: MIT
// tests/walk/examples.test.cpp — the compiled sources of docs/walk.md's snippets
#include <doctest/doctest.h>

#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/walk.hpp>

TEST_CASE("docs/walk.md: the walk in one call and with a kept plan") {
  wsss::rng rng(5);
  const wsss::tensor feats = wsss::random_normal({32, 20, 24}, rng, 0.0, 0.2);  // F x dh x dw
  const wsss::tensor cams = wsss::random_uniform({21, 20, 24}, rng);             // C x dh x dw
  const wsss::tensor fg_cams = wsss::random_uniform({20, 160, 192}, rng);        // K x H x W
  // example-begin walk-usage
  namespace graph = wsss::graph;
  namespace walk = wsss::walk;
  auto g = graph::build(graph::radius{}, feats.shape(), feats);  // eq. 3-4
  auto T = walk::make_transition(g);                             // eq. 11, beta 8
  auto rev = walk::propagate(walk::sparse_power{{256}}, T, cams);  // eq. 12, t 256

  // A pipeline keeps the plan (the walk's buffers) and the exec.
  const walk::chebyshev cheb({.t = 256, .tol = 1e-5});
  const wsss::exec<wsss::omp_t> ex{};
  auto plan = cheb.prepare(ex, {}, cams.shape());
  wsss::tensor out;
  cheb.run(ex, plan, T, cams, out);  // plan.degree products, error <= plan.bound

  // The reference inference with its slots: graph builder, propagator, exec.
  auto labels = walk::random_walk_labels(ex, feats, fg_cams, {}, graph::radius{}, walk::chebyshev{});
  // example-end
  CHECK(rev.shape() == cams.shape());
  CHECK(plan.degree < 256);
  CHECK(plan.bound <= 1e-5);
  double d = 0;
  for (wsss::index_t i = 0; i < out.numel(); ++i) d = std::max(d, std::abs(double(out[i]) - rev[i]));
  CHECK(d <= 1e-4);
  CHECK(labels.height() == 160);
}
