// SPDX-License-Identifier: MIT
// wsss/wsss.hpp — umbrella for every CPU component; never pulls in CUDA or OpenCL
// (include wsss/cuda.hpp from nvcc translation units, wsss/opencl.hpp with wsss::opencl).
#pragma once

#include "wsss/core.hpp"
#include "wsss/autodiff.hpp"
#include "wsss/nn.hpp"
#include "wsss/losses.hpp"
#include "wsss/pool.hpp"
#include "wsss/superpixel.hpp"
#include "wsss/graph.hpp"
#include "wsss/walk.hpp"
#include "wsss/crf.hpp"
#include "wsss/em.hpp"
#include "wsss/io.hpp"
#include "wsss/eval.hpp"
#include "wsss/data.hpp"
