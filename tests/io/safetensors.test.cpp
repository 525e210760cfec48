// SPDX-License-Identifier: MIT
// tests/io/safetensors.test.cpp — safetensors against the Python reference writer, round
// trips, and every kind of corrupt file; atomic writes
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "io/temp_dir.hpp"
#include "wsss/core/random.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/safetensors.hpp"

namespace {

using wsss_test::temp_dir;

// A safetensors file from a header text and a data buffer; `declared` overrides the length field.
std::vector<unsigned char> st_bytes(const std::string& header, const std::vector<unsigned char>& data,
                                    std::uint64_t declared = std::numeric_limits<std::uint64_t>::max()) {
  const std::uint64_t n = declared == std::numeric_limits<std::uint64_t>::max() ? header.size() : declared;
  std::vector<unsigned char> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<unsigned char> f32_bytes(std::initializer_list<float> values) {
  std::vector<unsigned char> out;
  for (float v : values) {
    const auto u = std::bit_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(u >> (8 * i)));
  }
  return out;
}

void check_corrupt(const std::vector<unsigned char>& bytes, const char* expected) {
  temp_dir dir;
  const auto p = dir / "bad.safetensors";
  wsss_test::write_bytes(p, bytes);
  INFO("expected: " << expected);
  CHECK_THROWS_WITH_AS(wsss::io::load_safetensors(p), doctest::Contains(expected), wsss::io_error);
  try {
    wsss::io::load_safetensors(p);
  } catch (const wsss::io_error& e) {
    CHECK(e.path() == p);
    CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("io::load_safetensors reads a file written by the Python safetensors package") {
  const auto path = std::filesystem::path(WSSS_TEST_DATA_DIR) / "io" / "reference.safetensors";
  const auto t = wsss::io::load_safetensors(path);
  REQUIRE(t.size() == 9);

  const auto& w = t.at("conv.weight");
  CHECK(w.shape() == wsss::shape{2, 3, 2, 2});
  for (wsss::index_t i = 0; i < 24; ++i) CHECK(w[i] == static_cast<float>(i) * 0.5f - 3.0f);

  const auto& f64 = t.at("f64");
  CHECK(f64[0] == static_cast<float>(1.0 / 3.0));
  CHECK(f64[1] == static_cast<float>(-2.5e-3));
  CHECK(f64[2] == 1e10f);

  const auto& f16 = t.at("f16");
  REQUIRE(f16.numel() == 6);
  CHECK(f16[0] == 1.0f);
  CHECK(f16[1] == -2.0f);
  CHECK(f16[2] == std::ldexp(1.0f, -14));  // smallest normal half
  CHECK(f16[3] == std::ldexp(1.0f, -24));  // smallest subnormal half
  CHECK(f16[4] == 65504.0f);
  CHECK(std::isinf(f16[5]));

  CHECK(t.at("i64")[0] == -3.0f);
  CHECK(t.at("i64")[2] == 16777216.0f);
  CHECK(t.at("i32").shape() == wsss::shape{1, 2});
  CHECK(t.at("i32")[1] == -8.0f);
  CHECK(t.at("u8")[1] == 255.0f);
  CHECK(t.at("mask")[0] == 1.0f);
  CHECK(t.at("mask")[1] == 0.0f);
  CHECK(t.at("scalar").rank() == 0);
  CHECK(t.at("scalar")[0] == 7.25f);
  CHECK(t.at("empty").shape() == wsss::shape{0, 3});

  const auto meta = wsss::io::load_safetensors_metadata(path);
  CHECK(meta.at("format") == "pt");
  CHECK(meta.at("note") == "wsss fixture \xc3\xa9");
}

TEST_CASE("io::save_safetensors round trips values, shapes and metadata with a padded header") {
  temp_dir dir;
  wsss::rng g(7);
  INFO("seed 7");
  std::map<std::string, wsss::tensor> in;
  in["a"] = wsss::random_normal({3, 4, 5}, g);
  in["b/with \"quotes\""] = wsss::random_uniform({1}, g, -1e30, 1e30);
  in["c"] = wsss::tensor(wsss::shape{});
  in["c"][0] = -0.0f;
  in["empty"] = wsss::tensor();
  in["nan"] = wsss::tensor({2}, std::numeric_limits<float>::quiet_NaN());
  const std::map<std::string, std::string> meta = {{"epoch", "3"}, {"text", "line\nbreak \\ tab\t"}};
  const auto p = dir / "w.safetensors";
  wsss::io::save_safetensors(p, in, meta);

  const auto bytes = wsss_test::read_bytes(p);
  const std::uint64_t n = wsss::io::detail::load_le(bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes[8 + n - 1] != '\0');

  const auto out = wsss::io::load_safetensors(p);
  REQUIRE(out.size() == in.size());
  for (const auto& [name, t] : in) {
    const auto& u = out.at(name);
    CHECK(u.shape() == t.shape());
    for (wsss::index_t i = 0; i < t.numel(); ++i)
      CHECK(std::bit_cast<std::uint32_t>(u[i]) == std::bit_cast<std::uint32_t>(t[i]));
  }
  CHECK(wsss::io::load_safetensors_metadata(p) == meta);

  // Overwriting replaces the file completely and leaves no temp file behind.
  wsss::io::save_safetensors(p, {{"x", wsss::tensor({1}, 2.0f)}});
  CHECK(wsss::io::load_safetensors(p).size() == 1);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("io::load_safetensors converts BF16 exactly and refuses inexact integers") {
  // BF16 1.0 = 0x3F80, -2.5 = 0xC020.
  check_corrupt(st_bytes(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                         {0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}),
                "value 16777217 at flat index 0 is beyond 2^24");
  check_corrupt(st_bytes(R"({"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", {0}),
                "dtype F8_E4M3 is not supported");
  temp_dir dir;
  const auto p = dir / "bf16.safetensors";
  wsss_test::write_bytes(p, st_bytes(R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})",
                                     {0x80, 0x3F, 0x20, 0xC0}));
  const auto t = wsss::io::load_safetensors(p);
  CHECK(t.at("x")[0] == 1.0f);
  CHECK(t.at("x")[1] == -2.5f);
}

TEST_CASE("io::load_safetensors rejects corrupt and truncated files with the path") {
  const std::string one = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const auto data = f32_bytes({1.0f, 2.0f});
  check_corrupt({1, 2, 3}, "too short for the 8-byte header length");
  check_corrupt(st_bytes(one, data, 4096), "header length 4096 exceeds");
  check_corrupt(st_bytes("[1,2]   ", {}), "header does not start with '{'");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32",)", {}), "bad JSON at byte");
  check_corrupt(st_bytes(R"({"a":1,"a":2})", {}), "duplicate key");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", data), "unknown dtype 'F99'");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data),
                "shape must hold non-negative integers");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", data),
                "data_offsets [0, 16) out of range of the 8-byte data buffer");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data),
                "F32 shape 3 needs 12 bytes, data_offsets span 8");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         data),
                "overlap tensor");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data), "hole in the data buffer");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data), "4 trailing bytes");
  check_corrupt(st_bytes(R"({"__metadata__":{"k":1}})", {}), "is a number, not a string");
  check_corrupt(st_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", data), "data_offsets must be an array");

  // The Python fixture cut short anywhere after its header: the offsets no longer fit.
  auto fixture = wsss_test::read_bytes(std::filesystem::path(WSSS_TEST_DATA_DIR) / "io" / "reference.safetensors");
  fixture.resize(fixture.size() - 3);
  check_corrupt(fixture, "out of range of the");
  fixture.resize(100);
  check_corrupt(fixture, "exceeds");

  temp_dir dir;
  CHECK_THROWS_WITH_AS(wsss::io::load_safetensors(dir / "missing.safetensors"),
                       doctest::Contains("file not found"), wsss::io_error);
}

TEST_CASE("io::atomic_file leaves the old file intact when a write is abandoned") {
  temp_dir dir;
  const auto p = dir / "f.bin";
  wsss::io::write_file_atomic(p, std::string_view("old"));
  {
    wsss::io::atomic_file f(p);
    f.write(std::string_view("new, half"));
    // no commit: as if an exception unwound the writer
  }
  const auto bytes = wsss_test::read_bytes(p);
  CHECK(std::string(bytes.begin(), bytes.end()) == "old");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);

  CHECK_THROWS_WITH_AS(wsss::io::save_safetensors(dir / "no" / "such" / "x.safetensors", {}),
                       doctest::Contains("does not exist"), wsss::io_error);
}
