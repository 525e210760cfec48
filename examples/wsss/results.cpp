// SPDX-License-Identifier: MIT
// results.cpp — `wsss results --work DIR... --out FILE`: collects the runs' results.json and
// writes the markdown table of docs/results.md.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "wsss/core/error.hpp"
#include "wsss/report/results.hpp"

namespace wsss_cli {

namespace {

constexpr std::string_view component = "wsss results";

// Every results.json at or below `work`, in path order (a work folder may hold one run or
// one folder per variant).
std::vector<std::filesystem::path> find_results(const std::filesystem::path& work) {
  std::error_code ec;
  if (!std::filesystem::is_directory(work, ec)) wsss::throw_io(component, work, "work folder not found");
  std::vector<std::filesystem::path> found;
  for (auto it = std::filesystem::recursive_directory_iterator(work, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec))
    if (it->path().filename() == "results.json" && it->is_regular_file(ec)) found.push_back(it->path());
  if (ec) wsss::throw_io(component, work, "cannot list the folder: ", ec.message());
  if (found.empty()) wsss::throw_io(component, work, "no results.json in this folder or below");
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

void add_results_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("results", "collect the runs' results.json into the markdown table of docs/results.md");
  struct state {
    std::vector<std::filesystem::path> work;
    std::filesystem::path out = "docs/results.md";
  };
  auto s = std::make_shared<state>();
  cmd->add_option("--work", s->work, "work folders of runs (each searched for results.json)")
      ->type_name("DIR")
      ->required();
  cmd->add_option("--out", s->out, "markdown file to write")->type_name("FILE")->capture_default_str();
  cmd->callback([s] {
    std::vector<wsss::report::results> runs;
    for (const auto& work : s->work)
      for (const auto& file : find_results(work)) runs.push_back(wsss::report::read_results(file));
    wsss::report::write_results_markdown(runs, s->out);
    std::printf("wrote %zu run%s to %s\n", runs.size(), runs.size() == 1 ? "" : "s", s->out.string().c_str());
  });
}

}  // namespace wsss_cli
