// SPDX-License-Identifier: MIT
// tests/isa/plain_tu.cpp — conv_tu.hpp's layers compiled with -march=x86-64 (tests/CMakeLists.txt).
#include "isa/conv_tu.hpp"

namespace wsss_test {
std::vector<conv_layer> conv_layers_plain() { return conv_layers_here(); }
std::vector<float> wino_weights_plain(const wsss::tensor& x, const wsss::tensor& w) { return wino_weights_here(x, w); }
wsss::tensor wino_forward_plain(const wsss::tensor& x, const wsss::tensor& w, const std::vector<float>& u) {
  return wino_forward_here(x, w, u);
}
}  // namespace wsss_test
