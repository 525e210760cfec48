// SPDX-License-Identifier: MIT
// app.cpp — the `wsss` command line: the parser with every subcommand (main.cpp runs it,
// tests/fuzz/fuzz_cli.cpp fuzzes it) and the one-line report of a bad command line.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "methods.hpp"

namespace wsss_cli {

std::unique_ptr<CLI::App> make_app() {
  auto app = std::make_unique<CLI::App>(
      "wsss: weakly supervised semantic segmentation: datasets, methods, evaluation, reports", "wsss");
  app->set_version_flag("--version", WSSS_VERSION);
  app->add_flag("-q,--quiet", globals().quiet, "no progress bars");
  app->add_flag("--sync-bn", globals().sync_batch_norm,
                "under mpirun: batch-norm statistics over the whole mini-batch, not each rank's part");
  app->require_subcommand(1);
  app->fallthrough();  // global flags are accepted after the subcommand too
  add_scenes_command(*app);
  add_eval_command(*app);
  add_results_command(*app);
  add_method_commands(*app);
  return app;
}

std::string command_name(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* a = &app; !a->get_subcommands().empty();) {
    a = a->get_subcommands().front();
    name += " " + a->get_name();
  }
  return name;
}

std::string parse_error_line(const CLI::App& app, const CLI::ParseError& e) {
  // CLI11 checks required options before it reports unknown ones; the unknown flag is the
  // more useful message (`wsss eval --pred-dir x` should name --pred-dir, not --pred).
  const auto extra = app.remaining(true);
  const std::string what = extra.empty() || dynamic_cast<const CLI::ExtrasError*>(&e)
                               ? e.what()
                               : "unknown argument '" + extra.front() + "'; " + e.what();
  const std::string name = command_name(app);
  return name + ": " + what + " (see '" + name + " --help')";
}

}  // namespace wsss_cli
