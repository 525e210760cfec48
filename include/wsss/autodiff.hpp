// SPDX-License-Identifier: MIT
// wsss/autodiff.hpp — umbrella for autodiff: the tape, the Op concept, grad_check and every op
#pragma once

#include "wsss/autodiff/parameter.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/grad_check.hpp"
#include "wsss/autodiff/ops.hpp"
