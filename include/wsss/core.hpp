// SPDX-License-Identifier: MIT
// wsss/core.hpp — umbrella for the core types
#pragma once

#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/core/view.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/math.hpp"
#include "wsss/core/random.hpp"
#include "wsss/core/resize.hpp"
