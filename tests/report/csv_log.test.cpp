// SPDX-License-Identifier: MIT
// tests/report/csv_log.test.cpp — the training log: header, flushed rows, quoting, resume
// without duplicated rows (a cut-short last row dropped), layout mismatches refused
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "io/temp_dir.hpp"
#include "wsss/report/csv_log.hpp"

namespace {

std::string text_of(const std::filesystem::path& p) {
  const auto b = wsss_test::read_bytes(p);
  return {b.begin(), b.end()};
}

void write_text(const std::filesystem::path& p, const std::string& s) {
  wsss_test::write_bytes(p, std::vector<unsigned char>(s.begin(), s.end()));
}

}  // namespace

TEST_CASE("report::csv_log writes a header and flushes every row as it is written") {
  wsss_test::temp_dir dir;
  const auto path = dir / "train.csv";
  wsss::report::csv_log log(path, {"step", "loss", "lr", "note"});
  CHECK(text_of(path) == "step,loss,lr,note\n");
  log.row({1, 0.5f, 0.01, "plain"});
  CHECK(text_of(path) == "step,loss,lr,note\n1,0.5,0.01,plain\n");  // readable before the log closes
  log.row({std::size_t{2}, 0.1f, 1e-3, "a, \"b\""});
  CHECK(text_of(path) == "step,loss,lr,note\n1,0.5,0.01,plain\n2,0.1,0.001,\"a, \"\"b\"\"\"\n");
  CHECK_THROWS_WITH_AS(log.row({3, 0.5}), doctest::Contains("a row needs 4 values, got 2"), wsss::value_error);
  CHECK_THROWS_AS(wsss::report::csv_log(dir / "x.csv", {}), wsss::value_error);
  CHECK_THROWS_WITH_AS(wsss::report::csv_log(dir / "no" / "x.csv", {"step"}), doctest::Contains("does not exist"),
                       wsss::io_error);
}

TEST_CASE("report::csv_log::resume keeps rows up to the checkpoint step and appends after them") {
  wsss_test::temp_dir dir;
  const auto path = dir / "train.csv";
  {
    wsss::report::csv_log log(path, {"step", "loss", "note"});
    for (int s = 1; s <= 5; ++s) log.row({s, 1.0 / s, s == 2 ? "two\nlines" : ""});
  }
  // The process dies while writing step 6: a row without its line break.
  write_text(path, text_of(path) + "6,0.16");
  {
    auto log = wsss::report::csv_log::resume(path, {"step", "loss", "note"}, 3);
    CHECK(text_of(path) == "step,loss,note\n1,1,\n2,0.5,\"two\nlines\"\n3,0.3333333333333333,\n");
    log.row({4, 0.25, "again"});
  }
  CHECK(text_of(path) == "step,loss,note\n1,1,\n2,0.5,\"two\nlines\"\n3,0.3333333333333333,\n4,0.25,again\n");

  // Resuming twice from the same step gives the same file; a missing file starts a new log.
  { auto log = wsss::report::csv_log::resume(path, {"step", "loss", "note"}, 3); }
  { auto log = wsss::report::csv_log::resume(path, {"step", "loss", "note"}, 3); }
  CHECK(text_of(path) == "step,loss,note\n1,1,\n2,0.5,\"two\nlines\"\n3,0.3333333333333333,\n");
  { auto log = wsss::report::csv_log::resume(dir / "new.csv", {"step", "loss"}, 10); }
  CHECK(text_of(dir / "new.csv") == "step,loss\n");
  // Step 0 keeps the header only; nothing is left beside the file.
  { auto log = wsss::report::csv_log::resume(path, {"step", "loss", "note"}, 0); }
  CHECK(text_of(path) == "step,loss,note\n");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 2);
}

TEST_CASE("report::csv_log::resume refuses another layout, a bad step and a log without a step column") {
  wsss_test::temp_dir dir;
  const auto path = dir / "train.csv";
  write_text(path, "step,loss\n1,0.5\n");
  CHECK_THROWS_WITH_AS(wsss::report::csv_log::resume(path, {"step", "loss", "lr"}, 1),
                       doctest::Contains("expected the header 'step,loss,lr', got 'step,loss'"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::report::csv_log::resume(path, {"epoch", "loss"}, 1),
                       doctest::Contains("resume needs a column named \"step\""), wsss::value_error);
  write_text(path, "step,loss\n1,0.5\nx,0.4\n");
  CHECK_THROWS_WITH_AS(wsss::report::csv_log::resume(path, {"step", "loss"}, 1),
                       doctest::Contains("line 3: expected 2 fields with an integer step, got 'x,0.4'"), wsss::io_error);
  write_text(path, "step,loss\n1\n");
  CHECK_THROWS_WITH_AS(wsss::report::csv_log::resume(path, {"step", "loss"}, 1), doctest::Contains(path.string().c_str()),
                       wsss::io_error);
  // The refused file is left as it was.
  CHECK(text_of(path) == "step,loss\n1\n");
}
