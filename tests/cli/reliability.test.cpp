// SPDX-License-Identifier: MIT
// tests/cli/reliability.test.cpp — `wsss scenes` under a file-size limit and killed outright:
// the previous dataset or none, never a partial one, and no temp files once it runs again
// (docs/reliability.md)
#include <doctest/doctest.h>

#ifdef WSSS_CLI_PATH

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "cli/run.hpp"
#include "io/temp_dir.hpp"

namespace {

using wsss_test::entries;
using wsss_test::snapshot;
using wsss_test::wsss;

// Starts `wsss scenes dir args...` and SIGKILLs it once its temp folder holds `images` JPEGs.
// Returns false if it finished first.
bool kill_scenes_midway(const std::filesystem::path& dir, const std::vector<std::string>& args, std::size_t images) {
  std::vector<std::string> argv_s = {WSSS_CLI_PATH, "--quiet", "scenes", dir.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(argv[0], argv.data());  // nothing but exec in the child of a threaded process
    ::_exit(127);
  }
  const auto temp = dir.parent_path() / ("." + dir.filename().string() + ".wsss-tmp." + std::to_string(pid));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool killed = false;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(temp / "JPEGImages", ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
      ++n;
    if (n >= images) {
      killed = ::kill(pid, SIGKILL) == 0;
      break;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace

TEST_CASE("[R17] wsss scenes under a file-size limit exits 1 and leaves no dataset and no temp file") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  const auto o = wsss({"scenes", data.string(), "--train", "8", "--val", "2", "--size", "64"}, "ulimit -f 1; ");
  CHECK(o.status == 1);
  CHECK(o.err.find("wsss scenes: error: [wsss.io]") != std::string::npos);
  CHECK(entries(dir.path()).empty());
}

TEST_CASE("[R17] wsss scenes killed outright leaves the previous dataset or none, the next run removes its temp folder") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  const std::vector<std::string> big = {"--train", "5000", "--val", "10", "--size", "128"};
  // No dataset before: none after the kill (the temp folder stays until the next run).
  REQUIRE(kill_scenes_midway(data, big, 3));
  auto left = entries(dir.path());
  REQUIRE(left.size() == 1);
  CHECK(left[0].rfind(".scenes.wsss-tmp.", 0) == 0);
  // A dataset before: intact after the kill.
  REQUIRE(wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32"}).status == 0);
  CHECK(entries(dir.path()) == std::vector<std::string>{"scenes"});  // the killed run's temp folder is gone
  const auto before = snapshot(data);
  REQUIRE(kill_scenes_midway(data, big, 3));
  CHECK(snapshot(data) == before);
  REQUIRE(wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "2"}).status == 0);
  CHECK(entries(dir.path()) == std::vector<std::string>{"scenes"});
  CHECK(snapshot(data) != before);
}

#endif
