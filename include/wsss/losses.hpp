// SPDX-License-Identifier: MIT
// wsss/losses.hpp — umbrella for the losses (policies that record autodiff ops)
#pragma once

#include "wsss/losses/cross_entropy.hpp"
#include "wsss/losses/multilabel.hpp"
#include "wsss/losses/affinity.hpp"
#include "wsss/losses/constrain.hpp"
#include "wsss/losses/sec.hpp"
