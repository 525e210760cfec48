// SPDX-License-Identifier: MIT
// tests/io/reliability.test.cpp — the hostile inputs of docs/reliability.md that reach the I/O
// readers, each made here from a few bytes: every one gets a named io_error, quickly and
// without touching more than a few MB (the [Rnn] tags are the rows of that table)
#include <doctest/doctest.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <string>

#include "io/temp_dir.hpp"
#include "io/voc_tree.hpp"
#include "support/hostile.hpp"
#include "wsss/eval/folder.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/io/voc.hpp"

namespace {

using wsss_test::bytes;
using wsss_test::le64;
using wsss_test::safetensors_bytes;
constexpr long long few_mb = 32ll << 20;

// Checks that `decode` throws an io_error containing `expected`, with a peak-memory rise of a
// few MB at most.
template <class F>
void refused_cheaply(F decode, const char* expected) {
  const std::string want = expected;
  std::string what;
  const long long grew = wsss_test::peak_rss_growth([&] {
    try {
      decode();
    } catch (const wsss::io_error& e) {
      what = e.what();
    }
  });
  CAPTURE(want);
  CAPTURE(what);
  CHECK(what.find(want) != std::string::npos);
  CHECK(what.rfind("[wsss.io] ", 0) == 0);
  if (grew >= 0) CHECK(grew < few_mb);
}

unsigned char smooth(int x, int y, int c) { return static_cast<unsigned char>((3 * x + 5 * y + 60 * c) & 255); }

}  // namespace

TEST_CASE("[R01] a 125-byte PNG whose text chunk claims 1.9 GB is refused without the allocation") {
  bytes png = wsss_test::png_start(1, 1);
  bytes text(80, 'a');
  text[5] = 0;
  wsss_test::png_chunk(png, "tEXt", text, 1900000000u);
  CHECK(png.size() == 125);
  refused_cheaply([&] { wsss::io::decode_png(png); }, "unexpected end of file (truncated PNG)");
  refused_cheaply([&] { wsss::io::decode_label_png(png); }, "truncated PNG");
  // Every ancillary chunk is skipped unread, compressed ones too.
  for (const char* type : {"zTXt", "iTXt", "iCCP", "sPLT", "eXIf", "raNd"}) {
    CAPTURE(type);
    bytes p = wsss_test::png_start(1, 1);
    wsss_test::png_chunk(p, type, text, 1900000000u);
    refused_cheaply([&] { wsss::io::decode_png(p); }, "truncated PNG");
  }
}

TEST_CASE("[R02] a progressive JPEG of a few hundred bytes claiming 52234x61951 is refused before libjpeg allocates") {
  bytes jpeg = wsss_test::jpeg_bytes(8, 8, 3, true, smooth);
  wsss_test::jpeg_claim_size(jpeg, 61951, 52234);
  CHECK(jpeg.size() < 1024);
  const auto t0 = std::chrono::steady_clock::now();
  refused_cheaply([&] { wsss::io::decode_jpeg(jpeg); }, "header claims 52234x61951 pixels, impossible for a");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // Within the output budget, libjpeg's own memory is capped too (2 bytes per coefficient).
  bytes big = wsss_test::jpeg_bytes(16, 16, 3, true, smooth);
  wsss_test::jpeg_claim_size(big, 600, 600);  // 1.08 MB of RGB: within budget, the data then run out
  refused_cheaply([&] { wsss::io::decode_jpeg(big); }, "corrupt JPEG: Corrupt JPEG data: premature end of data segment");
}

TEST_CASE("[R03] a JPEG with its entropy data zeroed is an error, not an image of garbage") {
  bytes jpeg = wsss_test::jpeg_bytes(64, 64, 3, false, smooth);
  REQUIRE(wsss::io::decode_jpeg(jpeg).height() == 64);
  bytes zeroed = jpeg;
  std::fill(zeroed.begin() + static_cast<std::ptrdiff_t>(zeroed.size() / 2), zeroed.end() - 2, 0);  // EOI kept
  refused_cheaply([&] { wsss::io::decode_jpeg(zeroed); }, "corrupt JPEG: Corrupt JPEG data");
  bytes cut = jpeg;
  std::fill(cut.begin() + static_cast<std::ptrdiff_t>(cut.size() / 2), cut.end(), 0);  // EOI gone too
  refused_cheaply([&] { wsss::io::decode_jpeg(cut); }, "truncated JPEG: Premature end of JPEG file");
  bytes short_file(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() * 3 / 4));
  refused_cheaply([&] { wsss::io::decode_jpeg(short_file); }, "truncated JPEG: Premature end of JPEG file");
  // Progressive and grayscale files still decode; bytes after EOI are not looked at.
  CHECK(wsss::io::decode_jpeg(wsss_test::jpeg_bytes(24, 16, 3, true, smooth)).width() == 24);
  CHECK(wsss::io::decode_jpeg(wsss_test::jpeg_bytes(24, 16, 1, false, smooth)).width() == 24);
  bytes trailing = jpeg;
  trailing.insert(trailing.end(), 100, 0);
  CHECK(wsss::io::decode_jpeg(trailing).width() == 64);
}

TEST_CASE("[R04] a progressive JPEG of more than 100 scans is refused") {
  // Gray: DC in two successive-approximation scans, then every AC coefficient alone, first
  // and refinement pass: 2 + 63 + 63 = 128 valid scans.
  std::vector<jpeg_scan_info> scans;
  const auto scan = [&](int ss, int se, int ah, int al) {
    jpeg_scan_info s{};
    s.comps_in_scan = 1;
    s.component_index[0] = 0;
    s.Ss = ss, s.Se = se, s.Ah = ah, s.Al = al;
    scans.push_back(s);
  };
  scan(0, 0, 0, 1);
  scan(0, 0, 1, 0);
  for (int k = 1; k < 64; ++k) scan(k, k, 0, 1);
  for (int k = 1; k < 64; ++k) scan(k, k, 1, 0);
  const bytes many = wsss_test::jpeg_bytes(16, 16, 1, true, smooth, scans);
  refused_cheaply([&] { wsss::io::decode_jpeg(many); }, "more than 100 scans");
  // 64 scans (DC, then each AC coefficient once): a valid file within the limit.
  scans.clear();
  for (int k = 0; k < 64; ++k) scan(k, k, 0, 0);
  CHECK(wsss::io::decode_jpeg(wsss_test::jpeg_bytes(16, 16, 1, true, smooth, scans)).height() == 16);
}

TEST_CASE("[R05] safetensors integers beyond 2^24 are refused by exact integer compare, naming the value") {
  const auto one = [](const char* dtype) {
    return std::string(R"({"x":{"dtype":")") + dtype + R"(","shape":[1],"data_offsets":[0,8]}})";
  };
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(one("U64"), le64((std::uint64_t{1} << 63) + 1))),
                       doctest::Contains("U64 value 9223372036854775809 at flat index 0 is beyond 2^24"),
                       wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(one("U64"), le64(~std::uint64_t{0}))),
                       doctest::Contains("U64 value 18446744073709551615 at flat index 0"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(one("I64"), le64(0x7FFFFFFFFFFFFFFF))),
                       doctest::Contains("I64 value 9223372036854775807 at flat index 0"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(one("I64"), le64(std::uint64_t{1} << 63))),
                       doctest::Contains("I64 value -9223372036854775808 at flat index 0"), wsss::io_error);
  // The edges: +-2^24 are exact and load.
  CHECK(wsss::io::decode_safetensors(safetensors_bytes(one("I64"), le64(static_cast<std::uint64_t>(-(std::int64_t{1} << 24)))))
            .at("x")[0] == -16777216.0f);
  CHECK(wsss::io::decode_safetensors(safetensors_bytes(one("U64"), le64(std::uint64_t{1} << 24))).at("x")[0] == 16777216.0f);
  // F64 beyond float range (finite) is refused; infinities and NaN pass as such.
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(one("F64"), le64(std::bit_cast<std::uint64_t>(1e300)))),
                       doctest::Contains("F64 value 1e+300 at flat index 0 is out of float range"), wsss::io_error);
}

TEST_CASE("[R06] a safetensors header of 80k tensors is checked in linear time, duplicates included") {
  constexpr int n = 80000;
  std::string header = "{";
  for (int i = 0; i < n; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"U8","shape":[1],"data_offsets":[)" +
              std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  const bytes data(n, 3);
  const auto t0 = std::chrono::steady_clock::now();
  const auto all = wsss::io::decode_safetensors(safetensors_bytes(header + "}", data));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(all.size() == n);
  CHECK(all.at("t79999")[0] == 3.0f);
  MESSAGE("80k-tensor header: " << secs << " s");
  CHECK(secs < 5.0);  // 13 s with the quadratic check; about 0.2 s now (1 s under ASan)
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(header + R"(,"t17":{}})", data)),
                       doctest::Contains("header: duplicate key \"t17\""), wsss::io_error);
}

TEST_CASE("[R07] safetensors headers through nlohmann/json keep every strict check") {
  const bytes four(4, 0);
  const auto bad = [&](const std::string& header, const char* expected) {
    CAPTURE(header);
    CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(safetensors_bytes(header, four)), doctest::Contains(expected),
                         wsss::io_error);
  };
  bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{}})", "duplicate key \"a\"");
  bad(R"({"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "duplicate key \"dtype\"");
  bad(R"({"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      "duplicate key \"k\"");
  bad("{\"a\":" + std::string(70, '[') + std::string(70, ']') + "}", "nesting deeper than 64");
  bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},})", "bad JSON at byte");
  bad(R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", "shape must hold non-negative integers");
  bad(R"({"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}})", "shape must hold non-negative integers");
  bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}})",
      "data_offsets must hold non-negative integers");
  bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e400]}})", "bad JSON");
  bad(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})",
      "shape 4294967296x4294967296x16 is too large");
  bad(R"({"a":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]},)"
      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      "shape 0x9223372036854775808 is too large");
  bad("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "bad JSON at byte");  // not UTF-8
  bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} // comment)", "bad JSON at byte");
  // The reference reader's 100 MB header limit.
  bytes huge = le64(100'000'001);
  huge.resize(100'000'001 + 8, ' ');
  huge[8] = '{';
  CHECK_THROWS_WITH_AS(wsss::io::decode_safetensors(huge), doctest::Contains("exceeds the format's limit of 100000000"),
                       wsss::io_error);
  // Writing a name that is not UTF-8 would make an unreadable file: refused.
  wsss_test::temp_dir dir;
  CHECK_THROWS_WITH_AS(wsss::io::save_safetensors(dir / "x.safetensors", {{"bad\xff", wsss::tensor({1})}}),
                       doctest::Contains("string is not valid UTF-8"), wsss::io_error);
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("[R08] a VOC split list naming /etc/... or ../x is refused: ids stay inside the dataset root") {
  wsss_test::temp_dir dir;
  const auto root = dir / "voc";
  wsss_test::make_tree(root);
  // A real file outside the root that "../outside" would reach.
  wsss::io::write_jpeg(dir / "outside.jpg", wsss::rgb_image(4, 4, 9));
  wsss::io::write_label_png(dir / "outside.png", wsss::label_map(4, 4, 1));
  const auto list = root / "ImageSets" / "Segmentation" / "evil.txt";
  for (const char* id : {"../../../outside", "/etc/passwd", "..", ".", "a/../../x"}) {
    CAPTURE(id);
    wsss_test::write_text(list, std::string("a\n") + id + "\n");
    CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(root, "evil"),
                         doctest::Contains("(entry 2) is not a plain file name"), wsss::io_error);
    CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(root / "SegmentationClass", root, "evil", 21),
                         doctest::Contains("it would lead outside the dataset root"), wsss::io_error);
  }
  for (const char* split : {"../evil", "/tmp/x", ".."}) {
    CAPTURE(split);
    CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(root, split), doctest::Contains("split '"), wsss::io_error);
  }
  // Ids with dots and dashes inside are plain names and fine.
  std::filesystem::copy_file(root / "JPEGImages" / "a.jpg", root / "JPEGImages" / "2007_000032..v2-x.jpg");
  wsss_test::write_text(list, "2007_000032..v2-x\n");
  CHECK(wsss::io::voc_dataset(root, "evil", {.load_tags = false}).size() == 1);
}

TEST_CASE("[R09] eval::evaluate_folder reads masks only: a missing JPEG is no error") {
  wsss_test::temp_dir dir;
  wsss_test::make_tree(dir.path());
  std::filesystem::remove_all(dir / "JPEGImages");
  const auto m = wsss::eval::evaluate_folder(dir / "SegmentationClass", dir.path(), "train", 21);
  CHECK(m.miou() == 1.0);
  std::size_t calls = 0;
  wsss::eval::evaluate_folder(dir / "SegmentationClass", dir.path(), "train", 21,
                              [&](std::size_t done, std::size_t total) {
                                ++calls;
                                CHECK(done == calls);
                                CHECK(total == 2);
                              });
  CHECK(calls == 2);
  CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(dir / "SegmentationClass", dir.path(), "val", 10),
                       doctest::Contains("label 12 >= num_classes 10"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(dir.path(), dir / "none", "val", 21),
                       doctest::Contains("dataset folder not found"), wsss::io_error);
}
