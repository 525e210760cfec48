// SPDX-License-Identifier: MIT
// wsss/nn/concepts.hpp — the Layer concept: parameters plus a forward that records ops
#pragma once

#include <concepts>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/autodiff/tape.hpp"

namespace wsss::nn {

/*  Layer contract
    A layer owns its parameters (ad::parameter, named with the checkpoint key, e.g.
    "features.0.weight") and computes its output by recording ad ops on the tape:
      ad::var operator()(ad::tape& t, ad::var x);   // reads t.training() for train/eval
      void visit_params(F&& f);                     // f(ad::parameter&) for every parameter,
                                                    // in a fixed order (the optimiser slot order)
    Optionally
      void visit_buffers(F&& f);                    // f(ad::parameter&) for non-trainable state
                                                    // saved with the weights (BN running stats)
    Guarantees: the visit order never changes for a given configuration, names are unique
    within a network, and operator() adds no parameters. Backward comes from the ops: a layer
    never writes gradients itself.                                                           */
template <class L>
concept Layer = requires(L& l, ad::tape& t, ad::var x, ad::parameter_visitor v) {
  { l(t, x) } -> std::same_as<ad::var>;
  l.visit_params(v);
};

/// A layer (or network) that also carries buffers, such as BN's running statistics.
template <class L>
concept HasBuffers = requires(L& l, ad::parameter_visitor v) { l.visit_buffers(v); };

}  // namespace wsss::nn
