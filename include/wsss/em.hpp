// SPDX-License-Identifier: MIT
// wsss/em.hpp — EM for DeepLab's E-steps (Papandreou et al. 2015): the EStepBias concept,
// EM-Fixed and EM-Adapt on image tags, Bbox-Rect and Bbox-EM-Fixed on boxes
#pragma once

#include "wsss/em/concepts.hpp"
#include "wsss/em/bias.hpp"
#include "wsss/em/boxes.hpp"
