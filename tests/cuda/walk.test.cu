// SPDX-License-Identifier: MIT
// tests/cuda/walk.test.cu — the device walk on the GPU against the host sparse walk (the same
// row kernel runs through Thrust's OpenMP system in tests/backend/walk_device.test.cpp)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <wsss/cuda.hpp>
#include <wsss/graph.hpp>
#include <wsss/walk.hpp>

TEST_CASE("cuda device_sparse_power equals sparse_power at AffinityNet's 448 x 448 (56 x 56, t = 256)") {
  using namespace wsss;
  int devices = 0;
  REQUIRE_MESSAGE(cudaGetDeviceCount(&devices) == cudaSuccess, "no CUDA device: run this binary on a GPU host");
  rng r(5);
  const tensor f = random_normal({8, 56, 56}, r, 0.0, 0.4);
  const walk::transition T = walk::make_transition(graph::build(graph::radius{{5.0}}, f.shape(), f));
  const tensor cam = random_uniform({21, 56, 56}, r);
  const walk::sparse_power::config cfg{.t = 256};
  const tensor ref = walk::propagate(walk::sparse_power{cfg}, T, cam, exec<cpu_t>{});
  const walk::device_sparse_power<cuda_t> dev{cfg};
  const exec<cuda_t> ex;
  auto pl = dev.prepare(ex, batch{}, cam.shape());
  tensor out;
  const auto t0 = backend::transfers();
  dev.run(ex, pl, T, cam, out);
  CHECK((backend::transfers() - t0).uploads == 5);
  float d = 0;
  for (index_t i = 0; i < out.numel(); ++i) d = std::max(d, std::abs(out[i] - ref[i]));
  MESSAGE("max |d| cuda walk vs sparse_power: ", d);
  CHECK(d < 1e-5f);
}
