// SPDX-License-Identifier: MIT
// tests/core/protocol.test.cpp — the stage protocol's shared pieces: workspace, exec, batch
#include <doctest/doctest.h>

#include <vector>

#include <wsss/core.hpp>
#include <wsss/core/batch.hpp>
#include <wsss/core/exec.hpp>
#include <wsss/core/policy.hpp>

using namespace wsss;

namespace {
struct scratch_a {
  std::vector<float> buf;
};
struct scratch_b {
  int runs = 0;
};
// The smallest model of the protocol's shape, as a family's concept sees it.
struct toy_policy {
  static constexpr std::string_view name = "test::toy";
  struct config {
    float gain = 2.0f;
  };
  struct plan {
    index_t n = 0;
  };
  config cfg{};
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    return {s.numel()};
  }
};
struct no_cfg_member {
  static constexpr std::string_view name = "test::bad";
  struct config {};
  struct plan {};
  config settings() const { return {}; }
};
}  // namespace

TEST_CASE("workspace keeps one object per type and hands the same one back") {
  workspace ws;
  auto& a = ws.get<scratch_a>();
  a.buf.resize(100);
  ws.get<scratch_b>().runs = 3;
  CHECK(&ws.get<scratch_a>() == &a);
  CHECK(ws.get<scratch_a>().buf.size() == 100);
  CHECK(ws.get<scratch_b>().runs == 3);
  CHECK(ws.size() == 2);
  ws.clear();
  CHECK(ws.size() == 0);
  CHECK(ws.get<scratch_a>().buf.empty());
}

TEST_CASE("exec borrows its workspace, or a caller's fallback without one") {
  workspace ws;
  const exec<cpu_t> with = on(cpu, ws);
  scratch_b local;
  with.scratch(local).runs = 7;
  CHECK(ws.get<scratch_b>().runs == 7);
  CHECK(local.runs == 0);
  const exec<cpu_t> without{};
  without.scratch(local).runs = 5;
  CHECK(local.runs == 5);
}

TEST_CASE("batch: size, validation, slices") {
  std::vector<rgb_image> imgs(3, rgb_image(2, 2));
  std::vector<tag_set> tags{{1}, {2, 3}, {}};
  batch b{.images = imgs, .tags = tags};
  CHECK(b.size() == 3);
  CHECK_NOTHROW(b.validate("test"));
  const batch s = b.slice(1, 2);
  CHECK(s.size() == 2);
  CHECK(s.tags[0] == tag_set{2, 3});
  CHECK(s.boxes.empty());
  std::vector<tag_set> short_tags{{1}};
  const batch bad{.images = imgs, .tags = short_tags};
  CHECK_THROWS_WITH_AS(bad.validate("test::x"), doctest::Contains("[wsss.shape] test::x: batch holds 3 items but 1 tag sets"),
                       shape_error);
  CHECK_THROWS_WITH_AS(batch::need(b.boxes, "em::bbox", "boxes"), doctest::Contains("needs boxes"), value_error);
  CHECK(batch{}.empty());
}

TEST_CASE("validate_tags wants sorted, unique ids inside the class range") {
  CHECK_NOTHROW(validate_tags({1, 4}, 5, "t"));
  CHECK_THROWS_AS(validate_tags({4, 1}, 5, "t"), value_error);
  CHECK_THROWS_AS(validate_tags({1, 1}, 5, "t"), value_error);
  CHECK_THROWS_AS(validate_tags({0}, 5, "t"), value_error);
  CHECK_THROWS_AS(validate_tags({5}, 5, "t"), value_error);
}

TEST_CASE("Policy needs a name, a config, a plan and a public cfg member of type config") {
  static_assert(Policy<toy_policy>);
  static_assert(!Policy<no_cfg_member>);
  static_assert(!Trainable<toy_policy>);
  const toy_policy p;
  CHECK(p.prepare(exec<>{}, batch{}, shape{2, 3}).n == 6);
}
