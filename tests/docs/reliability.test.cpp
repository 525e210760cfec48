// SPDX-License-Identifier: MIT
// tests/docs/reliability.test.cpp — docs/reliability.md is kept current by the tests: every row
// `| Rnn | input | before | what it gets now | file |` names a file that holds a test (or CI
// step) tagged [Rnn] and contains, verbatim, every `backticked` excerpt of its "now" cell (the
// error text that test checks); and every [Rnn] tag in the tests has its row.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path root{WSSS_SOURCE_DIR};

std::string text_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::string cell;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '|' && row[i - 1] != '\\') {
      const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
      cell.clear();
    } else {
      cell += row[i];
    }
  }
  return out;
}

std::vector<std::string> backticked(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t a = s.find('`'); a != std::string::npos; a = s.find('`', a)) {
    const std::size_t b = s.find('`', a + 1);
    if (b == std::string::npos) break;
    out.push_back(s.substr(a + 1, b - a - 1));
    a = b + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("docs/reliability.md: every row is checked by the test it names, every tagged test has a row") {
  std::ifstream doc(root / "docs" / "reliability.md");
  REQUIRE(doc.good());
  std::map<std::string, std::string> rows;  // id -> file
  const std::regex id_re("R[0-9][0-9]");
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("| R", 0) != 0) continue;
    const auto c = cells(line);
    REQUIRE(c.size() == 5);
    CAPTURE(line);
    CHECK(std::regex_match(c[0], id_re));
    CHECK(rows.emplace(c[0], c[4]).second);  // one row per id
    std::string file = c[4];
    if (file.size() > 1 && file.front() == '`') file = file.substr(1, file.size() - 2);
    const auto path = root / file;
    REQUIRE_MESSAGE(fs::is_regular_file(path), "row ", c[0], " names ", file, ", which does not exist");
    const std::string source = text_of(path);
    CHECK_MESSAGE(source.find("[" + c[0] + "]") != std::string::npos, file, " has no test tagged [", c[0], "]");
    const auto excerpts = backticked(c[3]);
    CHECK_MESSAGE(!excerpts.empty(), "row ", c[0], " quotes nothing of what the input gets");
    for (const auto& x : excerpts)
      CHECK_MESSAGE(source.find(x) != std::string::npos, "row ", c[0], ": `", x, "` is not in ", file);
  }
  CHECK(rows.size() >= 19);

  // The other way: each tag in the tests (and CI files) has a row.
  const std::regex tag_re("\\[(R[0-9][0-9])\\]");
  std::set<std::string> tagged;
  for (const auto& dir : {root / "tests", root / ".ci"})
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file() ||
          (e.path().filename() == "reliability.test.cpp" && e.path().parent_path().filename() == "docs"))
        continue;
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".hpp" && ext != ".supp" && !e.path().filename().string().starts_with("run")) continue;
      const std::string t = text_of(e.path());
      for (std::sregex_iterator it(t.begin(), t.end(), tag_re), end; it != end; ++it) tagged.insert((*it)[1]);
    }
  for (const auto& id : tagged) CHECK_MESSAGE(rows.count(id), "[", id, "] is tagged in a test but has no row");
}
