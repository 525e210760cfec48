// SPDX-License-Identifier: MIT
// wsss/io/voc.hpp — a PASCAL-VOC-layout folder (JPEGImages/, SegmentationClass/,
// ImageSets/Segmentation/<split>.txt) with image-level labels from the masks or a labels file
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/detail/file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc_annotation.hpp"

namespace wsss::io {

/// Options of voc_dataset.
struct voc_options {
  /// Classes including background 0 (21 for PASCAL VOC); labels must be < num_classes or 255.
  int num_classes = 21;
  /// Optional image-level labels file (relative paths are taken from the root). Empty: the tags
  /// are derived from the masks, which must then exist for every listed image.
  std::filesystem::path labels_file = {};
  /// false: skip the tags entirely (evaluation needs only the masks); tags() then throws.
  bool load_tags = true;
};

/// The 21 PASCAL VOC class names, index = class id (0 = background).
inline const std::vector<std::string>& voc_class_names() {
  static const std::vector<std::string> names = {
      "background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
      "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
      "motorbike",  "person",    "pottedplant", "sheep", "sofa",   "train",  "tvmonitor"};
  return names;
}

namespace detail {

inline constexpr std::string_view voc_component = "io::voc";

/// Non-empty, whitespace-separated tokens of each line of `text`; blank lines and '#'
/// comments skipped.
inline std::vector<std::vector<std::string>> token_lines(std::string_view text) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::vector<std::string> tokens;
    for (std::string t; ls >> t;) tokens.push_back(t);
    if (!tokens.empty()) out.push_back(std::move(tokens));
  }
  return out;
}

/// The text of a list file; io_error naming it when it is missing or unreadable.
inline std::string read_list_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw_io(voc_component, path, "file not found");
  const auto bytes = read_bytes(path, voc_component);
  return {bytes.begin(), bytes.end()};
}

/// Throws unless `name` names one entry of a folder: not empty, not "." or "..", without '/'
/// or NUL. Split names and image ids become file names under the dataset root
/// (<root>/JPEGImages/<id>.jpg), so this is what keeps every read inside the root: a list naming
/// "/etc/passwd" or "../x" is refused, not followed.
inline void check_voc_name(const std::string& name, std::string_view what, const std::filesystem::path& file,
                           std::size_t entry) {
  const bool ok = !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
                  name.find('\0') == std::string::npos;
  if (!ok)
    throw_io(voc_component, file, what, " '", name, "'", entry ? " (entry " + std::to_string(entry) + ")" : "",
             " is not a plain file name (empty, '.', '..' or with '/'): it would lead outside the dataset root");
}

}  // namespace detail

/// The image ids of a split list's text (ImageSets/Segmentation/<split>.txt): one id per line,
/// blank lines and '#' comments skipped. An id with a second token, an id that is not a plain
/// file name (detail::check_voc_name: it would lead outside the dataset root) or a list without
/// ids is an io_error naming `path`.
inline std::vector<std::string> parse_voc_split(std::string_view text, const std::filesystem::path& path = "<memory>") {
  std::vector<std::string> ids;
  for (const auto& tokens : detail::token_lines(text)) {
    if (tokens.size() != 1)
      throw_io(detail::voc_component, path, "expected one image id per line, got '", tokens[0], " ", tokens[1], "'");
    detail::check_voc_name(tokens[0], "image id", path, ids.size() + 1);
    ids.push_back(tokens[0]);
  }
  if (ids.empty()) throw_io(detail::voc_component, path, "lists no images");
  return ids;
}

/// Reads a split list file (see parse_voc_split).
inline std::vector<std::string> read_voc_split(const std::filesystem::path& list) {
  return parse_voc_split(detail::read_list_file(list), list);
}

/// <root>/ImageSets/Segmentation/<split>.txt; the split must be a plain file name.
inline std::filesystem::path voc_split_list(const std::filesystem::path& root, const std::string& split) {
  detail::check_voc_name(split, "split", root, 0);
  return root / "ImageSets" / "Segmentation" / (split + ".txt");
}

/// Parses the text of an image-level labels file (`path` names it in errors). Format, one
/// image per line:
///   <id> <class> <class> ...      e.g. "2007_000032 1 15"
/// Class ids are foreground classes 1 .. num_classes-1 (background 0 and 255 are not tags); an
/// image with no foreground object has a line with its id alone. '#' starts a comment. A class
/// outside 1 .. num_classes-1, a non-integer token or a repeated id is an io_error naming the line.
inline std::map<std::string, std::vector<int>> parse_voc_labels(std::string_view text, int num_classes,
                                                                const std::filesystem::path& path = "<memory>") {
  std::map<std::string, std::vector<int>> out;
  std::size_t line_no = 0;
  for (const auto& tokens : detail::token_lines(text)) {
    ++line_no;
    std::vector<int> tags;
    for (std::size_t k = 1; k < tokens.size(); ++k) {
      int c = -1;
      std::size_t used = 0;
      try {
        c = std::stoi(tokens[k], &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != tokens[k].size())
        throw_io(detail::voc_component, path, "entry ", line_no, " (", tokens[0], "): '", tokens[k],
                 "' is not a class id");
      if (c < 1 || c >= num_classes)
        throw_io(detail::voc_component, path, "entry ", line_no, " (", tokens[0], "): class ", c,
                 " outside 1..", num_classes - 1, " (num_classes ", num_classes, ")");
      tags.push_back(c);
    }
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    if (!out.emplace(tokens[0], std::move(tags)).second)
      throw_io(detail::voc_component, path, "image id ", tokens[0], " is listed twice");
  }
  return out;
}

/// Reads an image-level labels file (see parse_voc_labels).
inline std::map<std::string, std::vector<int>> read_voc_labels(const std::filesystem::path& path, int num_classes) {
  return parse_voc_labels(detail::read_list_file(path), num_classes, path);
}

/// Writes a labels file in read_voc_labels' format (ids in the given order), atomically.
inline void write_voc_labels(const std::filesystem::path& path,
                             const std::vector<std::pair<std::string, std::vector<int>>>& labels) {
  std::string text;
  for (const auto& [id, tags] : labels) {
    text += id;
    for (int c : tags) text += ' ' + std::to_string(c);
    text += '\n';
  }
  write_file_atomic(path, text);
}

/// Writes a split list (one id per line) atomically.
inline void write_voc_split(const std::filesystem::path& path, const std::vector<std::string>& ids) {
  std::string text;
  for (const auto& id : ids) text += id + '\n';
  write_file_atomic(path, text);
}

/// The sorted foreground classes of a mask (0 and 255 excluded); a label that is neither 255
/// nor below num_classes is an io_error naming the file and the value.
inline std::vector<int> mask_tags(const label_map& mask, int num_classes, const std::filesystem::path& path) {
  std::vector<int> tags;
  for (int c : mask.present()) {
    if (c >= num_classes)
      throw_io(detail::voc_component, path, "label ", c, " >= num_classes ", num_classes);
    if (c != 0) tags.push_back(c);
  }
  return tags;
}

/// The non-empty lines of a class-names file (line k = class k; a Windows line end is not part
/// of the name); io_error naming the file when it is missing or unreadable.
inline std::vector<std::string> read_class_names(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw_io(detail::voc_component, path, "class names file not found");
  std::ifstream in(path);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (in.bad()) throw_io(detail::voc_component, path, "read failed");
  return names;
}

/// The class names of a VOC-layout folder: read_class_names of <root>/classes.txt, none when the
/// folder has no such file.
inline std::vector<std::string> dataset_class_names(const std::filesystem::path& root) {
  std::error_code ec;
  const auto file = root / "classes.txt";
  return std::filesystem::exists(file, ec) ? read_class_names(file) : std::vector<std::string>{};
}

/// One split of a VOC-layout folder:
///   <root>/ImageSets/Segmentation/<split>.txt   image ids, one per line
///   <root>/JPEGImages/<id>.jpg                   images (PNG content is accepted too)
///   <root>/SegmentationClass/<id>.png            palette (or 8-bit gray) label PNGs
/// Every listed image must exist at construction. The tags (image-level labels) of image i are
/// read from options.labels_file when given, else derived from its mask (which costs one PNG
/// decode per image here). Missing files are io_errors naming the path.
class voc_dataset {
 public:
  voc_dataset(std::filesystem::path root, std::string split, voc_options options = {})
      : root_(std::move(root)), split_(std::move(split)), opt_(std::move(options)) {
    if (opt_.num_classes < 2 || opt_.num_classes > 255)
      throw_value(detail::voc_component, "num_classes must be in 2..255, got ", opt_.num_classes);
    std::error_code ec;
    if (!std::filesystem::is_directory(root_, ec)) throw_io(detail::voc_component, root_, "dataset root not found");
    ids_ = read_voc_split(voc_split_list(root_, split_));
    class_names_ = dataset_class_names(root_);
    if (class_names_.empty()) class_names_ = voc_class_names();
    for (const auto& id : ids_)
      if (!std::filesystem::is_regular_file(image_path_of(id), ec))
        throw_io(detail::voc_component, image_path_of(id), "image of '", id, "' not found");

    if (!opt_.load_tags) return;
    tags_.reserve(ids_.size());
    if (!opt_.labels_file.empty()) {
      const auto file = opt_.labels_file.is_absolute() ? opt_.labels_file : root_ / opt_.labels_file;
      auto labels = read_voc_labels(file, opt_.num_classes);
      for (const auto& id : ids_) {
        auto it = labels.find(id);
        if (it == labels.end()) throw_io(detail::voc_component, file, "no labels for image '", id, "'");
        tags_.push_back(std::move(it->second));
      }
    } else {
      for (std::size_t i = 0; i < ids_.size(); ++i) tags_.push_back(mask_tags(mask(i), opt_.num_classes, mask_path(i)));
    }
  }

  std::size_t size() const noexcept { return ids_.size(); }
  int num_classes() const noexcept { return opt_.num_classes; }
  const std::filesystem::path& root() const noexcept { return root_; }
  const std::string& split() const noexcept { return split_; }
  const std::vector<std::string>& ids() const noexcept { return ids_; }
  const std::string& id(std::size_t i) const { return ids_.at(i); }

  std::filesystem::path image_path(std::size_t i) const { return image_path_of(id(i)); }
  std::filesystem::path mask_path(std::size_t i) const { return root_ / "SegmentationClass" / (id(i) + ".png"); }

  /// Image i as RGB.
  rgb_image image(std::size_t i) const { return read_image(image_path(i)); }
  /// Pixel labels of image i; values are checked against num_classes (255 = ignore allowed).
  label_map mask(std::size_t i) const {
    const auto p = mask_path(i);
    label_map m = read_label_png(p);
    mask_tags(m, opt_.num_classes, p);
    return m;
  }
  /// Sorted foreground classes of image i (1 .. num_classes-1).
  const std::vector<int>& tags(std::size_t i) const {
    if (!opt_.load_tags) throw_value(detail::voc_component, "tags were not loaded (voc_options::load_tags is false)");
    return tags_.at(i);
  }
  std::filesystem::path annotation_path(std::size_t i) const { return root_ / "Annotations" / (id(i) + ".xml"); }
  /// The boxes of image i from Annotations/<id>.xml (PASCAL's layout; class names from
  /// <root>/classes.txt, else VOC's 21), in image pixels, [x0, x1) x [y0, y1).
  box_list boxes(std::size_t i) const {
    if (static_cast<int>(class_names_.size()) != opt_.num_classes)
      throw_value(detail::voc_component, "the dataset has ", class_names_.size(), " class names (",
                  (root_ / "classes.txt").string(), " or VOC's) but num_classes is ", opt_.num_classes);
    return read_voc_annotation(annotation_path(i), class_names_).boxes;
  }
  /// Tags of image i as a multi-hot vector over the foreground classes: entry c-1 is 1 for
  /// every tag c (shape {num_classes - 1}), the target of the image-level classifiers.
  tensor multi_hot(std::size_t i) const {
    tensor t({static_cast<index_t>(opt_.num_classes - 1)});
    for (int c : tags(i)) t[c - 1] = 1.0f;
    return t;
  }

 private:
  std::filesystem::path image_path_of(const std::string& id) const { return root_ / "JPEGImages" / (id + ".jpg"); }

  std::filesystem::path root_;
  std::string split_;
  std::vector<std::string> class_names_;  // for boxes(): <root>/classes.txt, else VOC's
  voc_options opt_;
  std::vector<std::string> ids_;
  std::vector<std::vector<int>> tags_;
};

}  // namespace wsss::io
