// SPDX-License-Identifier: MIT
// tests/support/each_isa.hpp — runs a check once per instruction set this CPU runs (generic,
// then AVX2, then AVX-512 where present), each kernel variant selected for the whole process
// (core/isa.hpp), so one machine tests every micro-kernel it can execute.
#pragma once

#include <doctest/doctest.h>

#include "wsss/core/isa.hpp"

namespace wsss_test {

template <class F>
void for_each_isa(F&& check) {
  for (int s = 0; s <= static_cast<int>(wsss::cpu_isa()); ++s) {
    const wsss::isa_scope scope(static_cast<wsss::isa>(s));
    INFO("isa " << wsss::isa_name(static_cast<wsss::isa>(s)));
    check();
  }
}

}  // namespace wsss_test
