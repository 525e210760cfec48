// SPDX-License-Identifier: MIT
// tests/isa/conv_tu.hpp — what each of the two translation units of test_isa computes: a
// forward and backward pass of conv2d through each product path (Winograd 3x3, im2col + GEMM,
// 1x1, the padding-skipping regions of a dilated layer, the thin first-layer weight gradient).
// native_tu.cpp compiles it with -march=native, plain_tu.cpp with -march=x86-64: one program
// holding both must compute the same in each (no wsss inline function or layout may depend on
// the TU's ISA macros, core/isa.hpp).
#pragma once

#include <string>
#include <vector>

#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/ops/detail/winograd.hpp"
#include "wsss/core/random.hpp"

namespace wsss_test {

/// One layer of the program: input, weights, a random output gradient, and the pass's results.
struct conv_layer {
  std::string name;
  wsss::tensor x, w, gy, y, gx, gw;
  wsss::ad::conv2d_config cfg;
};

/// The layers, computed in the calling TU (defined in native_tu.cpp and plain_tu.cpp).
std::vector<conv_layer> conv_layers_native();
std::vector<conv_layer> conv_layers_plain();

/// Winograd's weights transformed into the packed GEMM layout by one TU, and a forward pass
/// from such weights by one TU: the test hands one TU's layout to the other, where the layouts
/// would differ if they depended on the TU's flags.
std::vector<float> wino_weights_native(const wsss::tensor& x, const wsss::tensor& w);
std::vector<float> wino_weights_plain(const wsss::tensor& x, const wsss::tensor& w);
wsss::tensor wino_forward_native(const wsss::tensor& x, const wsss::tensor& w, const std::vector<float>& u);
wsss::tensor wino_forward_plain(const wsss::tensor& x, const wsss::tensor& w, const std::vector<float>& u);

/// Whether the TU that compiled conv_layers_native saw AVX-512 in its flags (for the report).
bool native_tu_has_avx512();

/// Winograd's plan for a 3x3, pad 1 convolution of x by w.
inline wsss::ad::detail::wino_plan wino_plan_of(const wsss::tensor& x, const wsss::tensor& w) {
  namespace dt = wsss::ad::detail;
  const dt::conv_geometry g = dt::conv2d_geometry(x, w, nullptr, wsss::ad::conv2d_config::square(1, 1), "test_isa");
  return dt::wino_forward_plan(g, w.dim(0));
}

inline std::vector<float> wino_weights_here(const wsss::tensor& x, const wsss::tensor& w) {
  namespace dt = wsss::ad::detail;
  const dt::wino_plan p = wino_plan_of(x, w);
  std::vector<float> u(static_cast<std::size_t>(dt::wino_nn * dt::wino_u_rows(p.o) * p.c));
  dt::wino_transform_weights(p, w.data(), p.c * 9, 9, 3, 1, u.data(), 1);
  return u;
}

inline wsss::tensor wino_forward_here(const wsss::tensor& x, const wsss::tensor& w, const std::vector<float>& u) {
  namespace dt = wsss::ad::detail;
  const dt::wino_plan p = wino_plan_of(x, w);
  wsss::tensor y({x.dim(0), p.o, p.oh, p.ow});
  dt::wino_run_forward(p, u.data(), x.data(), x.dim(0), y.data(), 1);
  return y;
}

/// The body both TUs compile: inline, so each TU instantiates wsss's kernels itself.
inline std::vector<conv_layer> conv_layers_here() {
  using namespace wsss;
  struct spec {
    const char* name;
    index_t n, c, h, w, o, k, pad, dil;
  };
  const spec specs[] = {{"winograd 3x3 32->48", 2, 32, 20, 22, 48, 3, 1, 1},
                        {"im2col 3x3 stride-1 5->12", 1, 5, 17, 15, 12, 3, 1, 1},
                        {"pointwise 64->40", 2, 64, 9, 11, 40, 1, 0, 1},
                        {"dilated regions 16->24 d6", 1, 16, 14, 13, 24, 3, 6, 6},
                        {"first layer 3->16 at 80x72", 2, 3, 80, 72, 16, 3, 1, 1}};
  rng gen(41);
  std::vector<conv_layer> out;
  for (const spec& s : specs) {
    conv_layer l{s.name, random_normal({s.n, s.c, s.h, s.w}, gen), random_normal({s.o, s.c, s.k, s.k}, gen), {}, {}, {}, {},
                 ad::conv2d_config::square(1, s.pad, s.dil)};
    ad::tape t;
    const ad::var xv = t.leaf(l.x, true), wv = t.leaf(l.w, true);
    const ad::var y = ad::conv2d(xv, wv, ad::var{}, l.cfg);
    l.gy = random_normal(y.shape(), gen);
    t.backward(y, l.gy);
    l.y = y.value();
    l.gx = *t.grad(xv);
    l.gw = *t.grad(wv);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace wsss_test
