// SPDX-License-Identifier: MIT
// tests/failtest/graph_builder.cpp — walk::random_walk_labels takes a GraphBuilder; one that
// binds its side data at construction and builds without a plan (the shape before the stage
// protocol) is refused with the concept named.
#include "wsss/walk/inference.hpp"

struct bound_builder {
  static constexpr std::string_view name = "graph::bound";
  static constexpr wsss::graph::weighting weights = wsss::graph::weighting::fixed;
  struct config {};
  struct plan : wsss::graph::structure_plan {};
  config cfg{};
  wsss::tensor descriptors;  // per-image data held by the policy: what the protocol forbids
  wsss::graph::csr_graph build(wsss::index_t height, wsss::index_t width) const;
};

#ifdef WSSS_SHOULD_FAIL
using builder = bound_builder;
#else
using builder = wsss::graph::radius;
#endif

wsss::label_map labels(const wsss::tensor& f, const wsss::tensor& cams) {
  return wsss::walk::random_walk_labels<builder>(wsss::exec<>{}, f, cams);
}
