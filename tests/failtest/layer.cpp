// SPDX-License-Identifier: MIT
// tests/failtest/layer.cpp — an optimiser built from a network takes a Layer; a type with no
// parameters to visit (only a call operator) is refused with the concept named.
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/optim/sgd.hpp"

struct not_a_layer {
  wsss::ad::var operator()(wsss::ad::tape&, wsss::ad::var x) { return x; }
};

#ifdef WSSS_SHOULD_FAIL
using net = not_a_layer;
#else
using net = wsss::nn::conv2d;
#endif

wsss::nn::optim::sgd make_optimiser(net& n) { return wsss::nn::optim::sgd(n, {}); }
