// SPDX-License-Identifier: MIT
// wsss/report/results.hpp — the summary every method writes as <work>/results.json, its
// reader, and docs/results.md: one table over all methods' runs
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"
#include "wsss/io/detail/strict_json.hpp"
#include "wsss/report/detail/format.hpp"

namespace wsss::report {

/// One evaluated labelling: e.g. {"CAM + RW", "train", 0.581, per-class IoUs}. IoUs are
/// fractions; NaN (undefined: a class in neither ground truth nor prediction) is JSON null.
struct result_row {
  std::string name;
  std::string split;
  double miou = std::nan("");
  std::vector<double> per_class;
};

/// A run's summary. Rows are in pipeline order: the last "train" row is the method's final
/// pseudo-labels and the last "val" row its segmentation network (what docs/results.md shows).
struct results {
  std::string method;
  std::string variant;
  std::uint64_t seed = 0;
  std::string dataset;
  std::string cpu;
  int threads = 0;
  double time_s = 0;
  std::vector<std::string> class_names;  // optional; labels per_class
  std::vector<result_row> rows;
};

namespace detail {

inline constexpr std::string_view results_component = "report::results";

inline std::string json_string(std::string_view s) {
  return io::detail::json_quote(s, results_component, "results.json");
}
inline std::string json_number(double v) { return std::isfinite(v) ? shortest(v) : "null"; }

using json = io::detail::json;

/// Member `key` of `obj`, a `kind` ("string", "number", "array") value (a number may also be
/// null when `nullable`), else io_error naming the file and where in it.
inline const json& member(const json& obj, std::string_view key, std::string_view kind, std::string_view where,
                          const std::filesystem::path& path, bool nullable = false) {
  const auto it = obj.find(key);
  if (it == obj.end()) throw_io(results_component, path, where, ": missing \"", key, "\"");
  const std::string_view got = io::detail::json_kind(*it);
  if (got != kind && !(nullable && it->is_null()))
    throw_io(results_component, path, where, ": \"", key, "\" must be a ", kind, ", got a ", got);
  return *it;
}

inline double number_or_nan(const json& v) { return v.is_null() ? std::nan("") : v.get<double>(); }

/// A markdown table cell: '|' escaped, line breaks as spaces.
inline std::string md_cell(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

}  // namespace detail

/// The summary as JSON (two-space indent, one row per line), the format read_results reads.
inline std::string to_json(const results& r) {
  using detail::json_number;
  using detail::json_string;
  std::string s = "{\n";
  s += "  \"method\": " + json_string(r.method) + ",\n";
  s += "  \"variant\": " + json_string(r.variant) + ",\n";
  s += "  \"seed\": " + std::to_string(r.seed) + ",\n";
  s += "  \"dataset\": " + json_string(r.dataset) + ",\n";
  s += "  \"cpu\": " + json_string(r.cpu) + ",\n";
  s += "  \"threads\": " + std::to_string(r.threads) + ",\n";
  s += "  \"time_s\": " + json_number(r.time_s) + ",\n";
  s += "  \"class_names\": [";
  for (std::size_t i = 0; i < r.class_names.size(); ++i) {
    if (i) s += ", ";
    s += json_string(r.class_names[i]);
  }
  s += "],\n  \"rows\": [";
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const auto& row = r.rows[i];
    s += i ? ",\n" : "\n";
    s += "    {\"name\": " + json_string(row.name) + ", \"split\": " + json_string(row.split) +
         ", \"miou\": " + json_number(row.miou) + ", \"per_class\": [";
    for (std::size_t k = 0; k < row.per_class.size(); ++k) {
      if (k) s += ", ";
      s += json_number(row.per_class[k]);
    }
    s += "]}";
  }
  s += r.rows.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return s;
}

/// Writes the summary to `path` atomically.
inline void write_results(const std::filesystem::path& path, const results& r) {
  io::write_file_atomic(path, to_json(r));
}

/// Parses a summary; `path` names the source in errors. Bad JSON, a missing field or a field
/// of the wrong type is an io_error "[wsss.io] report::results: ... (<path>)". Unknown fields
/// are ignored (later methods may add their own); class_names may be absent.
inline results parse_results(std::string_view text, const std::filesystem::path& path = "<memory>") {
  using detail::member;
  const detail::json doc = io::detail::parse_json_strict(text, detail::results_component, path);
  if (!doc.is_object()) throw_io(detail::results_component, path, "the top level must be an object");
  results r;
  r.method = member(doc, "method", "string", "top level", path).get<std::string>();
  r.variant = member(doc, "variant", "string", "top level", path).get<std::string>();
  const auto& seed = member(doc, "seed", "number", "top level", path);
  if (!seed.is_number_unsigned()) throw_io(detail::results_component, path, "\"seed\" must be a non-negative integer");
  r.seed = seed.get<std::uint64_t>();
  r.dataset = member(doc, "dataset", "string", "top level", path).get<std::string>();
  r.cpu = member(doc, "cpu", "string", "top level", path).get<std::string>();
  const auto& threads = member(doc, "threads", "number", "top level", path);
  if (!threads.is_number_unsigned() || threads.get<std::uint64_t>() > 1 << 20)
    throw_io(detail::results_component, path, "\"threads\" must be a non-negative integer");
  r.threads = static_cast<int>(threads.get<std::uint64_t>());
  r.time_s = detail::number_or_nan(member(doc, "time_s", "number", "top level", path, true));
  if (const auto names = doc.find("class_names"); names != doc.end()) {
    if (!names->is_array()) throw_io(detail::results_component, path, "\"class_names\" must be an array");
    for (const auto& n : *names) {
      if (!n.is_string()) throw_io(detail::results_component, path, "\"class_names\" must hold strings");
      r.class_names.push_back(n.get<std::string>());
    }
  }
  const auto& rows = member(doc, "rows", "array", "top level", path);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& e = rows[i];
    const std::string where = "rows[" + std::to_string(i) + "]";
    if (!e.is_object()) throw_io(detail::results_component, path, where, " must be an object");
    result_row row;
    row.name = member(e, "name", "string", where, path).get<std::string>();
    row.split = member(e, "split", "string", where, path).get<std::string>();
    row.miou = detail::number_or_nan(member(e, "miou", "number", where, path, true));
    for (const auto& v : member(e, "per_class", "array", where, path)) {
      if (!v.is_number() && !v.is_null())
        throw_io(detail::results_component, path, where, ": \"per_class\" must hold numbers or null");
      row.per_class.push_back(detail::number_or_nan(v));
    }
    r.rows.push_back(std::move(row));
  }
  return r;
}

/// Reads a summary file (see parse_results).
inline results read_results(const std::filesystem::path& path) {
  const auto bytes = io::detail::read_bytes(path, detail::results_component);
  return parse_results(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

/// The mIoU of the last row of `split` (NaN when the run has none).
inline double last_miou(const results& r, std::string_view split) {
  for (auto it = r.rows.rbegin(); it != r.rows.rend(); ++it)
    if (it->split == split) return it->miou;
  return std::nan("");
}

/// docs/results.md: a title, how the table is made, and one row per run: method, variant,
/// pseudo-label mIoU on train (last train row), segmentation mIoU on val (last val row), seed,
/// time, CPU and threads. Runs appear in the given order.
inline std::string results_markdown(std::span<const results> runs) {
  std::string md =
      "# Results\n\n"
      "Written by `wsss results` from each run's `results.json`; do not edit by hand. mIoU in %\n"
      "(VOC convention). Pseudo-labels: the last train row of a run (its final pseudo-labels);\n"
      "segmentation: the last val row (its segmentation network); \"-\": the run has no such row.\n\n"
      "| method | variant | pseudo-label mIoU (train) | segmentation mIoU (val) | seed | time | CPU |\n"
      "|---|---|---:|---:|---:|---:|---|\n";
  using detail::md_cell;
  for (const auto& r : runs)
    md += "| " + md_cell(r.method) + " | " + md_cell(r.variant) + " | " + detail::percent(last_miou(r, "train")) +
          " | " + detail::percent(last_miou(r, "val")) + " | " + std::to_string(r.seed) + " | " +
          detail::duration(r.time_s) + " | " + md_cell(r.cpu) + ", " + std::to_string(r.threads) +
          (r.threads == 1 ? " thread" : " threads") + " |\n";
  return md;
}

/// Writes results_markdown(runs) to `path` atomically.
inline void write_results_markdown(std::span<const results> runs, const std::filesystem::path& path) {
  io::write_file_atomic(path, results_markdown(runs));
}

}  // namespace wsss::report
