// SPDX-License-Identifier: MIT
// tests/cuda/main.cu — doctest main for the CUDA tests (run on a GPU host)
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
