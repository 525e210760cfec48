// SPDX-License-Identifier: MIT
// wsss/data.hpp — umbrella for the datasets (the scenes generator; needs wsss::io and zlib)
#pragma once

#include "wsss/data/idx.hpp"
#include "wsss/data/scenes.hpp"
