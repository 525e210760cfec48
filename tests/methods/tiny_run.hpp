// SPDX-License-Identifier: MIT
// tests/methods/tiny_run.hpp — what the method tests share: a tiny scenes dataset, quiet run
// options, a work folder's artifacts by bytes, and a run stopped after a stage's n-th item.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/label_folders.hpp"
#include "wsss/backend/device_memory.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/methods/run.hpp"

namespace wsss_test {

namespace fs = std::filesystem;

// 6 train and 3 val scenes of 32 x 32, 10 classes + background.
inline void make_tiny_scenes(const fs::path& root) {
  wsss::data::scenes_options o;
  o.items = wsss::data::embedded_fashion_subset(fs::path(WSSS_SOURCE_DIR) / "examples" / "data");
  o.train_images = 6;
  o.val_images = 3;
  o.scene.size = 32;
  o.scene.min_scale = 0.5;
  o.scene.max_scale = 0.8;
  o.scene.min_pixels = 20;
  wsss::data::make_scenes(root, o);
}

inline wsss::methods::run_options quiet_run(const fs::path& data, const fs::path& work) {
  wsss::methods::run_options o;
  o.data = data;
  o.work = work;
  o.quiet = true;
  o.out = nullptr;
  o.overlays = 2;
  return o;
}

// One uninterrupted run of a method in `work`.
template <class Method>
wsss::methods::run_summary run_once(const Method& m, const fs::path& data, const fs::path& work) {
  wsss::methods::run_context cx(quiet_run(data, work));
  return m.run(cx);
}

inline std::string bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Every artifact's bytes, by path relative to the work folder. Logs, the report,
// results.json and elapsed.txt carry wall-clock times and are compared separately.
inline std::map<std::string, std::string> artifacts(const fs::path& work) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(work)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), work).generic_string();
    if (rel.ends_with("log.csv") || rel.starts_with("report") || rel == "results.json" || rel == "elapsed.txt") continue;
    out[rel] = bytes_of(e.path());
  }
  return out;
}

// A resumed run's artifacts (work) equal an uninterrupted run's (expected), byte for byte.
inline void check_same_artifacts(const std::map<std::string, std::string>& expected, const fs::path& work) {
  const auto got = artifacts(work);
  CHECK(got.size() == expected.size());
  for (const auto& entry : expected) {
    const auto& name = entry.first;  // named: clang 14 cannot capture a binding in INFO
    INFO(name);
    REQUIRE(got.count(name) == 1);
    CHECK(got.at(name) == entry.second);
  }
}

// A training log's header line and its first step's cells.
struct log_head {
  std::string header;
  std::vector<double> first;
};
inline log_head read_log_head(const fs::path& csv) {
  std::ifstream log(csv);
  log_head out;
  std::string row;
  std::getline(log, out.header);
  std::getline(log, row);
  std::stringstream ss(row);
  for (std::string cell; std::getline(ss, cell, ',');) out.first.push_back(std::stod(cell));
  return out;
}

// A run of method M (configuration c) in `work`, its CRF / pooler slots on a device, against the
// host run already in `host` on the same data: the device did the work (uploads), the
// configuration text is the host's (each resumes the other), net `net`'s first logged step
// (its loss and terms) agrees within 1e-3 relative, and each label folder in `label_sets`
// differs in at most 1% of its pixels (two trainings apart by float rounding).
template <class M>
void check_device_run(const fs::path& data, const fs::path& host, const fs::path& work, const typename M::config& c,
                      const std::string& net, std::initializer_list<std::string> label_sets) {
  wsss::methods::run_context cx(quiet_run(data, work));
  const auto before = wsss::backend::transfers();
  M(c).run(cx);
  CHECK((wsss::backend::transfers() - before).uploads > 0);
  CHECK(bytes_of(work / "config.txt") == bytes_of(host / "config.txt"));
  const log_head want = read_log_head(host / "nets" / net / "log.csv"), got = read_log_head(work / "nets" / net / "log.csv");
  REQUIRE(got.first.size() == want.first.size());
  double worst = 0;
  for (std::size_t col = 2; col + 2 < got.first.size(); ++col)  // loss and terms, between (epoch, step) and (lr, seconds)
    worst = std::max(worst, std::abs(got.first[col] - want.first[col]) / std::max(1e-6, std::abs(want.first[col])));
  MESSAGE(work.filename().string(), ": first logged losses against the host run's: max relative difference ", worst);
  CHECK(worst < 1e-3);
  for (const std::string& set : label_sets) {
    const auto d = compare_label_folders(host / "labels" / set, work / "labels" / set);
    MESSAGE(work.filename().string(), ": ", set, " labels: ", d.differ, " of ", d.pixels, " pixels differ");
    CHECK(d.pixels > 0);
    CHECK(d.differ * 100 <= d.pixels);
  }
}

// No temp file of an atomic write may survive a stop.
inline void check_no_partial_files(const fs::path& work) {
  for (const auto& e : fs::recursive_directory_iterator(work))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, e.path().string());
}

struct stop {
  std::string stage;
};

// Runs with a hook that throws once `stage` has finished `count` items (or epochs).
template <class Method>
void run_until(const Method& m, const fs::path& data, const fs::path& work, std::string stage, std::size_t count) {
  auto o = quiet_run(data, work);
  o.after_step = [stage, count](std::string_view s, std::size_t done) {
    if (s == stage && done == count) throw stop{stage};
  };
  wsss::methods::run_context cx(o);
  CHECK_THROWS_AS(m.run(cx), stop);
  check_no_partial_files(work);
}

}  // namespace wsss_test
