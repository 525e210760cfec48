// SPDX-License-Identifier: MIT
// wsss/cuda.hpp — opt-in CUDA backend umbrella (include from .cu files compiled by nvcc)
#pragma once

#if !defined(__CUDACC__)
#error "wsss/cuda.hpp needs nvcc: include it from a .cu translation unit"
#endif

#include "wsss/backend/cuda/launch.cuh"
#include "wsss/backend/cuda/memory.cuh"
