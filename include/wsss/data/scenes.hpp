// SPDX-License-Identifier: MIT
// wsss/data/scenes.hpp — the "scenes" dataset: Fashion-MNIST items placed, scaled and
// coloured on procedural backgrounds, written in PASCAL VOC layout with pixel ground truth
// and image-level tags (the weak labels), deterministic from a seed
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/random.hpp"
#include "wsss/data/idx.hpp"
#include "wsss/io/atomic_dataset.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/jpeg.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"

namespace wsss::data {

/// Scene classes: 0 = background, 1..10 = Fashion-MNIST label + 1.
inline constexpr int scenes_num_classes = 11;

/// "background" then the ten Fashion-MNIST class names.
inline std::vector<std::string> scenes_class_names() {
  std::vector<std::string> out = {"background"};
  for (auto n : fashion_class_names()) out.emplace_back(n);
  return out;
}

/// How one scene is drawn.
struct scene_options {
  int size = 128;                    // image side (square images)
  int min_objects = 1;               // objects tried per image: uniform in [min, max]
  int max_objects = 3;
  double min_scale = 0.35;           // item side as a fraction of the image side
  double max_scale = 0.65;
  int mask_threshold = 40;           // scaled item intensity (0..255) at or above which a pixel is the item
  double min_visible = 0.5;          // share of an object's pixels that must stay visible under later ones
  int min_pixels = 60;               // smallest object kept
  double noise = 3.0;                // standard deviation of the per-pixel sensor noise (0..255 scale)
};

/// One placed object (draw order = vector order; later objects occlude earlier ones).
struct scene_object {
  int cls;           // 1..10
  std::size_t item;  // index into the fashion_items
  int x, y, side;    // top-left corner and side of the scaled item
  bool flipped;
  std::array<std::uint8_t, 3> colour;
  int area;            // item pixels before occlusion
  int visible_pixels;  // item pixels left visible in the final scene
  box bounds;          // the tight box of its visible pixels (VOC's box: the visible extent)
};

struct scene {
  rgb_image image;
  label_map mask;                     // 0 background, 1..10 objects
  std::vector<int> tags;              // sorted classes present in mask (1..10)
  std::vector<scene_object> objects;  // every object listed is visible
};

/// Indices of usable items, per Fashion-MNIST class.
struct item_pools {
  std::array<std::vector<std::size_t>, fashion_items::classes> by_class;
};

/// Splits every class's items in file order: the first (1 - val_fraction) for training scenes,
/// the rest for validation scenes, so no item appears in both splits.
inline std::array<item_pools, 2> split_items(const fashion_items& items, double val_fraction) {
  if (!(val_fraction > 0.0 && val_fraction < 1.0))
    throw_value("data::split_items", "val_fraction must be in (0, 1), got ", val_fraction);
  std::array<std::vector<std::size_t>, fashion_items::classes> all;
  for (std::size_t i = 0; i < items.size(); ++i) all[items.labels[i]].push_back(i);
  std::array<item_pools, 2> out;
  for (int c = 0; c < fashion_items::classes; ++c) {
    const auto& v = all[static_cast<std::size_t>(c)];
    const auto n_train = static_cast<std::size_t>(std::llround((1.0 - val_fraction) * static_cast<double>(v.size())));
    if (n_train == 0 || n_train == v.size())
      throw_value("data::split_items", "class ", c, " has ", v.size(), " items, too few for both splits");
    out[0].by_class[static_cast<std::size_t>(c)].assign(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n_train));
    out[1].by_class[static_cast<std::size_t>(c)].assign(v.begin() + static_cast<std::ptrdiff_t>(n_train), v.end());
  }
  return out;
}

namespace detail {

using colour = std::array<double, 3>;

inline colour random_colour(rng& g) { return {g.uniform(0, 255), g.uniform(0, 255), g.uniform(0, 255)}; }

inline double colour_distance(const colour& a, const colour& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

/// A background as an H x W x 3 double image: one of five procedural kinds between two colours.
inline std::vector<double> render_background(int s, rng& g, colour& c0, colour& c1) {
  c0 = random_colour(g);
  do c1 = random_colour(g);
  while (colour_distance(c0, c1) < 60);
  std::vector<double> t(static_cast<std::size_t>(s) * s);
  const int kind = static_cast<int>(g.below(5));
  const double angle = g.uniform(0, std::numbers::pi);
  const double ca = std::cos(angle), sa = std::sin(angle);
  if (kind == 0) {  // linear gradient
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        t[static_cast<std::size_t>(y * s + x)] = std::clamp(0.5 + ((x - s / 2.0) * ca + (y - s / 2.0) * sa) / s, 0.0, 1.0);
  } else if (kind == 1) {  // radial gradient
    const double cx = g.uniform(0, s), cy = g.uniform(0, s);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        t[static_cast<std::size_t>(y * s + x)] = std::min(1.0, std::hypot(x - cx, y - cy) / (0.8 * s));
  } else if (kind == 2) {  // soft stripes
    const double period = g.uniform(6, 24);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        t[static_cast<std::size_t>(y * s + x)] = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * (x * ca + y * sa) / period);
  } else if (kind == 3) {  // smooth value noise on a coarse random grid
    const int cell = 8 + static_cast<int>(g.below(25));
    const int n = s / cell + 2;
    std::vector<double> grid(static_cast<std::size_t>(n) * n);
    for (auto& v : grid) v = g.uniform();
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        const double fx = static_cast<double>(x) / cell, fy = static_cast<double>(y) / cell;
        const int ix = static_cast<int>(fx), iy = static_cast<int>(fy);
        double u = fx - ix, v = fy - iy;
        u = u * u * (3 - 2 * u);
        v = v * v * (3 - 2 * v);
        const auto at = [&](int a, int b) { return grid[static_cast<std::size_t>(b * n + a)]; };
        t[static_cast<std::size_t>(y * s + x)] = (1 - v) * ((1 - u) * at(ix, iy) + u * at(ix + 1, iy)) +
                                                 v * ((1 - u) * at(ix, iy + 1) + u * at(ix + 1, iy + 1));
      }
  } else {  // checker texture with grain
    const int cell = 6 + static_cast<int>(g.below(19));
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        t[static_cast<std::size_t>(y * s + x)] = 0.75 * ((x / cell + y / cell) % 2) + 0.25 * g.uniform();
  }
  std::vector<double> out(static_cast<std::size_t>(s) * s * 3);
  for (std::size_t i = 0; i < t.size(); ++i)
    for (int ch = 0; ch < 3; ++ch) out[i * 3 + static_cast<std::size_t>(ch)] = (1 - t[i]) * c0[ch] + t[i] * c1[ch];
  return out;
}

/// The item scaled to side x side by bilinear sampling (pixel centres aligned), flipped if asked.
inline std::vector<double> scale_item(const std::uint8_t* item, int side, bool flipped) {
  constexpr int n = fashion_items::side;
  std::vector<double> out(static_cast<std::size_t>(side) * side);
  const double r = static_cast<double>(n) / side;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const double sx = std::clamp((x + 0.5) * r - 0.5, 0.0, n - 1.0);
      const double sy = std::clamp((y + 0.5) * r - 0.5, 0.0, n - 1.0);
      const int x0 = std::min(static_cast<int>(sx), n - 2), y0 = std::min(static_cast<int>(sy), n - 2);
      const double u = sx - x0, v = sy - y0;
      const auto at = [&](int a, int b) { return static_cast<double>(item[b * n + a]); };
      const double val = (1 - v) * ((1 - u) * at(x0, y0) + u * at(x0 + 1, y0)) + v * ((1 - u) * at(x0, y0 + 1) + u * at(x0 + 1, y0 + 1));
      out[static_cast<std::size_t>(y * side + (flipped ? side - 1 - x : x))] = val;
    }
  return out;
}

}  // namespace detail

/// Draws one scene: a background, then min..max objects, each a random item of a random class
/// from `pools`, scaled, maybe mirrored, and painted in a random colour far from the background
/// colours with the item's intensity as shading. Mask pixels are the item pixels whose scaled
/// intensity reaches opt.mask_threshold; later objects overwrite earlier ones (occlusion). A
/// placement that would leave an earlier object less than opt.min_visible visible, or would show
/// fewer than opt.min_pixels itself, is redrawn (up to 30 times, then the object is skipped; the
/// first object always fits). Uses only `g`, so a scene is a function of the generator state.
inline scene render_scene(const fashion_items& items, const item_pools& pools, rng& g, const scene_options& opt = {}) {
  const int s = opt.size;
  if (s < 32 || s > 4096) throw_value("data::render_scene", "size must be in 32..4096, got ", s);
  if (opt.min_objects < 1 || opt.max_objects < opt.min_objects)
    throw_value("data::render_scene", "need 1 <= min_objects <= max_objects, got ", opt.min_objects, " and ", opt.max_objects);
  if (!(opt.min_scale > 0 && opt.min_scale <= opt.max_scale && opt.max_scale <= 1))
    throw_value("data::render_scene", "need 0 < min_scale <= max_scale <= 1, got ", opt.min_scale, " and ", opt.max_scale);
  for (const auto& p : pools.by_class)
    if (p.empty()) throw_value("data::render_scene", "every class needs at least one item in the pool");

  detail::colour c0, c1;
  std::vector<double> img = detail::render_background(s, g, c0, c1);
  std::vector<int> owner(static_cast<std::size_t>(s) * s, -1);  // object index per pixel
  std::vector<std::vector<double>> shading;                      // per object, its scaled item
  scene out;
  const int want = opt.min_objects + static_cast<int>(g.below(static_cast<std::uint64_t>(opt.max_objects - opt.min_objects + 1)));
  for (int k = 0; k < want; ++k) {
    for (int attempt = 0; attempt < 30; ++attempt) {
      scene_object o{};
      const auto cls = static_cast<std::size_t>(g.below(fashion_items::classes));
      const auto& pool = pools.by_class[cls];
      o.cls = static_cast<int>(cls) + 1;
      o.item = pool[static_cast<std::size_t>(g.below(pool.size()))];
      o.side = std::max(8, static_cast<int>(std::lround(g.uniform(opt.min_scale, opt.max_scale) * s)));
      o.x = static_cast<int>(g.below(static_cast<std::uint64_t>(s - o.side + 1)));
      o.y = static_cast<int>(g.below(static_cast<std::uint64_t>(s - o.side + 1)));
      o.flipped = g.below(2) == 1;
      detail::colour col;
      do col = detail::random_colour(g);
      while (detail::colour_distance(col, c0) < 70 || detail::colour_distance(col, c1) < 70);
      for (int ch = 0; ch < 3; ++ch) o.colour[static_cast<std::size_t>(ch)] = static_cast<std::uint8_t>(col[static_cast<std::size_t>(ch)]);
      auto v = detail::scale_item(items.item(o.item), o.side, o.flipped);

      // Pixels this object would take, and what the earlier objects would keep.
      std::vector<int> lost(out.objects.size(), 0);
      int area = 0;
      for (int yy = 0; yy < o.side; ++yy)
        for (int xx = 0; xx < o.side; ++xx)
          if (v[static_cast<std::size_t>(yy * o.side + xx)] >= opt.mask_threshold) {
            ++area;
            const int prev = owner[static_cast<std::size_t>((o.y + yy) * s + o.x + xx)];
            if (prev >= 0) ++lost[static_cast<std::size_t>(prev)];
          }
      bool ok = area >= opt.min_pixels;
      for (std::size_t j = 0; ok && j < out.objects.size(); ++j) {
        const auto& e = out.objects[j];
        ok = e.visible_pixels - lost[j] >= opt.min_visible * e.area;
      }
      if (!ok) continue;
      const int idx = static_cast<int>(out.objects.size());
      for (std::size_t j = 0; j < out.objects.size(); ++j) out.objects[j].visible_pixels -= lost[j];
      for (int yy = 0; yy < o.side; ++yy)
        for (int xx = 0; xx < o.side; ++xx)
          if (v[static_cast<std::size_t>(yy * o.side + xx)] >= opt.mask_threshold)
            owner[static_cast<std::size_t>((o.y + yy) * s + o.x + xx)] = idx;
      o.area = o.visible_pixels = area;
      out.objects.push_back(o);
      shading.push_back(std::move(v));
      break;
    }
  }

  out.image = rgb_image(s, s);
  out.mask = label_map(s, s, 0);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) {
      const auto p = static_cast<std::size_t>(y * s + x);
      const int o = owner[p];
      if (o >= 0) {
        const auto& e = out.objects[static_cast<std::size_t>(o)];
        const double shade = 0.35 + 0.65 * shading[static_cast<std::size_t>(o)][static_cast<std::size_t>((y - e.y) * e.side + x - e.x)] / 255.0;
        for (int ch = 0; ch < 3; ++ch) img[p * 3 + static_cast<std::size_t>(ch)] = e.colour[static_cast<std::size_t>(ch)] * shade;
        out.mask[static_cast<index_t>(p)] = static_cast<std::uint8_t>(e.cls);
      }
      for (int ch = 0; ch < 3; ++ch) {
        const double val = img[p * 3 + static_cast<std::size_t>(ch)] + (opt.noise > 0 ? opt.noise * g.normal() : 0.0);
        out.image(y, x, ch) = static_cast<std::uint8_t>(std::clamp(std::lround(val), 0L, 255L));
      }
    }
  out.tags = out.mask.present();
  out.tags.erase(std::remove(out.tags.begin(), out.tags.end(), 0), out.tags.end());
  for (auto& o : out.objects) o.bounds = {.x0 = s, .y0 = s, .x1 = 0, .y1 = 0, .label = o.cls};
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x)
      if (const int o = owner[static_cast<std::size_t>(y * s + x)]; o >= 0) {
        box& b = out.objects[static_cast<std::size_t>(o)].bounds;
        b.x0 = std::min<index_t>(b.x0, x), b.y0 = std::min<index_t>(b.y0, y);
        b.x1 = std::max<index_t>(b.x1, x + 1), b.y1 = std::max<index_t>(b.y1, y + 1);
      }
  return out;
}

/// Where a Fashion-MNIST images/labels IDX pair lives.
struct fashion_source {
  std::filesystem::path images, labels;
};

/// The subset shipped in the repository (examples/data/: 150 items per class from the
/// Fashion-MNIST training set, MIT licence); `data_dir` is that folder.
inline fashion_source embedded_fashion_subset(const std::filesystem::path& data_dir) {
  return {data_dir / "fashion-mnist-subset-images-idx3-ubyte.gz", data_dir / "fashion-mnist-subset-labels-idx1-ubyte.gz"};
}

/// Debian's full Fashion-MNIST (package dataset-fashion-mnist), `part` "train" (60000 items)
/// or "t10k" (10000); check the paths exist before use.
inline fashion_source debian_fashion_mnist(const std::string& part = "train",
                                           const std::filesystem::path& dir = "/usr/share/datasets/fashion-mnist") {
  return {dir / (part + "-images-idx3-ubyte.gz"), dir / (part + "-labels-idx1-ubyte.gz")};
}

/// What make_scenes writes.
struct scenes_options {
  fashion_source items;             // the item source (embedded subset or the full data)
  int train_images = 200;
  int val_images = 50;
  double val_item_fraction = 0.2;   // share of each class's items reserved for val scenes
  std::uint64_t seed = 1;
  int jpeg_quality = 95;
  scene_options scene = {};
};

struct scenes_summary {
  std::size_t train_images = 0, val_images = 0, items = 0;
  std::array<std::size_t, scenes_num_classes> objects_per_class{};  // visible objects, index = class
};

/// The generator seed of image `index` of split 0 (train) or 1 (val): each image has its own
/// stream, so an image does not depend on how many images precede it.
inline std::uint64_t scene_seed(std::uint64_t seed, int split, std::size_t index) {
  std::uint64_t z = seed ^ (0x9E3779B97F4A7C15ull * (2 * static_cast<std::uint64_t>(index) + static_cast<std::uint64_t>(split) + 1));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Writes a VOC-layout scenes dataset under `target` (created if needed):
///   JPEGImages/<id>.jpg, SegmentationClass/<id>.png (VOC palette), Annotations/<id>.xml (one
///   box per object, PASCAL's XML), ImageSets/Segmentation/{train,val}.txt, strong.txt (a
///   random quarter of train in random order: the strongly annotated images of EM's
///   semi-supervised runs, the first N of them for N strong images), cls_labels.txt (image-level tags of every id, io::read_voc_labels format),
///   classes.txt (the 11 class names, one per line, line k = class k) and NOTICE.txt (the
///   Fashion-MNIST licence). Ids are train_00000.. and val_00000..; train and val scenes draw
///   on disjoint items. The dataset is written atomically as a whole (io::atomic_dataset): in a
///   hidden sibling folder, then moved into place, so a failed or killed run leaves the previous
///   dataset under `target` or none, never a partial one; other entries of `target` are kept. The
///   bytes are a function of the options (same seed -> same files) for a given build and platform.
inline scenes_summary make_scenes(const std::filesystem::path& target, const scenes_options& opt) {
  if (opt.train_images < 1 || opt.val_images < 1)
    throw_value("data::make_scenes", "need at least one train and one val image, got ", opt.train_images, " and ",
                opt.val_images);
  if (opt.jpeg_quality < 1 || opt.jpeg_quality > 100)
    throw_value("data::make_scenes", "jpeg_quality must be in 1..100, got ", opt.jpeg_quality);
  const fashion_items items = read_fashion_items(opt.items.images, opt.items.labels);
  const auto pools = split_items(items, opt.val_item_fraction);
  io::atomic_dataset dataset(target);  // written beside `target`, moved into place by commit()
  const std::filesystem::path& root = dataset.path();
  std::error_code ec;
  for (const char* sub : {"JPEGImages", "SegmentationClass", "Annotations", "ImageSets/Segmentation"}) {
    std::filesystem::create_directories(root / sub, ec);
    if (ec) throw_io("data::make_scenes", root / sub, "cannot create folder: ", ec.message());
  }
  scenes_summary sum;
  sum.items = items.size();
  std::vector<std::pair<std::string, std::vector<int>>> labels;
  for (int split = 0; split < 2; ++split) {
    const int n = split == 0 ? opt.train_images : opt.val_images;
    const std::string prefix = split == 0 ? "train_" : "val_";
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      std::string id = std::to_string(i);
      id = prefix + std::string(5 - std::min<std::size_t>(5, id.size()), '0') + id;
      rng g(scene_seed(opt.seed, split, static_cast<std::size_t>(i)));
      const scene sc = render_scene(items, pools[static_cast<std::size_t>(split)], g, opt.scene);
      io::write_jpeg(root / "JPEGImages" / (id + ".jpg"), sc.image, opt.jpeg_quality);
      io::write_label_png(root / "SegmentationClass" / (id + ".png"), sc.mask);
      io::voc_annotation ann{.width = sc.image.width(), .height = sc.image.height(), .boxes = {}};
      for (const auto& o : sc.objects)  // one box per object (every listed object is visible)
        if (o.bounds.x1 > o.bounds.x0) ann.boxes.push_back(o.bounds);
      io::write_voc_annotation(root / "Annotations" / (id + ".xml"), id + ".jpg", ann, scenes_class_names());
      for (const auto& o : sc.objects) ++sum.objects_per_class[static_cast<std::size_t>(o.cls)];
      labels.emplace_back(id, sc.tags);
      ids.push_back(std::move(id));
    }
    io::write_voc_split(root / "ImageSets" / "Segmentation" / (split == 0 ? "train.txt" : "val.txt"), ids);
    (split == 0 ? sum.train_images : sum.val_images) = ids.size();
    if (split == 0) {  // EM's semi-supervised subset (sec. 3.4): a shuffled quarter of train, at least one
      std::vector<std::string> strong = ids;
      rng g(scene_seed(opt.seed, 2, 0));
      for (std::size_t i = strong.size(); i > 1; --i) std::swap(strong[i - 1], strong[g.below(i)]);
      strong.resize(std::max<std::size_t>(1, strong.size() / 4));
      io::write_voc_split(root / "ImageSets" / "Segmentation" / "strong.txt", strong);
    }
  }
  io::write_voc_labels(root / "cls_labels.txt", labels);
  std::string names;
  for (const auto& name : scenes_class_names()) names += name + '\n';
  io::write_file_atomic(root / "classes.txt", names);
  io::write_file_atomic(root / "NOTICE.txt", std::string_view(
      "The objects in these images are items of Fashion-MNIST\n"
      "(https://github.com/zalandoresearch/fashion-mnist), Copyright (c) 2017 Zalando SE,\n"
      "used under the MIT licence:\n\n"
      "Permission is hereby granted, free of charge, to any person obtaining a copy of this\n"
      "software and associated documentation files (the \"Software\"), to deal in the Software\n"
      "without restriction, including without limitation the rights to use, copy, modify, merge,\n"
      "publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons\n"
      "to whom the Software is furnished to do so, subject to the following conditions:\n\n"
      "The above copyright notice and this permission notice shall be included in all copies or\n"
      "substantial portions of the Software.\n\n"
      "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,\n"
      "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR\n"
      "PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE\n"
      "FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR\n"
      "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER\n"
      "DEALINGS IN THE SOFTWARE.\n"));
  dataset.commit();
  return sum;
}

}  // namespace wsss::data
