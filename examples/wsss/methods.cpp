// SPDX-License-Identifier: MIT
// methods.cpp — the method registry and the `run` / `label` / `pretrain` subcommands built from it.
#include "methods.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"

namespace wsss_cli {

// A function-local static: registrations run during static initialisation of other files,
// in an order the language leaves open, so the vector must exist on first use.
std::vector<method_command>& method_registry() {
  static std::vector<method_command> registry;
  return registry;
}

register_method::register_method(method_command command) { method_registry().push_back(std::move(command)); }

global_options& globals() {
  static global_options options;
  return options;
}

namespace {

using adder = std::function<void(CLI::App&)> method_command::*;

// The text `wsss run` (label, pretrain) prints without a method: the methods that have the
// subcommand and their summaries.
std::string method_list(const std::string& verb, adder has) {
  std::vector<const method_command*> methods;
  for (const auto& m : method_registry())
    if (m.*has) methods.push_back(&m);
  std::sort(methods.begin(), methods.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::string out = "usage: wsss " + verb + " METHOD [options]  (wsss " + verb + " METHOD --help)\n";
  if (methods.empty()) return out + "methods: none registered in this build\n";
  std::size_t w = 0;
  for (auto* m : methods) w = std::max(w, m->name.size());
  out += "methods:\n";
  for (auto* m : methods) out += "  " + m->name + std::string(w - m->name.size() + 2, ' ') + m->summary + "\n";
  return out;
}

}  // namespace

void add_method_commands(CLI::App& app) {
  const std::pair<adder, CLI::App*> verbs[] = {
      {&method_command::add_run,
       app.add_subcommand("run", "run a method end to end on a dataset (every stage, resumable)")},
      {&method_command::add_label,
       app.add_subcommand("label", "write a method's pseudo-labels for a dataset from saved weights")},
      {&method_command::add_pretrain,
       app.add_subcommand("pretrain", "pretrain a method's backbone on single-object images (the ImageNet stand-in)")},
  };
  for (const auto& verb : verbs) {
    const adder has = verb.first;  // named, not bound: clang 14 cannot capture a structured binding
    CLI::App* const cmd = verb.second;
    cmd->require_subcommand(0, 1);
    cmd->footer("Without METHOD, lists the methods of this build; `wsss " + cmd->get_name() +
                " METHOD --help` gives a method's options.");
    for (const auto& m : method_registry())
      if (m.*has) (m.*has)(*cmd->add_subcommand(m.name, m.summary));
    cmd->callback([cmd, has] {
      if (cmd->get_subcommands().empty()) std::fputs(method_list(cmd->get_name(), has).c_str(), stdout);
    });
  }
}

}  // namespace wsss_cli
