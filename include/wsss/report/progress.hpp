// SPDX-License-Identifier: MIT
// wsss/report/progress.hpp — a progress bar for long stages: done/total, percent, rate and
// ETA; redrawn in place on a terminal, plain lines every 10% elsewhere (CI logs, pipes)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <unistd.h>

#include "wsss/report/detail/format.hpp"

namespace wsss::report {

/// Seconds on a monotonic clock. The bar takes it as a parameter so that tests can drive it.
using clock_fn = std::function<double()>;

inline double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct progress_options {
  bool quiet = false;              // print nothing at all
  std::optional<bool> tty = {};    // redraw in place? unset: isatty(out)
  clock_fn clock = {};             // unset: steady_seconds
  double redraw_interval_s = 0.1;  // a terminal is redrawn at most ~10 times a second
  int bar_width = 24;              // characters of the [####----] bar (terminal only)
};

/// Reports the progress of `total` items (0 = unknown total) on `out`.
///
///   report::progress_bar bar("train", steps);
///   for (...) { ...; bar.note("loss 0.412"); bar.tick(); }
///   bar.finish();
///
/// On a terminal the line is redrawn in place with '\r' (throttled, so ticking per item costs
/// a clock read and a mutex, not a write). Elsewhere a log must stay short and readable, so
/// one plain line is printed each time a further 10% is done and a last one by finish().
/// tick() and note() may be called from several threads.
class progress_bar {
 public:
  progress_bar(std::string label, std::size_t total, std::FILE* out = stderr, progress_options options = {})
      : label_(std::move(label)), total_(total), out_(out), opt_(std::move(options)) {
    if (!opt_.clock) opt_.clock = steady_seconds;
    if (!out_) opt_.quiet = true;
    tty_ = opt_.tty ? *opt_.tty : (out_ && ::isatty(::fileno(out_)) == 1);
    start_ = opt_.clock();
    last_draw_ = start_ - opt_.redraw_interval_s;  // the first tick draws at once
  }
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  /// Finishes the bar if finish() was not called, except while an exception unwinds: then a
  /// terminal line is only ended, so that the error message starts on a line of its own.
  ~progress_bar() {
    if (std::uncaught_exceptions() > exceptions_at_start_) {
      std::lock_guard lock(mu_);
      if (!finished_ && tty_ && drawn_ && !opt_.quiet) std::fputc('\n', out_);
      finished_ = true;
      return;
    }
    try {
      finish();
    } catch (...) {  // a destructor must not throw; a failed final write loses nothing
    }
  }

  /// Counts n more items done.
  void tick(std::size_t n = 1) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    done_ += n;
    if (opt_.quiet) return;
    const double now = opt_.clock();
    if (tty_) {
      if (now - last_draw_ >= opt_.redraw_interval_s || (total_ && done_ >= total_)) draw_tty(now, false);
    } else if (total_) {
      // The plain line for the highest tenth reached; 100% is left to finish().
      const std::size_t tenth = done_ >= total_ ? 10 : done_ * 10 / total_;
      if (tenth > tenths_printed_ && tenth < 10) {
        tenths_printed_ = tenth;
        write_line(status(now, false) + '\n');
      }
    }
  }

  /// Sets the text shown after the numbers (e.g. the current loss) until the next note.
  void note(std::string text) {
    std::lock_guard lock(mu_);
    note_ = std::move(text);
    if (!opt_.quiet && tty_ && !finished_) {
      const double now = opt_.clock();
      if (now - last_draw_ >= opt_.redraw_interval_s) draw_tty(now, false);
    }
  }

  /// Prints the final line (count, rate and the elapsed time) and ends it. Later calls and
  /// ticks do nothing.
  void finish() {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    if (opt_.quiet) return;
    const double now = opt_.clock();
    if (tty_) {
      draw_tty(now, true);
      std::fputc('\n', out_);
    } else {
      write_line(status(now, true) + '\n');
    }
    std::fflush(out_);
  }

  std::size_t done() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  std::size_t total() const noexcept { return total_; }

  /// The status text without the bar: "label 30/100 (30%) 12.5/s ETA 5.6s | note"; once
  /// finished, "in <elapsed>" replaces the ETA.
  std::string status() const {
    std::lock_guard lock(mu_);
    return status(opt_.clock(), finished_);
  }

 private:
  std::string status(double now, bool final) const {
    const double elapsed = now - start_;
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : -1;
    char buf[160];
    std::string s = label_;
    if (total_) {
      const double frac = done_ >= total_ ? 1.0 : static_cast<double>(done_) / static_cast<double>(total_);
      std::snprintf(buf, sizeof buf, " %zu/%zu (%.0f%%)", done_, total_, 100.0 * frac);
    } else {
      std::snprintf(buf, sizeof buf, " %zu", done_);
    }
    s += buf;
    if (rate >= 0) {
      std::snprintf(buf, sizeof buf, rate >= 100 ? " %.0f/s" : " %.3g/s", rate);  // 12.5/s, 0.25/s, 9950/s
      s += buf;
    } else {
      s += " -/s";
    }
    if (final) {
      s += " in " + detail::duration(elapsed);
    } else if (total_) {
      const double left = done_ >= total_ ? 0.0 : static_cast<double>(total_ - done_);
      s += " ETA " + (rate > 0 ? detail::duration(left / rate) : std::string("-"));
    }
    if (!note_.empty()) s += " | " + note_;
    return s;
  }

  void draw_tty(double now, bool final) {
    std::string line = "\r" + label_;
    if (total_ && opt_.bar_width > 0) {
      const std::size_t w = static_cast<std::size_t>(opt_.bar_width);
      const std::size_t fill = done_ >= total_ ? w : done_ * w / total_;
      line += " [" + std::string(fill, '#') + std::string(w - fill, '-') + "]";
    }
    line += status(now, final).substr(label_.size());
    line += "\x1b[K";  // clears what a longer earlier line left on the right
    write_line(line);
    last_draw_ = now;
    drawn_ = true;
  }

  void write_line(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), out_);
    std::fflush(out_);
  }

  std::string label_;
  std::size_t total_;
  std::FILE* out_;
  progress_options opt_;
  bool tty_ = false;
  double start_ = 0, last_draw_ = 0;
  mutable std::mutex mu_;
  std::size_t done_ = 0;
  std::size_t tenths_printed_ = 0;
  std::string note_;
  bool drawn_ = false, finished_ = false;
  int exceptions_at_start_ = std::uncaught_exceptions();
};

}  // namespace wsss::report
