// SPDX-License-Identifier: MIT
// wsss/opencl.hpp — opt-in OpenCL (Boost.Compute) backend umbrella; link wsss::opencl
#pragma once

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
#include "wsss/cam/opencl/steps.hpp"
#include "wsss/crf/opencl/steps.hpp"
#include "wsss/graph/opencl/steps.hpp"
#include "wsss/pool/opencl/steps.hpp"
#include "wsss/walk/opencl/steps.hpp"
