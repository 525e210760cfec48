// SPDX-License-Identifier: MIT
// wsss/report/detail/format.hpp — the number formats every report shares (percent, duration,
// shortest round-trip decimal), so the terminal, CSV, HTML and markdown agree digit for digit
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <string>

namespace wsss::report::detail {

/// A fraction as a percentage with two decimals ("50.34"); "-" for NaN (undefined IoU), the
/// convention of eval::confusion_matrix::table.
inline std::string percent(double fraction) {
  if (std::isnan(fraction)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * fraction);
  return buf;
}

/// Seconds as "4.2s", "3m07s" or "2h05m"; "-" for a negative or non-finite value (an unknown ETA).
inline std::string duration(double s) {
  if (!std::isfinite(s) || s < 0) return "-";
  char buf[32];
  if (s < 59.95) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    const long t = std::lround(s);
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    const long m = std::lround(s / 60);
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", m / 60, m % 60);
  }
  return buf;
}

/// The shortest decimal that reads back to the same value (float stays float: 0.1f -> "0.1");
/// "nan", "inf", "-inf" for the non-finite values.
template <std::floating_point T>
std::string shortest(T v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace wsss::report::detail
