// SPDX-License-Identifier: MIT
// tests/fuzz/fuzz_cli.cpp — libFuzzer driver: the `wsss` command line (examples/wsss, every
// subcommand and registered method) parsed from NUL-separated arguments (the first one is
// argv[0]) and validated; no
// subcommand's callback runs. A bad command line must be a CLI::ParseError that
// parse_error_line turns into one line; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace {

// Thrown by the top-level app once parsing and validation are done, before any subcommand's
// callback runs (CLI11 runs the top app's parse-complete callback first). The callbacks stay in
// place: they own the storage the options write into (a shared_ptr they capture).
struct parsed {};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) args.emplace_back();
    else args.back() += static_cast<char>(data[i]);
  }
  if (args.size() > 64) return 0;
  // args[0] is the program's name, as in argv; CLI11 parses the rest from the back.
  std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);
  const auto app = wsss_cli::make_app();
  app->parse_complete_callback([] { throw parsed{}; });
  try {
    app->parse(reversed);
  } catch (const parsed&) {
  } catch (const CLI::ParseError& e) {
    const std::string line = wsss_cli::parse_error_line(*app, e);
    if (line.rfind("wsss", 0) != 0) __builtin_trap();
  }
  return 0;
}
