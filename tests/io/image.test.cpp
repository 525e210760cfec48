// SPDX-License-Identifier: MIT
// tests/io/image.test.cpp — PNG/JPEG decoding against fixtures from an independent encoder
// (tests/data/io/make_png_fixtures.py), label PNG round trips, corrupt and truncated files
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include <zlib.h>

#include "io/temp_dir.hpp"
#include "wsss/core/random.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/label_png.hpp"

namespace {

using wsss_test::temp_dir;
const std::filesystem::path fixtures = std::filesystem::path(WSSS_TEST_DATA_DIR) / "io";

// The formulas of make_png_fixtures.py.
int fr(int x, int y) { return (37 * x + 11 * y) % 256; }
int fg(int x, int y) { return (5 * x * y + 90) % 256; }
int fb(int x, int y) { return ((255 - 23 * y - 7 * x) % 256 + 256) % 256; }
int palette_r(int i) { return 3 * i; }
int palette_g(int i) { return 255 - i; }
int palette_b(int i) { return (7 * i) % 256; }

void check_rgb(const wsss::rgb_image& img, bool gray) {
  REQUIRE(img.height() == 3);
  REQUIRE(img.width() == 5);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) {
      CAPTURE(x);
      CAPTURE(y);
      CHECK(img(y, x, 0) == fr(x, y));
      CHECK(img(y, x, 1) == (gray ? fr(x, y) : fg(x, y)));
      CHECK(img(y, x, 2) == (gray ? fr(x, y) : fb(x, y)));
    }
}

wsss::rgb_image random_image(wsss::index_t h, wsss::index_t w, std::uint64_t seed) {
  wsss::rng g(seed);
  wsss::rgb_image img(h, w);
  for (wsss::index_t i = 0; i < h * w * 3; ++i) img.data()[i] = static_cast<std::uint8_t>(g.below(256));
  return img;
}

}  // namespace

TEST_CASE("io::read_image decodes every PNG colour type and depth to RGB") {
  for (const char* name : {"gray8.png", "gray16.png", "graya8.png"}) {
    INFO(name);
    check_rgb(wsss::io::read_image(fixtures / name), true);
  }
  for (const char* name : {"rgb8.png", "rgb16.png", "rgba8.png"}) {
    INFO(name);
    check_rgb(wsss::io::read_image(fixtures / name), false);
  }
  const auto g4 = wsss::io::read_image(fixtures / "gray4.png");
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) CHECK(g4(y, x, 1) == 17 * ((x + 3 * y) % 16));
  // Palette with a tRNS chunk: colours from the palette, transparency dropped.
  for (const auto& entry : {std::pair{"palette8.png", 23}, std::pair{"palette4.png", 11}}) {
    const char* const name = entry.first;  // named: clang 14 cannot capture a binding in INFO
    const int n = entry.second;
    INFO(name);
    const auto p = wsss::io::read_image(fixtures / name);
    REQUIRE(p.width() == 5);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 5; ++x) {
        const int i = (x + 2 * y) % n;
        CHECK(p(y, x, 0) == palette_r(i));
        CHECK(p(y, x, 1) == palette_g(i));
        CHECK(p(y, x, 2) == palette_b(i));
      }
  }
}

TEST_CASE("io::write_png and io::write_jpeg round trip through io::read_image") {
  temp_dir dir;
  const auto img = random_image(7, 11, 3);
  wsss::io::write_png(dir / "a.png", img);
  const auto back = wsss::io::read_image(dir / "a.png");
  REQUIRE(back.height() == 7);
  REQUIRE(back.width() == 11);
  CHECK(std::equal(img.data(), img.data() + 7 * 11 * 3, back.data()));

  // JPEG is lossy: a smooth image at quality 95 comes back within a few levels.
  wsss::rgb_image smooth(16, 24);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) {
      smooth(y, x, 0) = static_cast<std::uint8_t>(8 * x);
      smooth(y, x, 1) = static_cast<std::uint8_t>(10 * y);
      smooth(y, x, 2) = 128;
    }
  // The extension does not matter: the magic bytes decide.
  wsss::io::write_jpeg(dir / "b.png", smooth, 95);
  const auto j = wsss::io::read_image(dir / "b.png");
  REQUIRE(j.height() == 16);
  REQUIRE(j.width() == 24);
  int worst = 0;
  double total = 0;
  for (wsss::index_t i = 0; i < 16 * 24 * 3; ++i) {
    const int d = std::abs(j.data()[i] - smooth.data()[i]);
    worst = std::max(worst, d);
    total += d;
  }
  CHECK(worst <= 12);
  CHECK(total / (16 * 24 * 3) < 2.0);
  CHECK_THROWS_WITH_AS(wsss::io::write_jpeg(dir / "c.jpg", smooth, 0), doctest::Contains("quality must be in 1..100"),
                       wsss::value_error);
}

TEST_CASE("io: truncated and corrupt images raise io_error naming the path") {
  temp_dir dir;
  const auto png = wsss_test::read_bytes(fixtures / "rgb8.png");
  for (std::size_t keep : {std::size_t{4}, std::size_t{20}, std::size_t{40}, png.size() - 20}) {
    CAPTURE(keep);
    const auto p = dir / "cut.png";
    wsss_test::write_bytes(p, {png.begin(), png.begin() + static_cast<std::ptrdiff_t>(keep)});
    CHECK_THROWS_WITH_AS(wsss::io::read_image(p), doctest::Contains(p.string().c_str()), wsss::io_error);
  }
  const auto big = random_image(32, 32, 5);
  wsss::io::write_png(dir / "big.png", big);
  auto cut = wsss_test::read_bytes(dir / "big.png");
  cut.resize(cut.size() / 2);
  wsss_test::write_bytes(dir / "big.png", cut);
  CHECK_THROWS_WITH_AS(wsss::io::read_png(dir / "big.png"), doctest::Contains("[wsss.io] io::png: "), wsss::io_error);

  auto corrupt = png;
  corrupt[30] ^= 0xFF;  // inside IHDR: the CRC no longer matches
  wsss_test::write_bytes(dir / "crc.png", corrupt);
  CHECK_THROWS_WITH_AS(wsss::io::read_image(dir / "crc.png"), doctest::Contains("crc.png"), wsss::io_error);

  wsss::io::write_jpeg(dir / "full.jpg", big, 90);
  auto jcut = wsss_test::read_bytes(dir / "full.jpg");
  jcut.resize(jcut.size() / 2);
  wsss_test::write_bytes(dir / "half.jpg", jcut);
  CHECK_THROWS_WITH_AS(wsss::io::read_image(dir / "half.jpg"), doctest::Contains("truncated JPEG"), wsss::io_error);
  jcut.resize(10);
  wsss_test::write_bytes(dir / "tiny.jpg", jcut);
  CHECK_THROWS_WITH_AS(wsss::io::read_jpeg(dir / "tiny.jpg"), doctest::Contains("[wsss.io] io::jpeg: "), wsss::io_error);

  wsss_test::write_bytes(dir / "text.jpg", {'h', 'e', 'l', 'l', 'o'});
  CHECK_THROWS_WITH_AS(wsss::io::read_image(dir / "text.jpg"), doctest::Contains("unknown image format"),
                       wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::io::read_image(dir / "missing.png"), doctest::Contains("file not found"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::io::write_png(dir / "nope" / "x.png", big), doctest::Contains("does not exist"),
                       wsss::io_error);
}

TEST_CASE("io: a header claiming far more pixels than the file can hold is refused before allocation") {
  temp_dir dir;
  // rgb8.png with IHDR width and height set to 30000 (CRC recomputed): 2.7 GB from 116 bytes.
  auto png = wsss_test::read_bytes(fixtures / "rgb8.png");
  for (int k = 0; k < 2; ++k) {
    png[16 + 4 * k + 2] = 0x75;  // 30000 = 0x7530
    png[16 + 4 * k + 3] = 0x30;
  }
  const auto crc = crc32(0, png.data() + 12, 17);
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<unsigned char>(crc >> (24 - 8 * i));
  wsss_test::write_bytes(dir / "bomb.png", png);
  CHECK_THROWS_WITH_AS(wsss::io::read_image(dir / "bomb.png"),
                       doctest::Contains("header claims 30000x30000 pixels, impossible for a"), wsss::io_error);

  // A JPEG whose SOF0 frame header claims 60000 x 60000.
  wsss::io::write_jpeg(dir / "small.jpg", random_image(16, 16, 9));
  auto jpg = wsss_test::read_bytes(dir / "small.jpg");
  std::size_t sof = 0;
  for (std::size_t i = 2; i + 9 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  REQUIRE(sof > 0);
  for (int k = 0; k < 2; ++k) {
    jpg[sof + 5 + 2 * static_cast<std::size_t>(k)] = 0xEA;  // 60000 = 0xEA60
    jpg[sof + 6 + 2 * static_cast<std::size_t>(k)] = 0x60;
  }
  wsss_test::write_bytes(dir / "bomb.jpg", jpg);
  CHECK_THROWS_WITH_AS(wsss::io::read_image(dir / "bomb.jpg"),
                       doctest::Contains("header claims 60000x60000 pixels, impossible for a"), wsss::io_error);
}

TEST_CASE("io::voc_colormap matches the PASCAL VOC palette") {
  const auto& c = wsss::io::voc_colormap();
  using rgb = std::array<std::uint8_t, 3>;
  CHECK(c[0] == rgb{0, 0, 0});
  CHECK(c[1] == rgb{128, 0, 0});
  CHECK(c[2] == rgb{0, 128, 0});
  CHECK(c[3] == rgb{128, 128, 0});
  CHECK(c[4] == rgb{0, 0, 128});
  CHECK(c[8] == rgb{64, 0, 0});
  CHECK(c[15] == rgb{192, 128, 128});  // person
  CHECK(c[20] == rgb{0, 64, 128});     // tv/monitor
  CHECK(c[255] == rgb{224, 224, 192});
}

TEST_CASE("io::write_label_png round trips labels through a VOC palette PNG") {
  temp_dir dir;
  wsss::rng g(11);
  INFO("seed 11");
  wsss::label_map labels(9, 13);
  for (wsss::index_t i = 0; i < labels.pixels(); ++i)
    labels[i] = g.uniform() < 0.1 ? wsss::ignore_label : static_cast<std::uint8_t>(g.below(21));
  const auto p = dir / "mask.png";
  wsss::io::write_label_png(p, labels);
  CHECK(wsss::io::read_label_png(p) == labels);

  // Viewed as an image, the file shows the VOC colours.
  const auto rgb = wsss::io::read_image(p);
  const auto& cmap = wsss::io::voc_colormap();
  for (wsss::index_t i = 0; i < labels.pixels(); ++i)
    for (int ch = 0; ch < 3; ++ch) CHECK(rgb.data()[i * 3 + ch] == cmap[labels[i]][static_cast<std::size_t>(ch)]);

  // Palette PNGs of any palette and bit depth give their indices; 8-bit gray gives its values.
  const auto p4 = wsss::io::read_label_png(fixtures / "palette4.png");
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) CHECK(p4(y, x) == (x + 2 * y) % 11);
  const auto g8 = wsss::io::read_label_png(fixtures / "gray8.png");
  CHECK(g8(2, 4) == fr(4, 2));
  for (const char* name : {"rgb8.png", "gray16.png", "gray4.png", "rgba8.png"}) {
    INFO(name);
    CHECK_THROWS_WITH_AS(wsss::io::read_label_png(fixtures / name),
                         doctest::Contains("a label PNG must be palette or 8-bit gray"), wsss::io_error);
  }
  CHECK_THROWS_WITH_AS(wsss::io::write_label_png(dir / "empty.png", wsss::label_map()),
                       doctest::Contains("cannot write a 0x0 image"), wsss::io_error);
}
