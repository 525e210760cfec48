// SPDX-License-Identifier: MIT
// tests/docs/snippets.test.cpp — docs snippets are compiled code: every fenced block that a
// `<!-- snippet: <file> <id> -->` line introduces in README.md or docs/*.md must equal the
// region between `// example-begin <id>` and `// example-end` in that (compiled) file.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using lines = std::vector<std::string>;

const fs::path root{WSSS_SOURCE_DIR};

lines read_lines(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE_MESSAGE(in.good(), "cannot read ", p.string());
  lines out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string trim_left(const std::string& s) { return s.substr(std::min(s.find_first_not_of(' '), s.size())); }

/// Removes the indentation common to all non-blank lines.
lines dedent(lines ls) {
  std::size_t common = std::string::npos;
  for (const std::string& l : ls)
    if (l.find_first_not_of(' ') != std::string::npos) common = std::min(common, l.find_first_not_of(' '));
  for (std::string& l : ls) l = l.size() > common ? l.substr(common) : trim_left(l);
  return ls;
}

/// The region `id` of a source file, dedented; empty when the file has no such marker.
lines region(const fs::path& file, const std::string& id) {
  const lines src = read_lines(file);
  lines out;
  bool inside = false;
  for (const std::string& l : src) {
    const std::string t = trim_left(l);
    if (!inside && t == "// example-begin " + id) {
      inside = true;
    } else if (inside && (t == "// example-end" || t == "// example-end " + id)) {
      return dedent(out);
    } else if (inside) {
      out.push_back(l);
    }
  }
  return {};
}

struct snippet {
  fs::path doc;
  std::size_t line;  // 1-based line of the marker
  fs::path source;
  std::string id;
  lines block;  // the fenced code after the marker
};

/// Every marked snippet of one markdown file.
std::vector<snippet> snippets_of(const fs::path& doc) {
  const std::string tag = "<!-- snippet: ";
  const lines md = read_lines(doc);
  std::vector<snippet> out;
  for (std::size_t i = 0; i < md.size(); ++i) {
    if (md[i].rfind(tag, 0) != 0) continue;
    std::istringstream words(md[i].substr(tag.size()));
    snippet s{doc, i + 1, {}, {}, {}};
    std::string file;
    words >> file >> s.id;
    s.source = root / file;
    std::size_t j = i + 1;
    REQUIRE_MESSAGE((j < md.size() && md[j].rfind("```", 0) == 0), doc.string(), ":", i + 1,
                    ": a snippet marker must be followed by a code fence");
    for (++j; j < md.size() && md[j].rfind("```", 0) != 0; ++j) s.block.push_back(md[j]);
    out.push_back(std::move(s));
  }
  return out;
}

/// The block equals the region, except that it may add #include lines and blank lines before it
/// (a reader needs the include; the source has it at its top).
bool matches(const lines& block, const lines& reg) {
  std::size_t k = 0;
  while (k < block.size() && (block[k].empty() || block[k].rfind("#include", 0) == 0)) ++k;
  return lines(block.begin() + static_cast<std::ptrdiff_t>(k), block.end()) == reg;
}

}  // namespace

TEST_CASE("docs: every marked snippet is its compiled source region, character for character") {
  std::vector<fs::path> docs{root / "README.md"};
  for (const auto& e : fs::directory_iterator(root / "docs"))
    if (e.path().extension() == ".md") docs.push_back(e.path());
  std::sort(docs.begin(), docs.end());

  std::size_t checked = 0;
  std::set<std::string> documents;
  for (const fs::path& doc : docs) {
    for (const snippet& s : snippets_of(doc)) {
      INFO(s.doc.string(), ":", s.line, " <- ", s.source.string(), " region '", s.id, "'");
      REQUIRE_MESSAGE(fs::exists(s.source), "the snippet's source file does not exist");
      const lines reg = region(s.source, s.id);
      REQUIRE_MESSAGE(!reg.empty(), "the source has no example-begin/example-end region of that id");
      CHECK_MESSAGE(matches(s.block, reg), "the snippet differs from its source region");
      ++checked;
      documents.insert(s.doc.filename().string());
    }
  }
  // The check is vacuous if the markers vanish: the README's quick start is always one of them.
  CHECK(documents.count("README.md") == 1);
  CHECK(checked >= 4);
}

TEST_CASE("docs: the snippet check itself tells a copied region from an edited one") {
  const lines reg{"int a = 1;", "  f(a);"};
  CHECK(matches({"#include <x.hpp>", "", "int a = 1;", "  f(a);"}, reg));
  CHECK_FALSE(matches({"int a = 2;", "  f(a);"}, reg));
  CHECK_FALSE(matches({"int a = 1;"}, reg));
  CHECK(dedent({"    x;", "", "      y;"}) == lines{"x;", "", "  y;"});
}
