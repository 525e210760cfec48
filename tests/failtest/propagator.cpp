// SPDX-License-Identifier: MIT
// tests/failtest/propagator.cpp — walk::random_walk_labels takes a Propagator; one that returns
// its result through an out-parameter instead of a tensor is refused with the concept named.
#include "wsss/walk/inference.hpp"

struct out_param_propagator {
  static constexpr std::string_view name = "out_param";
  struct config {};
  void propagate(wsss::cpu_t, const wsss::walk::transition&, const wsss::tensor&) const {}
};

#ifdef WSSS_SHOULD_FAIL
using prop = out_param_propagator;
#else
using prop = wsss::walk::sparse_power;
#endif

wsss::label_map labels(const wsss::tensor& f, const wsss::tensor& cams) {
  return wsss::walk::random_walk_labels<prop>(f, cams);
}
