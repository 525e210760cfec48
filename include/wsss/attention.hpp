// SPDX-License-Identifier: MIT
// wsss/attention.hpp — top-down attention (attention paper sec. 4): the rectified-Gaussian QP
// (eq. 2-3), the AttentionSolver concept and its three solvers, the parent-to-child transitions
// (eq. 5-6) and the top-down pass with eq. 7-9's terms
#pragma once

#include "wsss/attention/qp.hpp"
#include "wsss/attention/concepts.hpp"
#include "wsss/attention/coordinate_ascent.hpp"
#include "wsss/attention/projected_gradient.hpp"
#include "wsss/attention/multiplicative.hpp"
#include "wsss/attention/excitation.hpp"
#include "wsss/attention/top_down.hpp"
