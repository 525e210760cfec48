// SPDX-License-Identifier: MIT
// wsss/eval.hpp — umbrella for evaluation (folder.hpp needs wsss::io)
#pragma once

#include "wsss/eval/confusion.hpp"
#include "wsss/eval/folder.hpp"
