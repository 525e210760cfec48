// SPDX-License-Identifier: MIT
// tests/cuda/crf.test.cu — the dense CRF's device pipeline on the GPU against the host engine
// (the same kernel bodies run through Thrust's OpenMP system in tests/backend/crf_device.test.cpp)
#include <doctest/doctest.h>

#include "cuda/require_gpu.cuh"

#include <wsss/cuda.hpp>

#include "support/device_crf.hpp"

TEST_CASE("cuda device_mean_field equals the host mean field (labels identical) and counts its transfers") {
  WSSS_REQUIRE_GPU();
  device_crf_test::check_against_host(wsss::exec<wsss::cuda_t>{}, 1e-5f);
  // VOC's label count on a larger batch item.
  device_crf_test::check_against_host(wsss::exec<wsss::cuda_t>{}, 1e-5f, 21, 75, 100);
}

TEST_CASE("cuda device_mean_field: record's gradients equal the host mean field's") {
  WSSS_REQUIRE_GPU();
  device_crf_test::check_gradients_against_host(wsss::exec<wsss::cuda_t>{}, 1e-4f);
}

TEST_CASE("cuda device_crf_rnn: Q and the gradients of U, mu and the kernel weights equal crf_rnn<>'s") {
  WSSS_REQUIRE_GPU();
  device_crf_test::check_crf_rnn_against_host(wsss::exec<wsss::cuda_t>{}, 1e-4f);
}
