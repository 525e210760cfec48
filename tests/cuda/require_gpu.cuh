// SPDX-License-Identifier: MIT
// tests/cuda/require_gpu.cuh — what every CUDA test checks first: a usable GPU
#pragma once

#include <doctest/doctest.h>

#include <cuda_runtime.h>

/// Fails the test case (with the reason) where no CUDA device is usable.
#define WSSS_REQUIRE_GPU()                                                                                          \
  do {                                                                                                              \
    int wsss_devices_ = 0;                                                                                          \
    REQUIRE_MESSAGE(cudaGetDeviceCount(&wsss_devices_) == cudaSuccess, "no CUDA device: run this binary on a GPU host"); \
    REQUIRE(wsss_devices_ > 0);                                                                                     \
  } while (0)
