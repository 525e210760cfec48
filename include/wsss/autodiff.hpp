// SPDX-License-Identifier: MIT
// wsss/autodiff.hpp — umbrella for the autodiff core (tape, ops, gradient check)
#pragma once

#include "wsss/autodiff/parameter.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/grad_check.hpp"
