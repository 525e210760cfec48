// SPDX-License-Identifier: MIT
// methods.hpp — the method registry behind `wsss run METHOD` and `wsss label METHOD`. A
// method's file (examples/wsss/<method>.cpp) registers itself at static initialisation:
//
//   namespace {
//   const wsss_cli::register_method reg{{
//       .name = "affinitynet",
//       .summary = "AffinityNet (Ahn & Kwak 2018): CAM, affinities, random walk, dCRF, segmentation",
//       .add_run = [](CLI::App& cmd) { /* cmd.add_option(...); cmd.callback(...); */ },
//       .add_label = [](CLI::App& cmd) { /* ... */ },
//   }};
//   }
//
// main.cpp then adds `wsss run <name>` (configured by add_run), `wsss label <name>` (add_label)
// and `wsss pretrain <name>` (add_pretrain); a method without add_label or add_pretrain has no
// such subcommand. The functions add the subcommand's options and set its callback, which does
// the work; a wsss::error or other exception from it exits 1 with its message, a
// CLI::ParseError exits 2.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "wsss/dist/group.hpp"

namespace wsss_cli {

struct method_command {
  std::string name, summary;
  std::function<void(CLI::App& run_cmd)> add_run;
  std::function<void(CLI::App& label_cmd)> add_label;
  std::function<void(CLI::App& pretrain_cmd)> add_pretrain;
};

// The registered methods, in registration order (listed by name in `wsss run`).
std::vector<method_command>& method_registry();

// Registers a method when constructed; define one at namespace scope in the method's file.
struct register_method {
  explicit register_method(method_command command);
};

// Options of the whole command, set while the command line is parsed, before any
// subcommand's callback runs.
struct global_options {
  bool quiet = false;  // -q/--quiet: no progress bars (report::progress_options::quiet)
  bool sync_batch_norm = false;  // --sync-bn: with several ranks, batch statistics over the whole mini-batch
  const wsss::dist::group* group = nullptr;  // the MPI job's ranks (main.cpp), or null: this process alone
};
global_options& globals();

}  // namespace wsss_cli
