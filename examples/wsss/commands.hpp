// SPDX-License-Identifier: MIT
// commands.hpp — the subcommands main.cpp adds to the `wsss` command, one file each.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace wsss_cli {

// app.cpp: the whole command line, every subcommand added (main.cpp parses it; the fuzzer
// parses it with the callbacks removed).
std::unique_ptr<CLI::App> make_app();
// "wsss scenes" (the subcommands the parser entered): errors say which part failed.
std::string command_name(const CLI::App& app);
// The one line a bad command line gets on stderr: "wsss eval: <what> (see 'wsss eval --help')".
std::string parse_error_line(const CLI::App& app, const CLI::ParseError& e);

void add_scenes_command(CLI::App& app);   // scenes.cpp
void add_eval_command(CLI::App& app);     // eval.cpp
void add_results_command(CLI::App& app);  // results.cpp
void add_method_commands(CLI::App& app);  // methods.cpp: `run` and `label`, one subcommand per method

}  // namespace wsss_cli
