// SPDX-License-Identifier: MIT
// tests/pch.cpp — the translation unit that builds the shared precompiled header
