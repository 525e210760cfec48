// SPDX-License-Identifier: MIT
// wsss/report/csv_log.hpp — a training log as CSV (step, loss terms, learning rate, time):
// rows flushed as written, and a resumed run keeps the rows up to its checkpoint
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"
#include "wsss/report/detail/format.hpp"

namespace wsss::report {

namespace detail {

inline constexpr std::string_view csv_component = "report::csv_log";

/// One field as CSV (RFC 4180): quoted when it holds a comma, a quote or a line break.
inline std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

inline std::string csv_line(std::span<const std::string> fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_field(fields[i]);
  }
  return line + '\n';
}

/// `line` without its line break.
inline std::string_view chomp(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

/// A record of a CSV text: its unquoted fields and its bytes (line break included).
struct csv_record {
  std::vector<std::string> fields;
  std::string_view raw;
};

/// Splits CSV text into records. A last record without its line break is left out: it is a
/// row whose write was cut short (the process died mid-write), not a row.
inline std::vector<csv_record> csv_records(std::string_view text) {
  std::vector<csv_record> out;
  std::size_t begin = 0, i = 0;
  csv_record rec;
  std::string field;
  bool quoted = false;
  while (i < text.size()) {
    const char c = text[i++];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i < text.size() && text[i] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rec.fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      if (!field.empty() && field.back() == '\r') field.pop_back();
      rec.fields.push_back(std::move(field));
      rec.raw = text.substr(begin, i - begin);
      out.push_back(std::move(rec));
      rec = {};
      field.clear();
      begin = i;
    } else {
      field += c;
    }
  }
  return out;
}

}  // namespace detail

/// One value of a row: an integer, a floating-point number (shortest decimal that reads back
/// to the same value) or text.
struct csv_cell {
  template <std::integral T>
  csv_cell(T v) : text(std::to_string(v)) {}  // NOLINT: implicit on purpose, row({step, loss})
  template <std::floating_point T>
  csv_cell(T v) : text(detail::shortest(v)) {}  // NOLINT
  csv_cell(std::string_view s) : text(s) {}     // NOLINT
  csv_cell(const char* s) : text(s) {}          // NOLINT
  csv_cell(const std::string& s) : text(s) {}   // NOLINT
  std::string text;
};

/// A CSV log with a fixed header. Every row is flushed to the file as it is written, so a
/// killed run keeps what it logged; a resumed run calls resume() with the step of the
/// checkpoint it resumes from, so the rows after it (which the rerun logs again) are not
/// duplicated.
///
///   auto log = report::csv_log::resume(work / "train.csv", {"step", "loss", "lr", "time_s"}, ckpt_step);
///   log.row({step, loss, lr, secs});
class csv_log {
 public:
  /// Starts a new log at `path`: the header line replaces any earlier file (atomically).
  csv_log(std::filesystem::path path, std::vector<std::string> columns)
      : path_(std::move(path)), columns_(std::move(columns)) {
    check_columns();
    io::write_file_atomic(path_, detail::csv_line(columns_));
    open_for_append();
  }

  /// Continues the log at `path`, keeping the rows whose `step` column is <= keep_until_step
  /// and dropping the rest, including a last row cut short by a crash; the kept rows are
  /// rewritten atomically, byte for byte. A missing file starts a new log. The file's header
  /// must equal `columns`, which must have a column named "step" (an integer); otherwise
  /// io_error naming the file (a log of another run's layout is not silently appended to).
  static csv_log resume(std::filesystem::path path, std::vector<std::string> columns, std::int64_t keep_until_step) {
    const auto step_at = std::find(columns.begin(), columns.end(), "step");
    if (step_at == columns.end())
      throw_value(detail::csv_component, "resume needs a column named \"step\" (", path.string(), ")");
    const auto step_col = static_cast<std::size_t>(step_at - columns.begin());
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return csv_log(std::move(path), std::move(columns));
    const auto bytes = io::detail::read_bytes(path, detail::csv_component);
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const auto records = detail::csv_records(text);
    if (records.empty() || records.front().fields != columns)
      throw_io(detail::csv_component, path, "expected the header '", detail::chomp(detail::csv_line(columns)),
               "', got '", records.empty() ? std::string_view() : detail::chomp(records.front().raw), "'");
    std::string kept(records.front().raw);
    for (std::size_t r = 1; r < records.size(); ++r) {
      const auto& f = records[r].fields;
      std::int64_t step = 0;
      const std::string& s = step_col < f.size() ? f[step_col] : std::string();
      const auto [end, errc] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (f.size() != columns.size() || errc != std::errc() || end != s.data() + s.size())
        throw_io(detail::csv_component, path, "line ", r + 1, ": expected ", columns.size(),
                 " fields with an integer step, got '", detail::chomp(records[r].raw), "'");
      if (step <= keep_until_step) kept += records[r].raw;
    }
    io::write_file_atomic(path, kept);
    return csv_log(std::move(path), std::move(columns), resumed{});
  }

  csv_log(csv_log&&) noexcept = default;
  csv_log& operator=(csv_log&&) noexcept = default;

  /// Appends one row (one value per column) and flushes it.
  void row(std::span<const csv_cell> values) {
    if (values.size() != columns_.size())
      throw_value(detail::csv_component, "a row needs ", columns_.size(), " values, got ", values.size(), " (",
                  path_.string(), ")");
    std::vector<std::string> fields;
    fields.reserve(values.size());
    for (const auto& v : values) fields.push_back(v.text);
    const std::string line = detail::csv_line(fields);
    if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() || std::fflush(file_.get()) != 0)
      throw_io(detail::csv_component, path_, "write failed: ", std::strerror(errno));
  }
  void row(std::initializer_list<csv_cell> values) { row(std::span<const csv_cell>(values.begin(), values.size())); }

  const std::filesystem::path& path() const noexcept { return path_; }
  const std::vector<std::string>& columns() const noexcept { return columns_; }

 private:
  struct resumed {};
  csv_log(std::filesystem::path path, std::vector<std::string> columns, resumed)
      : path_(std::move(path)), columns_(std::move(columns)) {
    open_for_append();
  }
  void check_columns() const {
    if (columns_.empty()) throw_value(detail::csv_component, "a log needs at least one column (", path_.string(), ")");
  }
  void open_for_append() {
    file_.reset(std::fopen(path_.c_str(), "ab"));
    if (!file_) throw_io(detail::csv_component, path_, "cannot open for appending: ", std::strerror(errno));
  }

  std::filesystem::path path_;
  std::vector<std::string> columns_;
  std::unique_ptr<std::FILE, io::detail::file_closer> file_;
};

}  // namespace wsss::report
