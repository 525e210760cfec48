// SPDX-License-Identifier: MIT
// tests/failtest/propagator.cpp — walk::random_walk_labels takes a Propagator; one that keeps
// its buffers itself (a run without a plan, the shape before the stage protocol) is refused
// with the concept named.
#include "wsss/walk/inference.hpp"

struct planless_propagator {
  static constexpr std::string_view name = "walk::planless";
  struct config {};
  struct plan {};
  config cfg{};
  template <class Tag>
  plan prepare(const wsss::exec<Tag>&, const wsss::batch&, const wsss::shape&) const {
    return {};
  }
  template <class Tag>
  void run(const wsss::exec<Tag>&, const wsss::walk::transition&, const wsss::tensor& cam, wsss::tensor& out) const {
    out = cam;
  }
};

#ifdef WSSS_SHOULD_FAIL
using prop = planless_propagator;
#else
using prop = wsss::walk::sparse_power;
#endif

wsss::label_map labels(const wsss::tensor& f, const wsss::tensor& cams) {
  return wsss::walk::random_walk_labels<wsss::graph::radius, prop>(wsss::exec<>{}, f, cams);
}
