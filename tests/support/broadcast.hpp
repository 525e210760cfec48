// SPDX-License-Identifier: MIT
// tests/support/broadcast.hpp — the naive broadcasting reference of the elementwise tests: the
// flat offset in operand t (shape t) of the output element `flat` (output shape out, numpy rules).
#pragma once

#include "wsss/core/shape.hpp"

namespace wsss::testing {

inline index_t naive_broadcast_offset(const shape& t, const shape& out, index_t flat) {
  index_t off = 0, stride = 1;
  for (int d = out.rank() - 1; d >= 0; --d) {
    const index_t i = flat % out[d];
    flat /= out[d];
    const int td = d - (out.rank() - t.rank());
    if (td >= 0) {
      if (t[td] != 1) off += i * stride;
      stride *= t[td];
    }
  }
  return off;
}

}  // namespace wsss::testing
