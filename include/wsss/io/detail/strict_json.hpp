// SPDX-License-Identifier: MIT
// wsss/io/detail/strict_json.hpp — JSON through nlohmann/json (Debian nlohmann-json3-dev,
// header-only, fuzzed upstream) with the checks our formats add: no duplicate keys, bounded
// nesting; errors as io_error naming the component and the file
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wsss/core/error.hpp"

namespace wsss::io::detail {

using json = nlohmann::json;

/// Deepest nesting a document may use (safetensors headers use 3 levels, results.json 3).
inline constexpr int json_max_depth = 64;

/// nlohmann's own DOM builder, fed by its SAX parser, with our two checks on the events: a
/// key repeated in one object (one hash set per open object: linear in the document) and
/// nesting deeper than json_max_depth. (Not the parser-callback interface: in nlohmann/json
/// 3.11 each object's end scans its parent's members, quadratic in the entries of a
/// safetensors header: 17 s for 20k tensors.) Throws io_error.
class strict_json_builder : public nlohmann::detail::json_sax_dom_parser<json> {
  using base = nlohmann::detail::json_sax_dom_parser<json>;

 public:
  strict_json_builder(json& root, std::string_view component, const std::filesystem::path& path, std::string what)
      : base(root, true), component_(component), path_(path), what_(std::move(what)) {}

  bool start_object(std::size_t n) {
    enter();
    keys_.emplace_back();
    return base::start_object(n);
  }
  bool key(json::string_t& k) {
    if (!keys_.back().insert(k).second) throw_io(component_, path_, what_, "duplicate key \"", k, "\"");
    return base::key(k);
  }
  bool end_object() {
    keys_.pop_back();
    --depth_;
    return base::end_object();
  }
  bool start_array(std::size_t n) {
    enter();
    return base::start_array(n);
  }
  bool end_array() {
    --depth_;
    return base::end_array();
  }

 private:
  void enter() {
    if (++depth_ > json_max_depth) throw_io(component_, path_, what_, "nesting deeper than ", json_max_depth);
  }
  std::string_view component_;
  const std::filesystem::path& path_;
  std::string what_;  // "" or "<what>: ", the start of every message
  int depth_ = 0;
  std::vector<std::unordered_set<std::string>> keys_;  // the keys seen in each open object
};

/// Parses `text` as one JSON value the way nlohmann/json reads RFC 8259 (no comments, no
/// trailing commas, valid UTF-8 only, numbers beyond double refused) and also refuses a key
/// repeated in one object and nesting deeper than json_max_depth (strict_json_builder).
/// Integers come back as number_unsigned (0 .. 2^64-1) or number_integer (negative); tokens
/// with a fraction or an exponent as number_float. Failures throw io_error
/// "[wsss.io] <component>: <what>: bad JSON at byte N: ... (<path>)" (N a 0-based offset;
/// without "<what>: " when `what` is empty).
inline json parse_json_strict(std::string_view text, std::string_view component, const std::filesystem::path& path,
                              std::string_view what = {}) {
  const std::string lead = what.empty() ? std::string() : std::string(what) + ": ";
  json root;
  strict_json_builder builder(root, component, path, lead);
  try {
    json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    if (const auto cut = msg.find("] "); msg.starts_with("[json.exception") && cut != std::string::npos)
      msg.erase(0, cut + 2);
    // nlohmann counts bytes from 1 (the end of the input is one past it): as an offset, - 1.
    throw_io(component, path, lead, "bad JSON at byte ", e.byte > 0 ? e.byte - 1 : 0, ": ", msg);
  } catch (const json::exception& e) {  // e.g. out_of_range 406: a number beyond double
    throw_io(component, path, lead, "bad JSON: ", e.what());
  }
  return root;
}

/// `s` as a JSON string literal (nlohmann/json's escapes; UTF-8 passes through). A string that
/// is not valid UTF-8 is an io_error naming `component` and `path`: no JSON reader (ours, the
/// Python safetensors package) would read the file back.
inline std::string json_quote(std::string_view s, std::string_view component, const std::filesystem::path& path) {
  try {
    return json(std::string(s)).dump();
  } catch (const json::exception&) {
    throw_io(component, path, "string is not valid UTF-8: '", s, "'");
  }
}

/// The JSON type name of v ("number", "string", ...), for error messages.
inline const char* json_kind(const json& v) noexcept {
  if (v.is_number()) return "number";
  return v.type_name();
}

}  // namespace wsss::io::detail
