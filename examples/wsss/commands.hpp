// SPDX-License-Identifier: MIT
// commands.hpp — the subcommands main.cpp adds to the `wsss` command, one file each.
#pragma once

#include <CLI/CLI.hpp>

namespace wsss_cli {

void add_scenes_command(CLI::App& app);   // scenes.cpp
void add_eval_command(CLI::App& app);     // eval.cpp
void add_results_command(CLI::App& app);  // results.cpp
void add_method_commands(CLI::App& app);  // methods.cpp: `run` and `label`, one subcommand per method

}  // namespace wsss_cli
