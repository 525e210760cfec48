// SPDX-License-Identifier: MIT
// tests/cuda/pool.test.cu — GAP, GMP and GWRP on the GPU against the host poolers (the per-score
// kernels are the bodies tests/pool/contract.test.cpp runs through Thrust's OpenMP system; the
// per-plane reductions are CUDA's own, a CUB thread block per plane: pool/cuda/planes.cuh)
#include <doctest/doctest.h>

#include "cuda/require_gpu.cuh"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <wsss/cuda.hpp>
#include <wsss/pool.hpp>

namespace {

// Runs host pooler h and its CUDA twin on x (batch b) and compares scores and gradients.
template <class H>
void check_twin(const H& h, const wsss::tensor& x, const wsss::batch& b) {
  using namespace wsss;
  rng gen(4);
  const tensor g = random_normal({x.dim(0), x.dim(1)}, gen);
  const exec<cpu_t> host;
  auto hp = h.prepare(host, b, x.shape());
  tensor y_ref, gin_ref;
  h.run(host, hp, x, y_ref);
  h.backward(host, hp, g, gin_ref);

  const pool::device_pool<H, wsss::cuda_t> dev{h.cfg};
  const exec<wsss::cuda_t> ex;
  auto dp = dev.prepare(ex, b, x.shape());
  tensor y, gin;
  dev.run(ex, dp, x, y);
  dev.backward(ex, dp, g, gin);
  float dy = 0, dg = 0;
  for (index_t k = 0; k < y.numel(); ++k) dy = std::max(dy, std::abs(y[k] - y_ref[k]));
  for (index_t i = 0; i < gin.numel(); ++i) dg = std::max(dg, std::abs(gin[i] - gin_ref[i]));
  MESSAGE(H::name, " cuda vs host at ", x.shape(), ": max |dy| ", dy, ", max |dg_in| ", dg);
  CHECK(dy <= 1e-6f);
  CHECK(dg == 0.0f);  // the same ranks and products
}

}  // namespace

TEST_CASE("cuda device_gap / device_gmp / device_gwrp equal the host poolers (21 x 41 x 41 and 321 x 321)") {
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  for (const shape& s : {shape{4, 21, 41, 41}, shape{2, 3, 321, 321}}) {
    rng r(9);
    tensor x = random_uniform(s, r);
    for (index_t i = 0; i < x.numel(); ++i) x[i] = std::floor(x[i] * 256.0f) / 256.0f;  // ties
    std::vector<tag_set> tags;
    for (index_t n = 0; n < s[0]; ++n) tags.push_back(tag_set{1});
    const batch b{.tags = tags};
    check_twin(pool::gap{}, x, b);
    check_twin(pool::gmp{}, x, b);
    check_twin(pool::gwrp{}, x, b);
  }
}

TEST_CASE("cuda per-plane blocks: every GWRP case in one batch, first arg max on ties, a non-finite plane refused") {
  // pool/cuda/planes.cuh: a thread block per plane. Decays 1 (the mean), 0 (w_0 times the first
  // arg max), 0.5 (a few kept ranks) and 0.999 (most of a 321 x 321 plane) side by side.
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  rng r(11);
  tensor x = random_uniform({2, 4, 321, 321}, r);
  for (index_t i = 0; i < x.numel(); ++i) x[i] = std::floor(x[i] * 16.0f) / 16.0f;  // many tied maxima
  x[2 * 321 * 321 + 5] = 2.0f;  // plane 2: a later unique max
  pool::gwrp::config c;
  c.use_tags = false;
  c.class_decays = {1.0f, 0.0f, 0.5f, 0.999f};
  const batch b{};
  check_twin(pool::gwrp(c), x, b);
  check_twin(pool::gmp{}, x, b);
  check_twin(pool::gap{}, x, b);

  x[3 * 321 * 321 + 100] = std::numeric_limits<float>::infinity();
  const pool::device_gmp<wsss::cuda_t> dev;
  const exec<wsss::cuda_t> ex;
  auto dp = dev.prepare(ex, b, x.shape());
  tensor y;
  CHECK_THROWS_AS(dev.run(ex, dp, x, y), value_error);
}
