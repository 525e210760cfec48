// SPDX-License-Identifier: MIT
// wsss/eval/folder.hpp — evaluate a folder of predicted label PNGs against a VOC-layout split
// (needs wsss::io: libpng, libjpeg)
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "wsss/eval/confusion.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"

namespace wsss::eval {

/// Called after each image with (images done, images in the split), e.g. for a progress bar.
using folder_progress = std::function<void(std::size_t done, std::size_t total)>;

/// Accumulates the confusion matrix of `<pred_dir>/<id>.png` (palette or 8-bit gray label
/// PNGs, as io::write_label_png writes) against `<voc_root>/SegmentationClass/<id>.png` for
/// every id of the split. Only the split list and the masks are read: a dataset without
/// JPEGImages/ is fine. A missing or unreadable prediction or mask, or a mask label that is
/// neither 255 nor below num_classes, is an io_error naming its path; a size mismatch is a
/// shape_error and a predicted label >= num_classes a value_error, both naming the id.
/// With shards > 1 only every shards-th id from position `shard` is counted (one process's part
/// of a distributed evaluation; the parts' counts add up to the whole split's).
inline confusion_matrix evaluate_folder(const std::filesystem::path& pred_dir, const std::filesystem::path& voc_root,
                                        const std::string& split, int num_classes = 21,
                                        const folder_progress& progress = {}, std::size_t shard = 0,
                                        std::size_t shards = 1) {
  std::error_code ec;
  if (!std::filesystem::is_directory(voc_root, ec))
    throw_io("eval::evaluate_folder", voc_root, "dataset folder not found");
  if (!std::filesystem::is_directory(pred_dir, ec))
    throw_io("eval::evaluate_folder", pred_dir, "prediction folder not found");
  const std::vector<std::string> ids = io::read_voc_split(io::voc_split_list(voc_root, split));
  confusion_matrix m(num_classes);
  if (shards < 1 || shard >= shards) throw_value("eval::evaluate_folder", "shard ", shard, " of ", shards, " does not exist");
  for (std::size_t i = shard; i < ids.size(); i += shards) {
    const auto pred = io::read_label_png(pred_dir / (ids[i] + ".png"));
    const auto gt_path = voc_root / "SegmentationClass" / (ids[i] + ".png");
    const auto gt = io::read_label_png(gt_path);
    io::mask_tags(gt, num_classes, gt_path);  // a ground-truth label >= num_classes names the mask
    try {
      m.add(pred, gt);
    } catch (const shape_error& e) {
      throw shape_error(std::string(e.what()) + " (image '" + ids[i] + "')");
    } catch (const value_error& e) {
      throw value_error(std::string(e.what()) + " (image '" + ids[i] + "')");
    }
    if (progress) progress(i + 1, ids.size());
  }
  return m;
}

}  // namespace wsss::eval
