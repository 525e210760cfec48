// SPDX-License-Identifier: MIT
// tests/core/isa.test.cpp — choosing the kernels' instruction set at run time (core/isa.hpp).
#include <doctest/doctest.h>

#include <string>

#include "wsss/core/isa.hpp"

using namespace wsss;

TEST_CASE("isa names parse back, and a set the CPU lacks or an unknown name is refused") {
  for (int s = 0; s <= static_cast<int>(cpu_isa()); ++s) CHECK(parse_isa(isa_name(static_cast<isa>(s))) == static_cast<isa>(s));
  CHECK_THROWS_WITH_AS(parse_isa("sse9"), doctest::Contains("unknown instruction set 'sse9'"), value_error);
  CHECK_THROWS_AS(parse_isa(""), value_error);
  if (cpu_isa() < isa::avx512) {
    CHECK_THROWS_WITH_AS(parse_isa("avx512"), doctest::Contains("not available on this CPU"), value_error);
    CHECK_THROWS_AS(set_isa(isa::avx512), value_error);
  }
}

TEST_CASE("set_isa switches the process's kernels and isa_scope restores the previous choice") {
  const isa before = active_isa();
  {
    const isa_scope generic(isa::generic);
    CHECK(active_isa() == isa::generic);
    {
      const isa_scope best(cpu_isa());
      CHECK(active_isa() == cpu_isa());
    }
    CHECK(active_isa() == isa::generic);
  }
  CHECK(active_isa() == before);
  CHECK(set_isa(before) == before);
}
