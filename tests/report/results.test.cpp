// SPDX-License-Identifier: MIT
// tests/report/results.test.cpp — results.json round trip, errors naming the file, the
// docs/results.md table, cpu_name
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/temp_dir.hpp"
#include "wsss/report/cpu.hpp"
#include "wsss/report/results.hpp"

namespace {

// `s` with its first `from` replaced by `to`.
std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

wsss::report::results sample() {
  wsss::report::results r;
  r.method = "affinitynet";
  r.variant = "paper";
  r.seed = 7;
  r.dataset = "scenes 200+50 \"128\"";
  r.cpu = "AMD EPYC";
  r.threads = 2;
  r.time_s = 452.5;
  r.class_names = {"background", "bag"};
  r.rows = {{"CAM", "train", 0.48, {0.9, 0.06}},
            {"CAM + RW + dCRF", "train", 0.597, {0.95, std::nan("")}},
            {"DeepLab", "val", 0.625, {0.96, 0.29}}};
  return r;
}

}  // namespace

TEST_CASE("report::results round-trips through results.json, null for undefined IoU") {
  wsss_test::temp_dir dir;
  const auto path = dir / "results.json";
  wsss::report::write_results(path, sample());
  const auto bytes = wsss_test::read_bytes(path);
  const std::string text(bytes.begin(), bytes.end());
  CHECK(text ==
        "{\n"
        "  \"method\": \"affinitynet\",\n"
        "  \"variant\": \"paper\",\n"
        "  \"seed\": 7,\n"
        "  \"dataset\": \"scenes 200+50 \\\"128\\\"\",\n"
        "  \"cpu\": \"AMD EPYC\",\n"
        "  \"threads\": 2,\n"
        "  \"time_s\": 452.5,\n"
        "  \"class_names\": [\"background\", \"bag\"],\n"
        "  \"rows\": [\n"
        "    {\"name\": \"CAM\", \"split\": \"train\", \"miou\": 0.48, \"per_class\": [0.9, 0.06]},\n"
        "    {\"name\": \"CAM + RW + dCRF\", \"split\": \"train\", \"miou\": 0.597, \"per_class\": [0.95, null]},\n"
        "    {\"name\": \"DeepLab\", \"split\": \"val\", \"miou\": 0.625, \"per_class\": [0.96, 0.29]}\n"
        "  ]\n"
        "}\n");
  const auto r = wsss::report::read_results(path);
  CHECK(r.method == "affinitynet");
  CHECK(r.dataset == "scenes 200+50 \"128\"");
  CHECK(r.seed == 7);
  CHECK(r.threads == 2);
  CHECK(r.time_s == 452.5);
  CHECK(r.class_names == std::vector<std::string>{"background", "bag"});
  REQUIRE(r.rows.size() == 3);
  CHECK(r.rows[1].name == "CAM + RW + dCRF");
  CHECK(r.rows[1].miou == 0.597);
  CHECK(std::isnan(r.rows[1].per_class[1]));
  CHECK(wsss::report::to_json(r) == text);
}

TEST_CASE("report::read_results names the file and what is wrong") {
  wsss_test::temp_dir dir;
  const auto path = dir / "results.json";
  const auto with = [&](const std::string& s) {
    wsss_test::write_bytes(path, std::vector<unsigned char>(s.begin(), s.end()));
    return path;
  };
  CHECK_THROWS_WITH_AS(wsss::report::read_results(dir / "none.json"),
                       doctest::Contains("[wsss.io] report::results: file not found"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::report::read_results(with("{\"method\": ")),
                       doctest::Contains("[wsss.io] report::results: bad JSON at byte 11"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::report::read_results(with("[]")), doctest::Contains("top level must be an object"),
                       wsss::io_error);
  const std::string good = wsss::report::to_json(sample());
  CHECK_THROWS_WITH_AS(wsss::report::read_results(with(replaced(good, "\"seed\": 7", "\"seed\": \"7\""))),
                       doctest::Contains(("top level: \"seed\" must be a number, got a string (" + path.string() + ")").c_str()),
                       wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::report::read_results(with(replaced(good, "\"split\": \"val\", ", ""))),
                       doctest::Contains("rows[2]: missing \"split\""), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::report::read_results(with(replaced(good, "0.96", "true"))),
                       doctest::Contains("rows[2]: \"per_class\" must hold numbers or null"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::report::read_results(with(replaced(good, "\"seed\": 7", "\"seed\": -7"))),
                       doctest::Contains("\"seed\" must be a non-negative integer"), wsss::io_error);
  // Unknown fields are ignored (later methods may add their own); class_names may be left out.
  const auto other = replaced(good, "\"class_names\": [\"background\", \"bag\"]", "\"epochs\": {\"cls\": 5}");
  CHECK(wsss::report::parse_results(other).class_names.empty());
}

TEST_CASE("report::results_markdown makes one table row per run from the last train and val rows") {
  auto a = sample();
  auto b = sample();
  b.method = "sec|x";
  b.variant = "";
  b.threads = 1;
  b.time_s = 42;
  b.rows.pop_back();  // no val row
  const wsss::report::results runs[] = {a, b};
  const std::string md = wsss::report::results_markdown(runs);
  CHECK(md.rfind("# Results\n\n", 0) == 0);
  CHECK(md.find("| method | variant | pseudo-label mIoU (train) | segmentation mIoU (val) | seed | time | CPU |\n"
                "|---|---|---:|---:|---:|---:|---|\n"
                "| affinitynet | paper | 59.70 | 62.50 | 7 | 7m33s | AMD EPYC, 2 threads |\n"
                "| sec\\|x |  | 59.70 | - | 7 | 42.0s | AMD EPYC, 1 thread |\n") != std::string::npos);
  wsss_test::temp_dir dir;
  wsss::report::write_results_markdown(runs, dir / "results.md");
  const auto bytes = wsss_test::read_bytes(dir / "results.md");
  CHECK(std::string(bytes.begin(), bytes.end()) == md);
}

TEST_CASE("report::cpu_name reads the first model name, else unknown") {
  wsss_test::temp_dir dir;
  const std::string info = "processor\t: 0\nvendor_id\t: X\nmodel name\t: AMD EPYC 7B13 64-Core Processor  \n"
                           "processor\t: 1\nmodel name\t: other\n";
  wsss_test::write_bytes(dir / "cpuinfo", std::vector<unsigned char>(info.begin(), info.end()));
  CHECK(wsss::report::cpu_name(dir / "cpuinfo") == "AMD EPYC 7B13 64-Core Processor");
  CHECK(wsss::report::cpu_name(dir / "none") == "unknown");
  CHECK_FALSE(wsss::report::cpu_name().empty());
}
