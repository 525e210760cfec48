// SPDX-License-Identifier: MIT
// wsss/walk.hpp — umbrella: random-walk transition and propagators (AffinityNet eq. 11-12)
#pragma once

#include "wsss/walk/transition.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/dense_power.hpp"
#include "wsss/walk/sparse_power.hpp"
#include "wsss/walk/device_sparse_power.hpp"
#include "wsss/walk/chebyshev.hpp"
#include "wsss/walk/inference.hpp"
