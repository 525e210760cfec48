// SPDX-License-Identifier: MIT
// wsss/eval/folder.hpp — evaluate a folder of predicted label PNGs against a VOC-layout split
// (needs wsss::io: libpng, libjpeg)
#pragma once

#include <filesystem>
#include <string>

#include "wsss/eval/confusion.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"

namespace wsss::eval {

/// Accumulates the confusion matrix of `<pred_dir>/<id>.png` (palette or 8-bit gray label
/// PNGs, as io::write_label_png writes) against `<voc_root>/SegmentationClass/<id>.png` for
/// every id of the split. A missing or unreadable prediction is an io_error naming its path; a
/// size mismatch is a shape_error and a label >= num_classes a value_error, both naming the id.
inline confusion_matrix evaluate_folder(const std::filesystem::path& pred_dir, const std::filesystem::path& voc_root,
                                        const std::string& split, int num_classes = 21) {
  std::error_code ec;
  if (!std::filesystem::is_directory(pred_dir, ec))
    throw_io("eval::evaluate_folder", pred_dir, "prediction folder not found");
  const io::voc_dataset data(voc_root, split, {.num_classes = num_classes, .labels_file = {}, .load_tags = false});
  confusion_matrix m(num_classes);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto pred = io::read_label_png(pred_dir / (data.id(i) + ".png"));
    const auto gt = data.mask(i);
    try {
      m.add(pred, gt);
    } catch (const shape_error& e) {
      throw shape_error(std::string(e.what()) + " (image '" + data.id(i) + "')");
    } catch (const value_error& e) {
      throw value_error(std::string(e.what()) + " (image '" + data.id(i) + "')");
    }
  }
  return m;
}

}  // namespace wsss::eval
