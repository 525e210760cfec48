// SPDX-License-Identifier: MIT
// tests/fuzz/make_corpus.cpp — writes the seed corpora of the fuzzers (tests/fuzz/corpus/<name>/):
// small valid files of every kind each parser reads, and the hostile inputs of
// docs/reliability.md. Deterministic; run by hand after changing it:
//   cmake --build build-fuzz --target fuzz_make_corpus && build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <zlib.h>

#include "support/hostile.hpp"
#include "wsss/data/idx.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/png.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/report/results.hpp"

namespace fs = std::filesystem;
using wsss_test::bytes;
using wsss_test::safetensors_bytes;

namespace {

fs::path out_dir;

void put(const std::string& driver, const std::string& name, const bytes& b) {
  fs::create_directories(out_dir / driver);
  std::ofstream(out_dir / driver / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                                  static_cast<std::streamsize>(b.size()));
}
void put(const std::string& driver, const std::string& name, const std::string& s) {
  put(driver, name, bytes(s.begin(), s.end()));
}
bytes file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
unsigned char smooth(int x, int y, int c) { return static_cast<unsigned char>((3 * x + 5 * y + 60 * c) & 255); }
unsigned char noisy(int x, int y, int c) { return static_cast<unsigned char>((x * 97 + y * 31 + c * 57 + x * y * 13) & 255); }

// A palette PNG with tRNS, and text and gamma chunks (which the decoder skips), from raw rows.
bytes palette_png_with_chunks() {
  bytes png = wsss_test::png_start(5, 3, 8, 3);
  bytes plte;
  for (int i = 0; i < 4; ++i) plte.insert(plte.end(), {static_cast<unsigned char>(60 * i), 7, static_cast<unsigned char>(255 - 60 * i)});
  wsss_test::png_chunk(png, "gAMA", {0, 0, 0xB1, 0x8F});
  wsss_test::png_chunk(png, "PLTE", plte);
  wsss_test::png_chunk(png, "tRNS", {255, 128, 0});
  wsss_test::png_chunk(png, "tEXt", {'k', 0, 'v'});
  bytes raw;
  for (int y = 0; y < 3; ++y) {
    raw.push_back(0);
    for (int x = 0; x < 5; ++x) raw.push_back(static_cast<unsigned char>((x + y) % 4));
  }
  bytes z(compressBound(static_cast<uLong>(raw.size())));
  uLongf zn = static_cast<uLongf>(z.size());
  compress2(z.data(), &zn, raw.data(), static_cast<uLong>(raw.size()), 9);
  z.resize(zn);
  wsss_test::png_chunk(png, "IDAT", z);
  wsss_test::png_chunk(png, "IEND", {});
  return png;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s tests/fuzz/corpus\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  const fs::path fixtures = fs::path(WSSS_SOURCE_DIR) / "tests" / "data" / "io";
  const fs::path tmp = fs::temp_directory_path() / "wsss-make-corpus";
  fs::create_directories(tmp);

  // PNG: the independent encoder's fixtures, our writers' output, a palette file with skipped
  // chunks, the text-chunk bomb.
  for (const char* f : {"gray16.png", "gray4.png", "gray8.png", "graya8.png", "palette4.png", "palette8.png", "rgb16.png",
                        "rgb8.png", "rgba8.png"})
    put("png", f, file(fixtures / f));
  wsss::rgb_image img(6, 8);
  for (wsss::index_t i = 0; i < 6 * 8 * 3; ++i) img.data()[i] = static_cast<std::uint8_t>(i * 37);
  wsss::io::write_png(tmp / "rgb.png", img);
  put("png", "written_rgb.png", file(tmp / "rgb.png"));
  wsss::label_map labels(5, 7, 0);
  labels(2, 3) = 15;
  labels(0, 0) = 255;
  wsss::io::write_label_png(tmp / "labels.png", labels);
  put("png", "written_labels.png", file(tmp / "labels.png"));
  put("png", "palette_trns_text.png", palette_png_with_chunks());
  bytes bomb = wsss_test::png_start(1, 1);
  bytes text(80, 'a');
  text[5] = 0;
  wsss_test::png_chunk(bomb, "tEXt", text, 1900000000u);
  put("png", "text_bomb.png", bomb);

  // JPEG: baseline, progressive, gray, restart markers, arithmetic coding, the zeroed file and
  // the size bomb.
  put("jpeg", "baseline.jpg", wsss_test::jpeg_bytes(16, 16, 3, false, noisy));
  put("jpeg", "progressive.jpg", wsss_test::jpeg_bytes(16, 16, 3, true, noisy));
  put("jpeg", "gray.jpg", wsss_test::jpeg_bytes(8, 8, 1, false, smooth));
  put("jpeg", "gray_progressive.jpg", wsss_test::jpeg_bytes(9, 7, 1, true, smooth));
  {
    bytes z = wsss_test::jpeg_bytes(64, 64, 3, false, smooth);
    std::fill(z.begin() + static_cast<std::ptrdiff_t>(z.size() / 2), z.end() - 2, 0);
    put("jpeg", "zeroed_half.jpg", z);
    bytes b = wsss_test::jpeg_bytes(8, 8, 3, true, smooth);
    wsss_test::jpeg_claim_size(b, 61951, 52234);
    put("jpeg", "size_bomb.jpg", b);
  }

  // safetensors: the Python package's fixture, our writer's output, every dtype by hand.
  put("safetensors", "reference.safetensors", file(fixtures / "reference.safetensors"));
  wsss::io::save_safetensors(tmp / "w.safetensors",
                             {{"a", wsss::tensor({2, 3}, 1.5f)}, {"b", wsss::tensor(wsss::shape{})}, {"e", wsss::tensor()}},
                             {{"format", "pt"}});
  put("safetensors", "written.safetensors", file(tmp / "w.safetensors"));
  put("safetensors", "i64.safetensors",
      safetensors_bytes(R"({"x":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
              {0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0}));
  put("safetensors", "small_types.safetensors",
      safetensors_bytes(R"({"__metadata__":{"k":"v"},"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},)"
              R"("h":{"dtype":"F16","shape":[1],"data_offsets":[2,4]},"g":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
              R"("u":{"dtype":"U16","shape":[1],"data_offsets":[6,8]},"d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})",
              {1, 0, 0, 0x3C, 0x80, 0x3F, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F}));

  // JSON: safetensors headers (the driver frames them) and results.json.
  put("json", "header.json", R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})");
  put("json", "two.json", R"({"a":{"dtype":"U8","shape":[32],"data_offsets":[0,32]},"b":{"dtype":"I16","shape":[2,8],"data_offsets":[32,64]}})");
  wsss::report::results r;
  r.method = "affinitynet";
  r.variant = "paper";
  r.seed = 1;
  r.cpu = "cpu";
  r.threads = 2;
  r.time_s = 12.5;
  r.class_names = {"background", "cat"};
  r.rows = {{"CAM", "train", 0.5, {0.9, std::nan("")}}, {"seg", "val", 0.6, {0.8, 0.4}}};
  put("json", "results.json", wsss::report::to_json(r));

  // VOC: split lists and labels files.
  put("voc", "split.txt", "2007_000032\n2007_000039\n\n# comment\n2007_000063\n");
  put("voc", "labels.txt", "# id classes\n2007_000032 1 15\n2007_000039 20\n2007_000063 8 9 8\nempty\n");
  put("voc", "odd_ids.txt", "a.b\nc-d_e\n..x\n");
  put("voc", "annotation.xml",
      "<?xml version=\"1.0\"?>\n<!-- c -->\n<annotation a='1'><size><width>40</width><height>30</height></size>"
      "<object><name>dog</name><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>40</xmax><ymax>30</ymax></bndbox>"
      "<part><name>head</name><bndbox><xmin>1</xmin></bndbox></part></object>"
      "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2.0</xmax><ymax>2</ymax></bndbox><x/></object>"
      "<![CDATA[ <raw> ]]>&lt;&amp;</annotation>\n");

  // IDX: plain, gzipped by our writer, several ranks.
  put("idx", "plain_2x3", bytes{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6});
  wsss::data::write_idx_gz(tmp / "a.gz", {{3, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}});
  put("idx", "rank3.gz", file(tmp / "a.gz"));
  wsss::data::write_idx_gz(tmp / "l.gz", {{4}, {0, 9, 3, 7}});
  put("idx", "labels.gz", file(tmp / "l.gz"));

  // The wsss command line, NUL-separated arguments (argv[0] first).
  const auto args = [](std::vector<std::string> a) {
    std::string s;
    for (std::size_t i = 0; i < a.size(); ++i) s += (i ? std::string(1, '\0') : std::string()) + a[i];
    return s;
  };
  put("cli", "scenes", args({"wsss", "scenes", "out", "--train", "4", "--val", "2", "--size", "32", "--objects", "1", "2"}));
  put("cli", "scenes_subset", args({"wsss", "scenes", "--make-subset", "150", "dir"}));
  put("cli", "eval", args({"wsss", "-q", "eval", "--pred", "p", "--data", "d", "--split", "val", "--classes", "11"}));
  put("cli", "results", args({"wsss", "results", "--work", "a", "b", "--out", "r.md"}));
  put("cli", "run", args({"wsss", "run", "affinitynet", "--data", "/", "--work", "w", "--preset", "scenes", "--seed", "3"}));
  put("cli", "label", args({"wsss", "label", "affinitynet", "--help"}));
  put("cli", "bad", args({"wsss", "eval", "--pred-dir", "x", "--bogus"}));
  put("cli", "version", args({"wsss", "--version"}));
  fs::remove_all(tmp);
  return 0;
}
