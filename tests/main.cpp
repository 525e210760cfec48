// SPDX-License-Identifier: MIT
// tests/main.cpp — doctest's main, compiled once for every test executable
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
