// SPDX-License-Identifier: MIT
// tests/dataset/reliability.test.cpp — the dataset writer on a full disk (a file-size limit
// makes every write past it fail, as ENOSPC would) and IDX files whose dims overflow or whose
// gzip stream inflates far: named errors, previous dataset or none, no temp files
// (docs/reliability.md)
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <string>

#include <sys/resource.h>

#include "dataset/small_scenes.hpp"
#include "io/temp_dir.hpp"
#include "support/hostile.hpp"
#include "wsss/data/idx.hpp"
#include "wsss/data/scenes.hpp"

namespace {

namespace wd = wsss::data;
using wsss_test::small_options;
using wsss_test::bytes;
using wsss_test::entries;
using wsss_test::snapshot;

// Runs f with writes limited to `limit` bytes per file and SIGXFSZ ignored: a write crossing
// the limit fails with EFBIG, as one on a full disk fails with ENOSPC.
template <class F>
void with_file_size_limit(rlim_t limit, F f) {
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  rlimit low = saved;
  low.rlim_cur = limit;
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);
  try {
    f();
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, old_handler);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
}

}  // namespace

TEST_CASE("[R15] make_scenes on a full disk leaves the previous dataset or none, and no temp files") {
  wsss_test::temp_dir dir;
  const auto root = dir / "scenes";
  // No dataset before: none after, and nothing beside it.
  with_file_size_limit(2048, [&] { CHECK_THROWS_AS(wd::make_scenes(root, small_options(5)), wsss::io_error); });
  CHECK(entries(dir.path()).empty());

  // A dataset before: the same bytes after.
  wd::make_scenes(root, small_options(5));
  const auto before = snapshot(root);
  REQUIRE(before.size() == 6 * 3 + 6);  // images, masks, annotations; 3 splits, labels, classes, notice
  with_file_size_limit(2048, [&] { CHECK_THROWS_AS(wd::make_scenes(root, small_options(6)), wsss::io_error); });
  CHECK(snapshot(root) == before);
  CHECK(entries(dir.path()) == std::vector<std::string>{"scenes"});

  // A run that succeeds replaces the dataset as a whole and keeps what else the folder holds.
  std::filesystem::create_directories(root / "baseline" / "val");
  wsss_test::write_bytes(root / "baseline" / "val" / "x.png", {1, 2, 3});
  wsss::io::write_file_atomic(root / "JPEGImages" / "stale_00000.jpg", std::string_view("old"));
  wd::make_scenes(root, small_options(6));
  wsss_test::temp_dir fresh;
  wd::make_scenes(fresh.path(), small_options(6));
  auto now = snapshot(root);
  CHECK(now.erase("baseline/val/x.png") == 1);
  CHECK(now == snapshot(fresh.path()));  // stale_00000.jpg went with the old JPEGImages
  CHECK(entries(dir.path()) == std::vector<std::string>{"scenes"});
}

TEST_CASE("[R15] io::atomic_dataset removes the temp folders of writers that were killed") {
  wsss_test::temp_dir dir;
  // A pid that is not running (pid_max is at most 2^22 on Linux).
  const auto stale = dir / ".scenes.wsss-tmp.99999999";
  std::filesystem::create_directories(stale / "JPEGImages");
  const auto other = dir / ".other.wsss-tmp.99999999";  // another dataset's: left alone
  std::filesystem::create_directories(other);
  {
    wsss::io::atomic_dataset out(dir / "scenes");
    CHECK(!std::filesystem::exists(stale));
    CHECK(out.path().filename().string().rfind(".scenes.wsss-tmp.", 0) == 0);
    // Not committed: removed on scope exit.
  }
  CHECK(entries(dir.path()) == std::vector<std::string>{".other.wsss-tmp.99999999"});
}

TEST_CASE("[R16] IDX dims whose product wraps past 2^64, and gzip streams that inflate far, are refused cheaply") {
  wsss_test::temp_dir dir;
  // 2^20 * 2^20 * 2^24 = 2^64: the old product wrapped to 0 and matched an empty payload.
  const bytes wrap = {0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 1, 0, 0, 0};
  wsss_test::write_bytes(dir / "wrap", wrap);
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "wrap"),
                       doctest::Contains("IDX dims 1048576x1048576x16777216 exceed the 536870912-byte limit"),
                       wsss::io_error);
  // A 1 MB .gz inflating to 1 GiB: the header claims 4 bytes, the stream holds a GiB more.
  const bytes gz = wsss_test::gzip_zeros({0, 0, 8, 1, 0, 0, 0, 4}, 1024);
  CHECK(gz.size() < (2u << 20));
  wsss_test::write_bytes(dir / "long.gz", gz);
  std::string what;
  const long long grew = wsss_test::peak_rss_growth([&] {
    try {
      wd::read_idx(dir / "long.gz");
    } catch (const wsss::io_error& e) {
      what = e.what();
    }
  });
  CHECK(what.find("IDX file has data beyond the 4 bytes its dims need") != std::string::npos);
  if (grew >= 0) CHECK(grew < (32ll << 20));
  // The same stream claiming 1 GiB: beyond the cap, refused before inflating the data.
  wsss_test::write_bytes(dir / "gib.gz", wsss_test::gzip_zeros({0, 0, 8, 3, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0}, 4));
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "gib.gz"), doctest::Contains("IDX dims 1024x1024x1024 exceed"), wsss::io_error);
  // Within the cap but more than the stream could hold: refused before allocating.
  wsss_test::write_bytes(dir / "claim.gz", wsss_test::gzip_zeros({0, 0, 8, 1, 0x10, 0, 0, 0}, 1));
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "claim.gz"), doctest::Contains("more than a"), wsss::io_error);
  // An explicit larger cap reads the GiB-claiming stream's real size and reports the shortfall.
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "gib.gz", std::uint64_t{2} << 30), doctest::Contains("more than a"),
                       wsss::io_error);
  // A plain file claiming more than it holds.
  wsss_test::write_bytes(dir / "plain", {0, 0, 8, 2, 0, 0, 1, 0, 0, 0, 1, 0, 1, 2, 3});
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "plain"), doctest::Contains("need 65536 bytes of data, file has 3"),
                       wsss::io_error);
}
