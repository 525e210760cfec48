// SPDX-License-Identifier: MIT
// wsss/pool.hpp — umbrella for the global poolers (GAP, GMP, GWRP, LSE, FCL), superpixel pooling, and GAP / GMP / GWRP on a device backend
#pragma once

#include "wsss/pool/concepts.hpp"
#include "wsss/pool/gap.hpp"
#include "wsss/pool/gmp.hpp"
#include "wsss/pool/gwrp.hpp"
#include "wsss/pool/lse.hpp"
#include "wsss/pool/fcl.hpp"
#include "wsss/pool/superpixel.hpp"
#include "wsss/pool/op.hpp"
#include "wsss/pool/device.hpp"
