// SPDX-License-Identifier: MIT
// scenes.cpp — `wsss scenes DIR`: writes the scenes dataset (VOC layout, data/scenes.hpp);
// `wsss scenes --make-subset PER_CLASS DIR` regenerates the embedded Fashion-MNIST subset.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.hpp"
#include "embedded_data.hpp"
#include "scenes_flags.hpp"
#include "wsss/data/idx.hpp"
#include "wsss/data/scenes.hpp"

namespace wsss_cli {

namespace {

// The first `per_class` items of each class of Debian's Fashion-MNIST training set, written
// as the two gzipped IDX files of the embedded subset (gzip without a time stamp, so the
// files come out byte for byte the same).
void make_subset(std::size_t per_class, const std::filesystem::path& dir) {
  namespace wd = wsss::data;
  const auto src = wd::debian_fashion_mnist("train");
  const auto sub = wd::fashion_subset(wd::read_fashion_items(src.images, src.labels), per_class);
  std::filesystem::create_directories(dir);
  const auto dst = wd::embedded_fashion_subset(dir);
  wd::write_fashion_items(sub, dst.images, dst.labels);
  std::printf("wrote %zu items to %s and %s\n", sub.size(), dst.images.string().c_str(), dst.labels.string().c_str());
}

}  // namespace

void add_scenes_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("scenes", "make the scenes dataset (VOC layout, Fashion-MNIST items on procedural backgrounds)");
  cmd->footer(
      "Writes DIR/JPEGImages, SegmentationClass, ImageSets/Segmentation/{train,val}.txt, cls_labels.txt,\n"
      "classes.txt and NOTICE.txt (docs/dataset.md). With --make-subset, writes instead the first\n"
      "PER_CLASS items of each class of Debian's Fashion-MNIST to DIR (how examples/data was made:\n"
      "wsss scenes --make-subset 150 examples/data).");
  struct state {
    std::filesystem::path dir;
    std::size_t subset = 0;
  };
  auto s = std::make_shared<state>();
  auto opt = std::make_shared<wsss::data::scenes_options>(embedded_scenes_options());
  cmd->add_option("DIR", s->dir, "output folder (created if needed)")->type_name("DIR")->required();
  const auto flags = add_scenes_flags(*cmd, opt);
  cmd->add_option("--make-subset", s->subset, "write the embedded item subset to DIR instead")
      ->type_name("PER_CLASS")
      ->check(CLI::Range(1, 6000));
  cmd->callback([s, opt, flags] {
    if (s->subset) {
      // Checked here rather than with CLI11's excludes(), which would print on every flag's help line.
      for (const auto* f : flags)
        if (f->count()) throw CLI::ExcludesError("--make-subset", f->get_name());
      return make_subset(s->subset, s->dir);
    }
    const auto sum = wsss::data::make_scenes(s->dir, *opt);
    std::printf("wrote %zu train + %zu val scenes of %dx%d to %s (%zu Fashion-MNIST items)\n", sum.train_images,
                sum.val_images, opt->scene.size, opt->scene.size, s->dir.string().c_str(), sum.items);
  });
}

}  // namespace wsss_cli
