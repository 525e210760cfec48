// SPDX-License-Identifier: MIT
// wsss/io/voc_annotation.hpp — PASCAL VOC's Annotations/<id>.xml: the image size and one
// bounding box per object (EM's box supervision, Papandreou et al. 2015 sec. 3.3), read and
// written as PASCAL's own files are laid out
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"

namespace wsss::io {

/// What an annotation file says: the image's size and its boxes ([x0, x1) x [y0, y1), 0-based;
/// the file's xmin..xmax are 1-based and inclusive, so x0 = xmin - 1 and x1 = xmax).
struct voc_annotation {
  index_t width = 0, height = 0;
  box_list boxes;
};

namespace detail {

/// A parsed XML element: its name, its text (concatenated character data) and its children.
/// Enough XML for PASCAL's files: elements, attributes (skipped), self-closing tags, comments,
/// the declaration and processing instructions; entities &lt; &gt; &amp; &quot; &apos;.
struct xml_node {
  std::string name, text;
  std::vector<std::unique_ptr<xml_node>> children;

  const xml_node* child(std::string_view n) const {
    for (const auto& c : children)
      if (c->name == n) return c.get();
    return nullptr;
  }
};

class xml_parser {
 public:
  xml_parser(std::string_view text, const std::filesystem::path& file) : s_(text), file_(file) {}

  std::unique_ptr<xml_node> document() {
    skip_misc();
    if (!at('<')) fail("no root element");
    auto root = element();
    skip_misc();
    if (i_ != s_.size()) fail("text after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    std::size_t line = 1 + static_cast<std::size_t>(std::count(s_.begin(), s_.begin() + static_cast<std::ptrdiff_t>(std::min(i_, s_.size())), '\n'));
    throw_io("io::voc_annotation", file_, "malformed XML at line ", line, ": ", why);
  }
  bool at(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool starts(std::string_view p) const { return s_.substr(i_, p.size()) == p; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void skip_until(std::string_view end, const char* what) {
    const auto e = s_.find(end, i_);
    if (e == std::string_view::npos) fail(std::string("unterminated ") + what);
    i_ = e + end.size();
  }
  // Whitespace, comments, the declaration, processing instructions and a DOCTYPE.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts("<!--")) skip_until("-->", "comment");
      else if (starts("<?")) skip_until("?>", "processing instruction");
      else if (starts("<!DOCTYPE")) skip_until(">", "DOCTYPE");
      else return;
    }
  }
  std::string name() {
    const std::size_t b = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' || s_[i_] == '-' ||
                              s_[i_] == ':' || s_[i_] == '.'))
      ++i_;
    if (i_ == b) fail("expected a name");
    return std::string(s_.substr(b, i_ - b));
  }
  void text_into(std::string& out, std::size_t end) {
    while (i_ < end) {
      if (s_[i_] != '&') {
        out += s_[i_++];
        continue;
      }
      static constexpr std::pair<std::string_view, char> entities[] = {
          {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool known = false;
      for (const auto& [ent, ch] : entities)
        if (starts(ent)) {
          out += ch;
          i_ += ent.size();
          known = true;
          break;
        }
      if (!known) fail("unknown entity");
    }
  }
  std::unique_ptr<xml_node> element(int depth = 0) {
    if (depth >= 64) fail("elements nested deeper than 64 (PASCAL's files nest 4 deep)");  // bounds the recursion
    ++i_;  // '<'
    auto node = std::make_unique<xml_node>();
    node->name = name();
    for (;;) {  // attributes: name="value" or name='value', skipped
      skip_space();
      if (starts("/>")) {
        i_ += 2;
        return node;
      }
      if (at('>')) {
        ++i_;
        break;
      }
      name();
      skip_space();
      if (!at('=')) fail("expected '=' after an attribute name in <" + node->name + ">");
      ++i_;
      skip_space();
      if (!at('"') && !at('\'')) fail("expected a quoted attribute value in <" + node->name + ">");
      const char q = s_[i_++];
      const auto e = s_.find(q, i_);
      if (e == std::string_view::npos) fail("unterminated attribute value in <" + node->name + ">");
      i_ = e + 1;
    }
    for (;;) {  // content
      const auto lt = s_.find('<', i_);
      if (lt == std::string_view::npos) fail("<" + node->name + "> is never closed");
      text_into(node->text, lt);
      if (starts("<!--")) skip_until("-->", "comment");
      else if (starts("<![CDATA[")) {
        const auto e = s_.find("]]>", i_);
        if (e == std::string_view::npos) fail("unterminated CDATA");
        node->text += s_.substr(i_ + 9, e - i_ - 9);
        i_ = e + 3;
      } else if (starts("<?")) skip_until("?>", "processing instruction");
      else if (starts("</")) {
        i_ += 2;
        const std::string close = name();
        skip_space();
        if (close != node->name) fail("</" + close + "> closes <" + node->name + ">");
        if (!at('>')) fail("expected '>' after </" + close);
        ++i_;
        return node;
      } else {
        node->children.push_back(element(depth + 1));
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  const std::filesystem::path& file_;
};

inline std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace detail

/// Parses an annotation; class names map to ids by their index in `class_names` (index 0 is
/// background, never a box). Objects' own <bndbox> only (a <part>'s boxes are skipped). Every
/// problem is an io_error naming `file`: malformed XML, a missing element, a number that is
/// not one, an unknown class, a box outside the image or empty.
inline voc_annotation parse_voc_annotation(std::string_view text, const std::vector<std::string>& class_names,
                                           const std::filesystem::path& file = "<memory>") {
  constexpr std::string_view who = "io::voc_annotation";
  const auto root = detail::xml_parser(text, file).document();
  if (root->name != "annotation") throw_io(who, file, "the root element is <", root->name, ">, not <annotation>");
  auto need = [&](const detail::xml_node* parent, std::string_view n, std::string_view where) -> const detail::xml_node& {
    const detail::xml_node* c = parent->child(n);
    if (!c) throw_io(who, file, "<", where, "> has no <", n, ">");
    return *c;
  };
  auto number = [&](const detail::xml_node* parent, std::string_view n, std::string_view where) {
    const std::string t = detail::trimmed(need(parent, n, where).text);
    double v = 0;  // PASCAL writes integers; some tools write 273.0
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    // Range first: casting a double outside index_t's range is undefined (the fuzzer found 7.8e19).
    constexpr double limit = 0x1p30;
    if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size() || !(std::fabs(v) <= limit) || v != std::trunc(v))
      throw_io(who, file, "<", where, "><", n, "> is '", t, "', not an integer in [-2^30, 2^30]");
    return static_cast<index_t>(v);
  };
  voc_annotation a;
  const detail::xml_node& size = need(root.get(), "size", "annotation");
  a.width = number(&size, "width", "size");
  a.height = number(&size, "height", "size");
  if (a.width < 1 || a.height < 1) throw_io(who, file, "image size ", a.width, "x", a.height, " is empty");
  for (const auto& o : root->children) {
    if (o->name != "object") continue;
    const std::string cls = detail::trimmed(need(o.get(), "name", "object").text);
    const auto it = std::find(class_names.begin(), class_names.end(), cls);
    if (it == class_names.end() || it == class_names.begin())
      throw_io(who, file, "object class '", cls, "' is not one of the dataset's ", class_names.size() - 1, " classes");
    const detail::xml_node& bb = need(o.get(), "bndbox", "object");
    box b;
    b.label = static_cast<int>(it - class_names.begin());
    b.x0 = number(&bb, "xmin", "bndbox") - 1;
    b.y0 = number(&bb, "ymin", "bndbox") - 1;
    b.x1 = number(&bb, "xmax", "bndbox");
    b.y1 = number(&bb, "ymax", "bndbox");
    if (b.x0 < 0 || b.y0 < 0 || b.x1 > a.width || b.y1 > a.height || b.x0 >= b.x1 || b.y0 >= b.y1)
      throw_io(who, file, "box of '", cls, "' (", b.x0 + 1, ", ", b.y0 + 1, ") - (", b.x1, ", ", b.y1,
               ") is empty or outside the ", a.width, "x", a.height, " image");
    a.boxes.push_back(b);
  }
  return a;
}

inline voc_annotation read_voc_annotation(const std::filesystem::path& path, const std::vector<std::string>& class_names) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw_io("io::voc_annotation", path, "annotation file not found");
  const auto bytes = detail::read_bytes(path, "io::voc_annotation");
  return parse_voc_annotation(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), class_names, path);
}

/// The annotation as PASCAL lays it out (1-based inclusive coordinates), written atomically.
inline void write_voc_annotation(const std::filesystem::path& path, const std::string& image_file, const voc_annotation& a,
                                 const std::vector<std::string>& class_names) {
  auto escaped = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '<') out += "&lt;";
      else if (c == '>') out += "&gt;";
      else if (c == '&') out += "&amp;";
      else out += c;
    }
    return out;
  };
  std::ostringstream os;
  os << "<annotation>\n\t<folder>wsss</folder>\n\t<filename>" << escaped(image_file) << "</filename>\n\t<size>\n\t\t<width>"
     << a.width << "</width>\n\t\t<height>" << a.height << "</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>1</segmented>\n";
  for (const box& b : a.boxes) {
    if (b.label < 1 || b.label >= static_cast<int>(class_names.size()))
      throw_value("io::voc_annotation", "box class ", b.label, " has no name among ", class_names.size(), " classes");
    os << "\t<object>\n\t\t<name>" << escaped(class_names[static_cast<std::size_t>(b.label)])
       << "</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
       << "\t\t\t<xmin>" << b.x0 + 1 << "</xmin>\n\t\t\t<ymin>" << b.y0 + 1 << "</ymin>\n\t\t\t<xmax>" << b.x1
       << "</xmax>\n\t\t\t<ymax>" << b.y1 << "</ymax>\n\t\t</bndbox>\n\t</object>\n";
  }
  os << "</annotation>\n";
  write_file_atomic(path, os.str());
}

}  // namespace wsss::io
