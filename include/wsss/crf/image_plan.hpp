// SPDX-License-Identifier: MIT
// wsss/crf/image_plan.hpp — mean field's settings and plans: the two filter plans of one image,
// and the plan of a batch (those, the clamp maps and the interleaved buffers), which
// mean_field, crf_rnn and mean_field_op share
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/backend/tags.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf {

/// Mean-field settings: the kernels (reference defaults) and T (reference: 10).
struct mean_field_config {
  kernel_config kernels{};
  int iterations = 10;

  void validate(std::string_view component) const {
    kernels.validate(component);
    require(iterations >= 0, component, "iterations must be >= 0, got ", iterations);
  }
};

/// What the smoothness filter of an image_plan was built for: it sees pixel positions only,
/// so every image of one size (and kernel) has the same one.
struct smoothness_key {
  index_t height = -1, width = -1;
  float sxy = 0.0f;
  normalization norm = normalization::symmetric;
  int parts = 0;  ///< splat parts (threads) of its normaliser, which fix the normaliser's bits
  friend bool operator==(const smoothness_key&, const smoothness_key&) = default;
};

/// The two filter plans of one image (smoothness on position, appearance on position and
/// guide features), built once and reused by every iteration.
template <GaussianFilter Filter>
struct image_plan {
  index_t height = 0, width = 0;
  Filter smoothness, appearance;
  smoothness_key smoothness_built{};  ///< what smoothness holds (height -1: nothing yet)

  image_plan() = default;
  /// guide: F x H x W per-pixel features (RGB 0..255 for the reference).
  image_plan(const tensor& guide, const kernel_config& kc) { build(guide, kc); }

  void build(const tensor& guide, const kernel_config& kc) { build(wsss::omp, guide, kc); }
  /// Rebuilds both filters in place (their buffers are kept) on the tag's threads. The
  /// smoothness filter depends on the image size only: when it was built for this size,
  /// kernel and thread count it is kept (the same bits as a rebuild: the lattice and its
  /// normaliser are deterministic), so a plan prepared again for the next image of a data set
  /// pays only for the appearance lattice (500 x 375: ~8% of a 3-label CRF).
  template <class Tag>
  void build(const Tag& tag, const tensor& guide, const kernel_config& kc) {
    kc.validate("crf::image_plan");
    if (guide.rank() != 3 && !(guide.rank() == 4 && guide.dim(0) == 1))
      throw_shape("crf::image_plan", "guide must be F x H x W, got ", guide.shape());
    height = guide.dim(-2);
    width = guide.dim(-1);
    const smoothness_key key{height, width, kc.smoothness.sxy / kc.spatial_scale, kc.norm, backend::max_threads()};
    if (!(smoothness_built == key)) {
      smoothness_built = {};  // until init has succeeded
      smoothness.init(tag, position_features(height, width, key.sxy), kc.norm);
      smoothness_built = key;
    }
    appearance.init(tag, appearance_features(guide, kc.appearance.sxy / kc.spatial_scale, kc.appearance.sfeat), kc.norm);
  }
  index_t pixels() const noexcept { return height * width; }
};

/// The plan of mean field over a batch (CrfEngine's plan): one image_plan per item, the clamp
/// maps (copied: the plan may outlive the caller's maps) and the interleaved N x ld buffers.
/// Everything only grows, so a plan prepared again for images of the same size allocates
/// nothing new (and page-faults nothing: 2 x 17 MB of buffers at 500 x 375 x 21).
template <GaussianFilter Filter>
struct mean_field_plan {
  std::vector<image_plan<Filter>> images;  ///< one per batch item
  std::vector<label_map> clamps;           ///< none, or one per item (255 = free)
  shape dims;                              ///< N x K x H x W of the unaries it was prepared for
  tensor negu, q, msg, a;                  ///< -U, Q, messages and the learned form's a, N x ld each

  /// Item i's clamp map, or null.
  const std::uint8_t* clamp(index_t i) const noexcept {
    return clamps.empty() ? nullptr : clamps[static_cast<std::size_t>(i)].data();
  }
};

}  // namespace wsss::crf
