// SPDX-License-Identifier: MIT
// wsss/report/page.hpp — the final report of a run: mIoU tables (HTML page and terminal text)
// and a grid of overlay images, in one self-contained HTML file written atomically
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/eval/confusion.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/report/detail/format.hpp"

namespace wsss::report {

/// One variant's scores: per-class IoU and mIoU as fractions (NaN = undefined, shown "-").
struct miou_row {
  std::string name;
  std::vector<double> iou;
  double miou = std::nan("");
};

/// The row of a confusion matrix (its iou() and miou()).
inline miou_row make_miou_row(std::string name, const eval::confusion_matrix& m) {
  return {std::move(name), m.iou(), m.miou()};
}

/// Rows = variants (CAM, CAM + RW, ...), columns = classes then mIoU.
struct miou_table {
  std::string title;
  std::vector<std::string> class_names;
  std::vector<miou_row> rows;
};

/// An image shown in the page's grid; a relative path is taken from the page's folder.
struct figure {
  std::filesystem::path image;
  std::string caption;
};

struct page {
  std::string title;
  std::vector<std::pair<std::string, std::string>> info;  // dataset, seed, CPU, times, ...
  std::vector<miou_table> tables;
  std::vector<figure> figures;
};

namespace detail {

inline void check_table(const miou_table& t) {
  for (const auto& r : t.rows)
    if (r.iou.size() != t.class_names.size())
      throw_value("report::miou_table", "row '", r.name, "' has ", r.iou.size(), " class IoUs, the table ",
                  t.class_names.size(), " classes ('", t.title, "')");
}

/// Whether row r holds the best value of column c (c == classes: the mIoU column). Only a
/// table of two or more rows with a value there has a best: one row has nothing to beat.
inline bool is_best(const miou_table& t, std::size_t r, std::size_t c) {
  const auto at = [&](std::size_t i) { return c < t.class_names.size() ? t.rows[i].iou[c] : t.rows[i].miou; };
  if (std::isnan(at(r))) return false;
  std::size_t with_value = 0;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    if (std::isnan(at(i))) continue;
    ++with_value;
    if (at(i) > at(r)) return false;
  }
  return with_value > 1;
}

inline std::string html_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// A relative path as a URL path: '/'-separated, bytes outside the unreserved set %-encoded.
inline std::string url_path(const std::filesystem::path& p) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : p.generic_string()) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || std::string_view("-._~/").find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace detail

/// The table for a terminal: one line per class and a last mIoU line, one column per variant
/// (rows and columns swapped from the HTML, since 21 class columns do not fit a terminal);
/// the best value of each line is marked with '*'.
inline std::string text_table(const miou_table& t) {
  detail::check_table(t);
  std::size_t name_w = 5;  // "class"
  for (const auto& n : t.class_names) name_w = std::max(name_w, n.size());
  std::vector<std::size_t> col_w;
  for (const auto& r : t.rows) col_w.push_back(std::max<std::size_t>(8, r.name.size()));
  const auto pad = [](std::string s, std::size_t w, bool right) {
    if (s.size() >= w) return s;
    return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
  };
  std::string out;
  if (!t.title.empty()) out += t.title + '\n';
  out += pad("class", name_w, false);
  for (std::size_t r = 0; r < t.rows.size(); ++r) out += "  " + pad(t.rows[r].name, col_w[r], true);
  out += '\n';
  for (std::size_t c = 0; c <= t.class_names.size(); ++c) {
    out += pad(c < t.class_names.size() ? t.class_names[c] : "mIoU", name_w, false);
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      const double v = c < t.class_names.size() ? t.rows[r].iou[c] : t.rows[r].miou;
      out += "  " + pad(detail::percent(v) + (detail::is_best(t, r, c) ? "*" : " "), col_w[r], true);
    }
    out += '\n';
  }
  return out;
}

/// The page as one HTML document (inline style, no script); images are referenced, not
/// embedded, by the figures' paths as given.
inline std::string render_html(const page& p) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + detail::html_escape(p.title) +
      "</title>\n<style>\n"
      "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}\n"
      "th,td{border:1px solid #ccc;padding:2px 6px}td.num{text-align:right}table.info th{text-align:left}\n"
      ".grid{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-size:90%}\n"
      "</style>\n</head>\n<body>\n<h1>" +
      detail::html_escape(p.title) + "</h1>\n";
  if (!p.info.empty()) {
    h += "<table class=\"info\">\n";
    for (const auto& [k, v] : p.info)
      h += "<tr><th>" + detail::html_escape(k) + "</th><td>" + detail::html_escape(v) + "</td></tr>\n";
    h += "</table>\n";
  }
  for (const auto& t : p.tables) {
    detail::check_table(t);
    if (!t.title.empty()) h += "<h2>" + detail::html_escape(t.title) + "</h2>\n";
    h += "<table class=\"miou\">\n<tr><th></th>";
    for (const auto& n : t.class_names) h += "<th>" + detail::html_escape(n) + "</th>";
    h += "<th>mIoU</th></tr>\n";
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      h += "<tr><th>" + detail::html_escape(t.rows[r].name) + "</th>";
      for (std::size_t c = 0; c <= t.class_names.size(); ++c) {
        const std::string v = detail::percent(c < t.class_names.size() ? t.rows[r].iou[c] : t.rows[r].miou);
        h += detail::is_best(t, r, c) ? "<td class=\"num\"><b>" + v + "</b></td>" : "<td class=\"num\">" + v + "</td>";
      }
      h += "</tr>\n";
    }
    h += "</table>\n";
  }
  if (!p.figures.empty()) {
    h += "<div class=\"grid\">\n";
    for (const auto& f : p.figures)
      h += "<figure><img src=\"" + detail::html_escape(detail::url_path(f.image)) + "\" alt=\"" +
           detail::html_escape(f.caption) + "\"><figcaption>" + detail::html_escape(f.caption) +
           "</figcaption></figure>\n";
    h += "</div>\n";
  }
  return h + "</body>\n</html>\n";
}

/// Writes the page to `path` atomically. Absolute figure paths are made relative to the
/// page's folder, so the page and its images can be moved together.
inline void write_page(const std::filesystem::path& path, page p) {
  const auto folder = std::filesystem::absolute(path).lexically_normal().parent_path();
  for (auto& f : p.figures)
    if (f.image.is_absolute()) f.image = f.image.lexically_normal().lexically_relative(folder);
  io::write_file_atomic(path, render_html(p));
}

}  // namespace wsss::report
