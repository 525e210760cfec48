// SPDX-License-Identifier: MIT
// wsss/autodiff/ops.hpp — umbrella for every differentiable op (free functions on ad::var)
#pragma once

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/softmax.hpp"
#include "wsss/autodiff/ops/reduce.hpp"
#include "wsss/autodiff/ops/shape_ops.hpp"
#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/autodiff/ops/batch_norm.hpp"
#include "wsss/autodiff/ops/dropout.hpp"
#include "wsss/autodiff/ops/linear.hpp"
#include "wsss/autodiff/ops/resize.hpp"
#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/ops/deconv.hpp"
