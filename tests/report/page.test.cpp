// SPDX-License-Identifier: MIT
// tests/report/page.test.cpp — mIoU tables as text and HTML (best per column marked), the
// page's info block and figure grid, relative image paths, escaping
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/temp_dir.hpp"
#include "wsss/report/page.hpp"

namespace {

wsss::report::miou_table table() {
  const double nan = std::nan("");
  return {"pseudo-labels, train",
          {"background", "bag"},
          {{"CAM", {0.9, 0.4}, 0.65}, {"CAM + RW", {0.95, nan}, 0.95}, {"CAM + RW + dCRF", {0.95, 0.3}, 0.625}}};
}

}  // namespace

TEST_CASE("report::text_table prints one line per class, a column per variant, the best marked") {
  CHECK(wsss::report::text_table(table()) ==
        "pseudo-labels, train\n"
        "class            CAM  CAM + RW  CAM + RW + dCRF\n"
        "background    90.00     95.00*           95.00*\n"
        "bag           40.00*        -            30.00 \n"
        "mIoU          65.00     95.00*           62.50 \n");
  auto one = table();
  one.rows.resize(1);  // a single row has nothing to beat: no marks
  CHECK(wsss::report::text_table(one).find('*') == std::string::npos);
  one.rows[0].iou.pop_back();
  CHECK_THROWS_WITH_AS(wsss::report::text_table(one), doctest::Contains("row 'CAM' has 1 class IoUs, the table 2"),
                       wsss::value_error);
}

TEST_CASE("report::write_page writes one HTML file: info, bold bests, figures by relative path") {
  wsss_test::temp_dir dir;
  wsss::report::page p;
  p.title = "AffinityNet <scenes>";
  p.info = {{"dataset", "scenes & co"}, {"seed", "1"}};
  p.tables = {table()};
  p.figures = {{dir / "overlays" / "train 1.png", "train_00001: CAM"}, {"overlays/b.png", "b"}};
  wsss::report::write_page(dir / "report.html", p);
  const auto bytes = wsss_test::read_bytes(dir / "report.html");
  const std::string html(bytes.begin(), bytes.end());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<title>AffinityNet &lt;scenes&gt;</title>") != std::string::npos);
  CHECK(html.find("<tr><th>dataset</th><td>scenes &amp; co</td></tr>") != std::string::npos);
  CHECK(html.find("<tr><th>CAM</th><td class=\"num\">90.00</td><td class=\"num\"><b>40.00</b></td>"
                  "<td class=\"num\">65.00</td></tr>") != std::string::npos);
  CHECK(html.find("<tr><th>CAM + RW</th><td class=\"num\"><b>95.00</b></td><td class=\"num\">-</td>"
                  "<td class=\"num\"><b>95.00</b></td></tr>") != std::string::npos);
  CHECK(html.find("<img src=\"overlays/train%201.png\" alt=\"train_00001: CAM\">") != std::string::npos);
  CHECK(html.find("<img src=\"overlays/b.png\" alt=\"b\">") != std::string::npos);
  CHECK(html.find(dir.path().string()) == std::string::npos);  // nothing absolute
  CHECK(html.find("</html>\n") == html.size() - 8);
}
