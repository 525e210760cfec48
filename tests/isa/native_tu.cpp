// SPDX-License-Identifier: MIT
// tests/isa/native_tu.cpp — conv_tu.hpp's layers compiled with -march=native (tests/CMakeLists.txt).
#include "isa/conv_tu.hpp"

namespace wsss_test {
std::vector<conv_layer> conv_layers_native() { return conv_layers_here(); }
std::vector<float> wino_weights_native(const wsss::tensor& x, const wsss::tensor& w) { return wino_weights_here(x, w); }
wsss::tensor wino_forward_native(const wsss::tensor& x, const wsss::tensor& w, const std::vector<float>& u) {
  return wino_forward_here(x, w, u);
}
bool native_tu_has_avx512() {
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}
}  // namespace wsss_test
