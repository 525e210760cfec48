// SPDX-License-Identifier: MIT
// wsss/cam/device.hpp — CAM post-processing on a device: the tagged CAM planes go up once, and
// eq. 2's background, the dense CRF's unaries of the confident regions (AffinityNet sec. 3.2.1)
// and their confident rule run where the CRF's marginals are; two label maps come down
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/cam/background.hpp"
#include "wsss/cam/confident_regions.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/device_mean_field.hpp"

namespace wsss::cam::device {

/// Eq. 2's background at pixel i of P CAM planes of hw pixels: (1 - max_p cam_p)^alpha, the
/// max by std::max's rule from 0 (cam::with_background).
WSSS_HD inline float background(const float* cams, std::int64_t planes, std::int64_t hw, std::int64_t i, float alpha) {
  float m = 0.0f;
  for (std::int64_t p = 0; p < planes; ++p) {
    const float a = cams[p * hw + i];
    m = m < a ? a : m;
  }
  const float d = 1.0f - m;
  return powf(0.0f < d ? d : 0.0f, alpha);
}

/// The dense CRF's unaries of [background(alpha), planes] (k = planes + 1 channels of hw
/// pixels, the plan's layout): with_background + present_channels + unary_from_probabilities,
/// without normalising (pydensecrf's unary_from_softmax, as psa). One pixel per index.
struct background_unary_kernel {
  const float* cams;
  float* u;
  std::int64_t planes, hw;
  float alpha, clip;
  WSSS_HD void operator()(std::int64_t i) const {
    u[i] = crf::detail::neg_log_clamped(background(cams, planes, hw, i, alpha), clip);
    for (std::int64_t p = 0; p < planes; ++p) u[(p + 1) * hw + i] = crf::detail::neg_log_clamped(cams[p * hw + i], clip);
  }
};

/// confident_rule on the CRF's marginals q (the plan's rows: k per pixel, pixel-major), each
/// channel averaged over the stride x stride cells of a height x width image (block_average's
/// sums, in its order; stride 1 and inv 1: the marginals themselves). One cell per index, in
/// two passes over label[offset + cell] and top[offset + cell]:
///  - low (high == 0): the argmax (first maximum, argmax_labels) and the largest score;
///  - high: the compact label: the low argmax; 255 (neutral) where that is the background;
///    0 where the high argmax is the background (it overrides); 255 where no score of either
///    pass reached no_score (padding).
struct confident_kernel {
  const float* q;
  std::uint8_t* label;
  float* top;
  std::int64_t offset, k, height, width, stride, grid_width;
  float inv, no_score;
  int high;
  WSSS_HD void operator()(std::int64_t cell) const {
    const std::int64_t by = cell / grid_width, bx = cell - by * grid_width, r0 = by * stride, c0 = bx * stride;
    const std::int64_t r1 = r0 + stride < height ? r0 + stride : height, c1 = c0 + stride < width ? c0 + stride : width;
    float best = 0.0f, mx = high ? top[offset + cell] : 0.0f;
    std::int64_t arg = 0;
    for (std::int64_t c = 0; c < k; ++c) {
      float acc = 0.0f;
      for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t x = c0; x < c1; ++x) acc += q[(r * width + x) * k + c] * inv;
      if (c == 0 || acc > best) {
        best = acc;
        arg = c;
      }
      mx = mx < acc ? acc : mx;
    }
    if (!high) {
      label[offset + cell] = static_cast<std::uint8_t>(arg);
      top[offset + cell] = mx;
      return;
    }
    std::uint8_t out = label[offset + cell];
    if (out == 0) out = ignore_label;
    if (arg == 0) out = 0;
    if (mx < no_score) out = ignore_label;
    label[offset + cell] = out;
  }
};

/// The two stages on backend Tag (specialised per tag like crf::device::steps): the primary
/// template launches the WSSS_HD functors above; cam/opencl/steps.hpp has opencl_t's OpenCL C.
template <class Tag>
struct cam_steps {
  template <class T>
  using array = backend::device_array<T, Tag>;
  static void unaries(const Tag& tag, const array<float>& cams, array<float>& u, std::int64_t planes, std::int64_t hw,
                      float alpha, float clip) {
    backend::for_each_index(tag, hw, background_unary_kernel{cams.data(), u.data(), planes, hw, alpha, clip});
  }
  static void confident(const Tag& tag, const array<float>& q, array<std::uint8_t>& label, array<float>& top,
                        const confident_kernel& k, std::int64_t cells) {
    confident_kernel f = k;
    f.q = q.data();
    f.label = label.data();
    f.top = top.data();
    backend::for_each_index(tag, cells, f);
  }
};

/// The buffers of one image's CAM post-processing in Tag's memory (kept in a workspace).
template <class Tag>
struct cam_buffers {
  backend::device_array<float, Tag> cams, top;
  backend::device_array<std::uint8_t, Tag> labels;
};

}  // namespace wsss::cam::device

namespace wsss::cam {

/// Uploads the planes `channels[b]` of cams[b] (K x H x W, finite, one shape for the batch,
/// as many planes per image) to dst in the order given, image after image, after checking that
/// every channel not listed is all zero (eq. 2's max then needs only the listed ones): 1
/// upload. Errors name comp, the image, and the channels as `listed_as` ("walked", "tagged").
template <class Tag>
void upload_planes(const Tag& tag, std::span<const tensor> cams, std::span<const std::vector<index_t>> channels,
                   backend::device_array<float, Tag>& dst, std::string_view comp, std::string_view listed_as) {
  if (cams.empty() || channels.size() != cams.size())
    throw_shape(comp, "a batch needs 1 or more CAM stacks with a channel list each, got ", cams.size(), " and ",
                channels.size());
  expect_rank(cams.front(), 3, comp, "CAMs", "K x H x W");
  const auto planes = static_cast<index_t>(channels.front().size());
  const index_t hw = cams.front().dim(1) * cams.front().dim(2);
  tensor staged = tensor::uninitialized({std::max<index_t>(static_cast<index_t>(cams.size()) * planes, 1), hw});
  for (std::size_t i = 0; i < cams.size(); ++i) {
    const tensor& c = cams[i];
    if (c.shape() != cams.front().shape() || channels[i].size() != channels.front().size())
      throw_shape(comp, "image ", i, " of the batch has CAMs ", c.shape(), " and ", channels[i].size(), " channels ",
                  listed_as, ", image 0 ", cams.front().shape(), " and ", planes, ": a batch shares one shape");
    const std::vector<index_t> nonzero = detail::nonzero_channels(c, comp);
    std::vector<bool> listed(static_cast<std::size_t>(c.dim(0)), false);
    for (index_t k : channels[i]) {
      if (k < 0 || k >= c.dim(0)) throw_value(comp, "channel ", k, " is not one of the ", c.dim(0), " CAM channels");
      listed[static_cast<std::size_t>(k)] = true;
    }
    for (index_t k : nonzero)
      if (!listed[static_cast<std::size_t>(k)])
        throw_value(comp, "CAM channel ", k, cams.size() > 1 ? " of image " + std::to_string(i) : std::string(),
                    " is non-zero but not among the channels ", listed_as);
    for (index_t j = 0; j < planes; ++j)
      std::copy_n(c.data() + channels[i][static_cast<std::size_t>(j)] * hw, hw,
                  staged.data() + (static_cast<index_t>(i) * planes + j) * hw);
  }
  backend::upload(tag, std::span<const float>(staged.data(), static_cast<std::size_t>(static_cast<index_t>(cams.size()) * planes * hw)),
                  dst);
}
/// One image's planes (the batch of one above).
template <class Tag>
void upload_planes(const Tag& tag, const tensor& cams, std::span<const index_t> channels,
                   backend::device_array<float, Tag>& dst, std::string_view comp, std::string_view listed_as) {
  const std::vector<index_t> listed(channels.begin(), channels.end());
  upload_planes(tag, std::span<const tensor>(&cams, 1), std::span<const std::vector<index_t>>(&listed, 1), dst, comp,
                listed_as);
}

/// Sec. 3.2.1 with the dense CRF on a device (C: a crf::resident_marginals engine, e.g.
/// crf::device_mean_field<Tag>): confident_regions' result (the same labels up to the
/// rounding of the -log) with the tagged CAM planes uploaded once, both refinements' unaries
/// made in the CRF's plan, and the rule applied to the marginals there at full resolution and
/// on the stride grid: per image 1 upload (plus the CRF's lattice) and 1 download (a byte per
/// pixel and per cell). Every CAM channel not tagged must be all zero (checked).
template <class C, class Tag>
  requires crf::resident_marginals<C, backend_of_t<C>>
confident_maps device_confident_regions(const exec<Tag>& host, const C& crf, const rgb_image& img, const tensor& cams,
                                        const tag_set& tags, const confident_config& cfg, index_t stride) {
  using D = backend_of_t<C>;
  using steps = device::cam_steps<D>;
  constexpr std::string_view comp = "cam::device_confident_regions";
  cfg.validate(comp);
  expect_rank(cams, 3, comp, "CAMs", "K x H x W");
  if (img.height() != cams.dim(1) || img.width() != cams.dim(2))
    throw_shape(comp, "image is ", img.height(), "x", img.width(), " but the CAMs are ", cams.dim(1), "x", cams.dim(2));
  if (stride < 1) throw_value(comp, "stride must be >= 1, got ", stride);
  validate_tags(tags, static_cast<int>(cams.dim(0)) + 1, comp);
  const auto ex = policy_exec(crf, host);
  device::cam_buffers<D> b_local;
  auto& b = ex.scratch(b_local);
  std::vector<index_t> channels;  // CAM channel of class c is c - 1
  for (int c : tags) channels.push_back(c - 1);
  upload_planes(ex.tag, cams, channels, b.cams, comp, "tagged");
  const index_t planes = static_cast<index_t>(tags.size()), k = planes + 1, h = cams.dim(1), w = cams.dim(2), hw = h * w;
  const index_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride, cells = oh * ow;
  typename C::plan local;  // one lattice for both refinements
  auto& pl = plan_in_workspace(crf, ex, images_only(std::span<const rgb_image>(&img, 1)), shape{1, k, h, w}, local);
  backend::resize(ex.tag, pl.unary, k * hw);
  backend::resize(ex.tag, b.labels, hw + cells);
  backend::resize(ex.tag, b.top, hw + cells);
  const float pooled_inv = 1.0f / static_cast<float>(stride * stride);
  for (int high = 0; high < 2; ++high) {
    steps::unaries(ex.tag, b.cams, pl.unary, planes, hw, high ? cfg.high_alpha : cfg.low_alpha, cfg.clip);
    crf.solve(ex, pl);
    steps::confident(ex.tag, pl.q, b.labels, b.top, {nullptr, nullptr, nullptr, 0, k, h, w, 1, w, 1.0f, cfg.no_score, high}, hw);
    steps::confident(ex.tag, pl.q, b.labels, b.top, {nullptr, nullptr, nullptr, hw, k, h, w, stride, ow, pooled_inv, cfg.no_score, high},
                     cells);
  }
  std::vector<std::uint8_t> both(static_cast<std::size_t>(hw + cells));
  backend::download(ex.tag, b.labels, std::span<std::uint8_t>(both));
  label_map full(h, w), pooled(oh, ow);
  std::copy_n(both.begin(), hw, full.data());
  std::copy_n(both.begin() + hw, cells, pooled.data());
  return {expand_labels(full, tags), expand_labels(pooled, tags)};
}

}  // namespace wsss::cam
