// SPDX-License-Identifier: MIT
// tests/report/progress.test.cpp — progress_bar on files and pipes with a fake clock: plain
// lines every 10%, in-place redraws throttled on a terminal, quiet mode, threaded ticks
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "wsss/report/progress.hpp"

namespace {

// Everything written to a tmpfile so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
  return s;
}

}  // namespace

TEST_CASE("report::progress_bar prints a plain line every 10% and a final one on a file") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  double now = 100;
  {
    wsss::report::progress_bar bar("train", 10, f, {.clock = [&] { return now; }});
    for (int i = 1; i <= 10; ++i) {
      now += 1;
      if (i == 5) bar.note("loss 0.5");
      bar.tick();
    }
    bar.finish();
    bar.finish();  // once only
    bar.tick();    // ignored after finish
    CHECK(bar.done() == 10);
  }
  CHECK(contents(f) ==
        "train 1/10 (10%) 1/s ETA 9.0s\n"
        "train 2/10 (20%) 1/s ETA 8.0s\n"
        "train 3/10 (30%) 1/s ETA 7.0s\n"
        "train 4/10 (40%) 1/s ETA 6.0s\n"
        "train 5/10 (50%) 1/s ETA 5.0s | loss 0.5\n"
        "train 6/10 (60%) 1/s ETA 4.0s | loss 0.5\n"
        "train 7/10 (70%) 1/s ETA 3.0s | loss 0.5\n"
        "train 8/10 (80%) 1/s ETA 2.0s | loss 0.5\n"
        "train 9/10 (90%) 1/s ETA 1.0s | loss 0.5\n"
        "train 10/10 (100%) 1/s in 10.0s | loss 0.5\n");
  std::fclose(f);
}

TEST_CASE("report::progress_bar prints each tenth once however the ticks fall, and finishes in its destructor") {
  std::FILE* f = std::tmpfile();
  double now = 0;
  {
    wsss::report::progress_bar bar("label", 1000, f, {.clock = [&] { return now; }});
    for (int i = 0; i < 1000; ++i) {
      now += 0.01;
      bar.tick();
    }
    now = 125;  // 20 minutes later
  }
  const std::string out = contents(f);
  std::size_t lines = 0;
  for (char c : out) lines += c == '\n';
  CHECK(lines == 10);
  CHECK(out.find("label 100/1000 (10%) 100/s ETA 9.0s\n") == 0);
  CHECK(out.find("label 900/1000 (90%) 100/s ETA 1.0s\n") != std::string::npos);
  CHECK(out.find("label 1000/1000 (100%) 8/s in 2m05s\n") != std::string::npos);

  // A jump over several tenths prints one line; an unknown total prints only the last line.
  std::FILE* g = std::tmpfile();
  now = 0;
  {
    wsss::report::progress_bar bar("jump", 10, g, {.clock = [&] { return now; }});
    now = 2;
    bar.tick(7);
    wsss::report::progress_bar open("open", 0, g, {.clock = [&] { return now; }});
    open.tick(3);
    open.finish();
    bar.finish();
  }
  CHECK(contents(g) == "jump 7/10 (70%) 3.5/s ETA 0.9s\nopen 3 -/s in 0.0s\njump 7/10 (70%) 3.5/s in 2.0s\n");
  std::fclose(f);
  std::fclose(g);
}

TEST_CASE("report::progress_bar takes a pipe for a log (plain lines), quiet prints nothing") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::FILE* w = ::fdopen(fds[1], "w");
  std::FILE* r = ::fdopen(fds[0], "r");
  double now = 0;
  {
    wsss::report::progress_bar bar("pipe", 2, w, {.clock = [&] { return now; }});
    now = 1;
    bar.tick(2);
    bar.finish();
    wsss::report::progress_bar quiet("quiet", 2, w, {.quiet = true, .clock = [&] { return now; }});
    quiet.tick(2);
    quiet.note("x");
    CHECK(quiet.done() == 2);
  }
  std::fclose(w);
  std::string out;
  for (int c; (c = std::fgetc(r)) != EOF;) out += static_cast<char>(c);
  std::fclose(r);
  CHECK(out == "pipe 2/2 (100%) 2/s in 1.0s\n");
}

TEST_CASE("report::progress_bar redraws a terminal line in place at most every 0.1 s") {
  std::FILE* f = std::tmpfile();
  double now = 0;
  {
    wsss::report::progress_bar bar("tty", 4, f, {.tty = true, .clock = [&] { return now; }, .bar_width = 4});
    bar.tick();  // first tick draws
    now = 0.05;
    bar.tick();  // too soon: not drawn
    now = 0.2;
    bar.note("loss 1");  // drawn with the note
    bar.tick();          // too soon after the note
    now = 0.25;
    bar.tick();  // the last item always draws
    now = 0.3;
    bar.finish();
  }
  const std::string k = "\x1b[K";
  CHECK(contents(f) == "\rtty [#---] 1/4 (25%) -/s ETA -" + k +
                           "\rtty [##--] 2/4 (50%) 10/s ETA 0.2s | loss 1" + k +
                           "\rtty [####] 4/4 (100%) 16/s ETA 0.0s | loss 1" + k +
                           "\rtty [####] 4/4 (100%) 13.3/s in 0.3s | loss 1" + k + "\n");
  std::fclose(f);
}

TEST_CASE("report::progress_bar counts ticks from several threads") {
  std::FILE* f = std::tmpfile();
  wsss::report::progress_bar bar("threads", 4000, f);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) bar.tick();
    });
  for (auto& t : pool) t.join();
  bar.finish();
  CHECK(bar.done() == 4000);
  const std::string out = contents(f);
  std::size_t lines = 0;
  for (char c : out) lines += c == '\n';
  CHECK(lines == 10);  // 10%..90% once each, then the final line
  CHECK(out.find("threads 4000/4000 (100%)") != std::string::npos);
  std::fclose(f);
}
