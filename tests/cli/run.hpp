// SPDX-License-Identifier: MIT
// tests/cli/run.hpp — runs the built `wsss` command (WSSS_CLI_PATH) with its output captured
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "io/temp_dir.hpp"

namespace wsss_test {

struct outcome {
  int status = -1;
  std::string out, err;
};

inline std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string text_of(const std::filesystem::path& p) {
  const auto b = wsss_test::read_bytes(p);
  return {b.begin(), b.end()};
}

// Runs `wsss args...` with stdout and stderr captured; `prefix` goes before the command in
// the shell line (e.g. "ulimit -f 16;").
inline outcome wsss(const std::vector<std::string>& args, const std::string& prefix = {}) {
  static wsss_test::temp_dir capture;
  std::string cmd = prefix + quoted(WSSS_CLI_PATH);
  for (const auto& a : args) cmd.append(" ").append(quoted(a));
  cmd.append(" >").append(quoted((capture / "out").string()));
  cmd.append(" 2>").append(quoted((capture / "err").string())).append(" </dev/null");
  const int rc = std::system(cmd.c_str());
  outcome o;
  o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  o.out = text_of(capture / "out");
  o.err = text_of(capture / "err");
  return o;
}

inline std::size_t lines(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += c == '\n';
  return n;
}

}  // namespace wsss_test
