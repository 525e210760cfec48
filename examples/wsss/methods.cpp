// SPDX-License-Identifier: MIT
// methods.cpp — the method registry and the `run` / `label` subcommands built from it.
#include "methods.hpp"

#include <algorithm>
#include <cstdio>
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

// The text `wsss run` / `wsss label` print without a method: the methods and their summaries.
std::string method_list(const char* verb, bool labelling) {
  std::vector<const method_command*> methods;
  for (const auto& m : method_registry())
    if (labelling ? bool(m.add_label) : bool(m.add_run)) methods.push_back(&m);
  std::sort(methods.begin(), methods.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::string out = std::string("usage: wsss ") + verb + " METHOD [options]  (wsss " + verb + " METHOD --help)\n";
  if (methods.empty()) return out + "methods: none registered in this build\n";
  std::size_t w = 0;
  for (auto* m : methods) w = std::max(w, m->name.size());
  out += "methods:\n";
  for (auto* m : methods) out += "  " + m->name + std::string(w - m->name.size() + 2, ' ') + m->summary + "\n";
  return out;
}

}  // namespace

void add_method_commands(CLI::App& app) {
  auto* run = app.add_subcommand("run", "run a method end to end on a dataset (every stage, resumable)");
  auto* label = app.add_subcommand("label", "write a method's pseudo-labels for a dataset from saved weights");
  for (auto* cmd : {run, label}) {
    cmd->require_subcommand(0, 1);
    cmd->footer("Without METHOD, lists the methods of this build; `wsss " + cmd->get_name() +
                " METHOD --help` gives a method's options.");
  }
  for (const auto& m : method_registry()) {
    if (m.add_run) m.add_run(*run->add_subcommand(m.name, m.summary));
    if (m.add_label) m.add_label(*label->add_subcommand(m.name, m.summary));
  }
  run->callback([run] {
    if (run->get_subcommands().empty()) std::fputs(method_list("run", false).c_str(), stdout);
  });
  label->callback([label] {
    if (label->get_subcommands().empty()) std::fputs(method_list("label", true).c_str(), stdout);
  });
}

}  // namespace wsss_cli
