// SPDX-License-Identifier: MIT
// tests/main.cpp — doctest's main, compiled once for every test executable
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

// ctest learns the names from doctest_discover_tests as a CMake list, where ';' separates
// items: a name holding one became two ctest entries whose filters match no test, so the test
// "passed" without running (36 did, found 2026-12-07). Such a name now fails the program, and
// with it the discovery at build time.
int main(int argc, char** argv) {
  int bad = 0;
  for (const auto& tc : doctest::detail::getRegisteredTests())
    if (std::strchr(tc.m_name, ';')) {
      std::fprintf(stderr, "%s:%u: a test case name must not hold ';' (ctest would split it and run nothing): %s\n",
                   tc.m_file.c_str(), tc.m_line, tc.m_name);
      ++bad;
    }
  if (bad) return 1;
  return doctest::Context(argc, argv).run();
}
