// SPDX-License-Identifier: MIT
// main.cpp — the `wsss` command: one executable, one subcommand per job (docs/cli.md).
//
//   wsss scenes DIR [--train N] [--val N] [--size S] [--seed S] [--objects MIN MAX] [--full]
//   wsss eval --pred DIR --data DIR [--split S] [--classes N] [--names FILE]
//   wsss results --work DIR [DIR...] [--out docs/results.md]
//   wsss run METHOD ...      wsss label METHOD ...      (methods register in methods.hpp)
//
// Exit status: 0 on success (and --help), 2 on a bad command line (one line on stderr), 1 on
// any other failure (the error's message, which names the component and the path).
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "methods.hpp"

namespace {

// "wsss scenes" (the subcommands the parser entered): errors say which part failed.
std::string command_name(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* a = &app; !a->get_subcommands().empty();) {
    a = a->get_subcommands().front();
    name += " " + a->get_name();
  }
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("wsss: weakly supervised semantic segmentation: datasets, methods, evaluation, reports", "wsss");
  app.set_version_flag("--version", WSSS_VERSION);
  app.add_flag("-q,--quiet", wsss_cli::globals().quiet, "no progress bars");
  app.require_subcommand(1);
  app.fallthrough();  // global flags are accepted after the subcommand too
  wsss_cli::add_scenes_command(app);
  wsss_cli::add_eval_command(app);
  wsss_cli::add_results_command(app);
  wsss_cli::add_method_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    // CLI11 checks required options before it reports unknown ones; the unknown flag is the
    // more useful message (`wsss eval --pred-dir x` should name --pred-dir, not --pred).
    const auto extra = app.remaining(true);
    const std::string what = extra.empty() || dynamic_cast<const CLI::ExtrasError*>(&e)
                                 ? e.what()
                                 : "unknown argument '" + extra.front() + "'; " + e.what();
    const std::string name = command_name(app);
    std::fprintf(stderr, "%s: %s (see '%s --help')\n", name.c_str(), what.c_str(), name.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", command_name(app).c_str(), e.what());
    return 1;
  }
  return 0;
}
