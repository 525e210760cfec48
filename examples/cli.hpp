// SPDX-License-Identifier: MIT
// cli.hpp — wsss_demo's hand-written command-line helpers: usage errors, bounded integer
// flags, flag values and the main wrapper that maps failures to exit codes (the `wsss`
// command parses with CLI11 instead; this goes when wsss_demo does).
#pragma once

#include <charconv>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace wsss_cli {

// A bad command line: printed with the usage text, exit code 2.
struct usage_error {
  std::string what;
};

// `text` as an integer in lo..hi, else a usage_error naming `flag`.
inline long long parse_int(std::string_view flag, std::string_view text, long long lo, long long hi) {
  long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    throw usage_error{std::string(flag) + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                      ", got '" + std::string(text) + "'"};
  return v;
}

// The argument after argv[i] (the value of flag argv[i]); advances i past it.
inline std::string_view flag_value(int argc, char** argv, int& i) {
  if (i + 1 >= argc) throw usage_error{std::string(argv[i]) + " needs a value"};
  return argv[++i];
}

// Runs `run(argc, argv)`: its result on success, 2 after a usage_error (message and usage on
// stderr), 1 after any other exception (its message on stderr).
template <class Run>
int guarded_main(const char* program, const char* usage, int argc, char** argv, Run run) {
  try {
    return run(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s: %s\n%s", program, e.what.c_str(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace wsss_cli
