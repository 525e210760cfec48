// SPDX-License-Identifier: MIT
// wsss/report/cpu.hpp — the processor's name for reports (timings mean little without it)
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace wsss::report {

/// The first "model name" of `cpuinfo` (Linux's /proc/cpuinfo), spaces trimmed; "unknown"
/// where there is none (other systems, some ARM kernels) or the file cannot be read.
inline std::string cpu_name(const std::filesystem::path& cpuinfo = "/proc/cpuinfo") {
  std::ifstream in(cpuinfo);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto b = line.find_first_not_of(" \t", colon + 1);
    const auto e = line.find_last_not_of(" \t\r");
    if (b != std::string::npos && e >= b) return line.substr(b, e - b + 1);
  }
  return "unknown";
}

}  // namespace wsss::report
