// SPDX-License-Identifier: MIT
// tests/io/voc_tree.hpp — a tiny VOC-layout tree for the reader and evaluation tests
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "wsss/io/jpeg.hpp"
#include "wsss/io/label_png.hpp"

namespace wsss_test {

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// Three 6x8 images; image k's mask has background, class 3k+2 in a block, and ignore pixels
// on the first row, so tags are {2}, {5}, {8}; image "c" also has class 12.
inline void make_tree(const std::filesystem::path& root) {
  std::filesystem::create_directories(root / "JPEGImages");
  std::filesystem::create_directories(root / "SegmentationClass");
  std::filesystem::create_directories(root / "ImageSets" / "Segmentation");
  const char* ids[] = {"a", "b", "c"};
  for (int k = 0; k < 3; ++k) {
    wsss::rgb_image img(6, 8, static_cast<std::uint8_t>(40 * k));
    wsss::io::write_jpeg(root / "JPEGImages" / (std::string(ids[k]) + ".jpg"), img);
    wsss::label_map m(6, 8, 0);
    for (int x = 0; x < 8; ++x) m(0, x) = wsss::ignore_label;
    for (int y = 2; y < 5; ++y)
      for (int x = 1; x < 4; ++x) m(y, x) = static_cast<std::uint8_t>(3 * k + 2);
    if (k == 2) m(5, 7) = 12;
    wsss::io::write_label_png(root / "SegmentationClass" / (std::string(ids[k]) + ".png"), m);
  }
  write_text(root / "ImageSets" / "Segmentation" / "train.txt", "a\nb\n\n");
  write_text(root / "ImageSets" / "Segmentation" / "val.txt", "c\n");
}

}  // namespace wsss_test
