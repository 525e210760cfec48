// SPDX-License-Identifier: MIT
// tests/failtest/crf_engine.cpp — crf::bbox_seg takes a CrfEngine; an engine whose run is not
// const (the pre-protocol engine that kept its buffers as members) is refused with the
// concept named.
#include "wsss/crf/bbox.hpp"
#include "wsss/crf/mean_field.hpp"

struct mutable_engine {
  static constexpr std::string_view name = "mutable_engine";
  struct config {};
  struct plan {};
  config cfg;
  template <class Tag>
  plan prepare(const wsss::exec<Tag>&, const wsss::batch&, const wsss::shape&) const {
    return {};
  }
  template <class Tag>
  void run(const wsss::exec<Tag>&, plan&, const wsss::tensor& unary, wsss::tensor& q) {  // not const
    q = unary;
  }
};

#ifdef WSSS_SHOULD_FAIL
using engine = mutable_engine;
#else
using engine = wsss::crf::mean_field<>;
#endif

wsss::label_map segment(const wsss::rgb_image& img) { return wsss::crf::bbox_seg<engine>(img, {}, 2); }
