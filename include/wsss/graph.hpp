// SPDX-License-Identifier: MIT
// wsss/graph.hpp — umbrella: graph builders and the affinity op (AffinityNet eq. 3-4), on the host and a device
#pragma once

#include "wsss/graph/csr.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/neighbourhood.hpp"
#include "wsss/graph/superpixel.hpp"
#include "wsss/graph/bilateral.hpp"
#include "wsss/graph/affinity.hpp"
#include "wsss/graph/device.hpp"
