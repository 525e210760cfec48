// SPDX-License-Identifier: MIT
// wsss/walk/device_inference.hpp — the per-pixel stages of label synthesis around the walk, on a
// device: CAM post-processing (eq. 2 background + the stride's pooling) straight into the walk's
// packed layout, and the bilinear upsampling of the walked scores straight into the dense CRF's
// unaries or into labels, so that the chain CAMs -> labels keeps its data on the device
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/cam/device.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/walk/detail/spmm.hpp"
#include "wsss/walk/inference.hpp"

namespace wsss::walk::device {

/// Walk input in the packed layout (detail::packed_cams: x[node * ld + s]) from CAM planes on
/// the device (P x H x W per image, a batch's images one after another): slot 0 = (1 - max_p
/// cam_p)^alpha (eq. 2), slot s = plane s - 1, slots past P zero; each the mean of its stride
/// x stride block, the image zero-padded right/bottom; image b's grid_nodes nodes after image
/// b - 1's. One (node, slot) per index, summed in reference_walk_input's order (rows, then
/// columns), so host tags give its bits.
struct walk_input_kernel {
  const float* cams;
  float* x;
  std::int64_t planes, height, width, stride, grid_width, ld;
  float alpha, inv;  // inv = 1 / stride^2
  std::int64_t grid_nodes;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t node = i / ld, s = i - node * ld;
    if (s > planes) {
      x[i] = 0.0f;
      return;
    }
    const std::int64_t hw = height * width, img = node / grid_nodes, local = node - img * grid_nodes;
    const std::int64_t by = local / grid_width, bx = local - by * grid_width;
    const float* c = cams + img * planes * hw;
    const std::int64_t r0 = by * stride, c0 = bx * stride;
    const std::int64_t r1 = r0 + stride < height ? r0 + stride : height, c1 = c0 + stride < width ? c0 + stride : width;
    float acc = 0.0f;
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::int64_t q = c0; q < c1; ++q) {
        const float v = s == 0 ? cam::device::background(c, planes, hw, r * width + q, alpha) : c[(s - 1) * hw + r * width + q];
        acc += v * inv;
      }
    x[i] = acc;
  }
};

/// Shape of the walked scores and of the image they are upsampled to.
struct upsample_shape {
  std::int64_t h, w, ld, stride, height, width;
};

/// Pixel i of the image in the walked scores' grid: its four grid neighbours (node offsets
/// times ld) and the weights of upsample_revised's half-pixel bilinear map onto the padded
/// (h stride) x (w stride) image, computed once per pixel for every channel.
struct upsample_point {
  std::int64_t n00, n01, n10, n11;
  float wx, wy;
  WSSS_HD upsample_point(const upsample_shape& g, std::int64_t i) {
    using wsss::detail::lerp_at;
    const std::int64_t oy = i / g.width, ox = i - oy * g.width;
    const auto ay = lerp_at(oy, g.h, g.h * g.stride, resize_mode::half_pixel);
    const auto ax = lerp_at(ox, g.w, g.w * g.stride, resize_mode::half_pixel);
    n00 = (ay.i0 * g.w + ax.i0) * g.ld;
    n01 = (ay.i0 * g.w + ax.i1) * g.ld;
    n10 = (ay.i1 * g.w + ax.i0) * g.ld;
    n11 = (ay.i1 * g.w + ax.i1) * g.ld;
    wx = ax.w1;
    wy = ay.w1;
  }
  /// The upsampled score of slot s (s < 0: a channel not walked, 0).
  WSSS_HD float operator()(const float* x, std::int32_t s) const {
    if (s < 0) return 0.0f;
    return wsss::detail::bilerp(x[n00 + s], x[n01 + s], x[n10 + s], x[n11 + s], wx, wy);
  }
};

/// The dense CRF's unaries (k x H x W per image, a batch's images one after another: the CRF
/// plan's N x k x H x W) from the walked scores (image b's g.h g.w nodes after image b - 1's):
/// channel j is slot j (j < k), upsampled, each pixel's k scores normalised to a distribution
/// (cam::normalise_pixels), clipped to [clip, 1] and -log'd (crf::unary_from_probabilities).
/// One pixel per index.
struct unary_kernel {
  const float* x;
  float* u;
  upsample_shape g;
  std::int64_t k;
  float clip;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t hw = g.height * g.width, img = i / hw, p = i - img * hw;
    const upsample_point at(g, p);
    const float* xs = x + img * g.h * g.w * g.ld;
    float* us = u + img * k * hw;
    double sum = 0;
    for (std::int64_t j = 0; j < k; ++j) {
      const float v = at(xs, static_cast<std::int32_t>(j));
      sum += 0.0f < v ? v : 0.0f;
    }
    const float inv = sum > 0 ? static_cast<float>(1.0 / sum) : 1.0f / static_cast<float>(k);
    for (std::int64_t j = 0; j < k; ++j) {
      float p_j = inv;
      if (sum > 0) {
        const float v = at(xs, static_cast<std::int32_t>(j));
        p_j = (0.0f < v ? v : 0.0f) * inv;
      }
      us[j * hw + p] = crf::detail::neg_log_clamped(p_j, clip);
    }
  }
};

/// argmax over c channels of the upsampled scores, channel j of image b read from slot
/// slots[b c + j] (-1: an absent channel, 0), the first maximum kept (argmax_labels' rule);
/// a batch's label maps one after another. One pixel per index.
struct label_kernel {
  const float* x;
  const std::int32_t* slots;
  std::uint8_t* labels;
  upsample_shape g;
  std::int64_t c;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t hw = g.height * g.width, img = i / hw;
    const upsample_point at(g, i - img * hw);
    const float* xs = x + img * g.h * g.w * g.ld;
    const std::int32_t* sl = slots + img * c;
    float best = at(xs, sl[0]);
    std::int64_t arg = 0;
    for (std::int64_t j = 1; j < c; ++j) {
      const float v = at(xs, sl[j]);
      if (v > best) {
        best = v;
        arg = j;
      }
    }
    labels[i] = static_cast<std::uint8_t>(arg);
  }
};

/// The three stages on backend Tag (specialised per tag like device::steps): the primary
/// template launches the WSSS_HD functors above; walk/opencl/steps.hpp has opencl_t's OpenCL C.
template <class Tag>
struct inference_steps {
  template <class T>
  using array = backend::device_array<T, Tag>;
  /// n: the nodes of the whole batch.
  static void walk_input(const Tag& tag, const array<float>& cams, array<float>& x, const walk_input_kernel& k, std::int64_t n) {
    walk_input_kernel f = k;
    f.cams = cams.data();
    f.x = x.data();
    backend::for_each_index(tag, n * k.ld, f);
  }
  static void unaries(const Tag& tag, const array<float>& x, array<float>& u, const upsample_shape& g, std::int64_t k,
                      float clip, std::int64_t images) {
    backend::for_each_index(tag, images * g.height * g.width, unary_kernel{x.data(), u.data(), g, k, clip});
  }
  static void labels(const Tag& tag, const array<float>& x, const array<std::int32_t>& slots, array<std::uint8_t>& out,
                     const upsample_shape& g, std::int64_t c, std::int64_t images) {
    backend::for_each_index(tag, images * g.height * g.width, label_kernel{x.data(), slots.data(), out.data(), g, c});
  }
};

/// The buffers of one image's chain in Tag's memory (kept in a workspace between images).
template <class Tag>
struct inference_buffers {
  backend::device_array<float, Tag> cams, x;
  backend::device_array<std::int32_t, Tag> slots;
  backend::device_array<std::uint8_t, Tag> labels;
};

}  // namespace wsss::walk::device

namespace wsss::walk {

/// The walk input of one image, or of a batch of images of one size, on the device, packed
/// for the walk: slot 0 the background of eq. 2, slot j the CAM of channel `channels[j - 1]`
/// (a subset of a K x H x W stack, in the order given), pooled to the feature grid
/// (device::walk_input_kernel; reference_walk_input on the host); image b's nodes after image
/// b - 1's.
template <class Tag>
struct device_walk_input {
  const backend::device_array<float, Tag>& x;
  index_t height, width;  ///< the feature grid (ceil(size / stride))
  index_t ld, slots;      ///< packed row length (a multiple of 8), slots used (planes + 1)
  index_t images = 1;
};

/// Uploads the CAM planes `channels[b]` of fg_cams[b] (K x H x W, normalised foreground CAMs,
/// every channel not listed all zero: checked, with the rest of reference_walk_input's
/// checks; one shape and as many planes for every image) and makes the batch's walk input on
/// the device: 1 upload (the planes), no download.
template <class Tag>
device_walk_input<Tag> make_device_walk_input(const Tag& tag, device::inference_buffers<Tag>& b,
                                              std::span<const tensor> fg_cams,
                                              std::span<const std::vector<index_t>> channels, float alpha,
                                              index_t stride) {
  constexpr std::string_view comp = "walk::make_device_walk_input";
  detail::check_walk_input_params(alpha, stride, comp);
  cam::upload_planes(tag, fg_cams, channels, b.cams, comp, "walked");
  const index_t images = static_cast<index_t>(fg_cams.size()), planes = static_cast<index_t>(channels.front().size());
  const index_t h = fg_cams.front().dim(1), w = fg_cams.front().dim(2);
  const index_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride, n = oh * ow;
  const index_t ld = detail::packed_cams::padded(planes + 1);
  backend::resize(tag, b.x, images * n * ld);
  device::inference_steps<Tag>::walk_input(tag, b.cams, b.x,
                                           device::walk_input_kernel{nullptr, nullptr, planes, h, w, stride, ow, ld, alpha,
                                                                     1.0f / static_cast<float>(stride * stride), n},
                                           images * n);
  return {b.x, oh, ow, ld, planes + 1, images};
}
/// One image's walk input (the batch of one above).
template <class Tag>
device_walk_input<Tag> make_device_walk_input(const Tag& tag, device::inference_buffers<Tag>& b, const tensor& fg_cams,
                                              std::span<const index_t> channels, float alpha, index_t stride) {
  const std::vector<index_t> listed(channels.begin(), channels.end());
  return make_device_walk_input(tag, b, std::span<const tensor>(&fg_cams, 1),
                                std::span<const std::vector<index_t>>(&listed, 1), alpha, stride);
}

/// Walked scores left on the device (device_sparse_power's run on a device_walk_input): packed
/// node-major over a height x width grid per image, slot j of row ld, image b after b - 1.
template <class Tag>
struct device_walked {
  const backend::device_array<float, Tag>& x;
  index_t height, width, ld;
  index_t images = 1;
};

namespace detail {
/// The upsampling's shape for an image of height x width, checked as upsample_revised checks it.
template <class Tag>
device::upsample_shape upsample_to(const device_walked<Tag>& s, index_t height, index_t width, index_t stride,
                                   std::string_view comp) {
  if (stride < 1) throw_value(comp, "stride must be >= 1, got ", stride);
  if (height <= 0 || width <= 0 || (height + stride - 1) / stride != s.height || (width + stride - 1) / stride != s.width)
    throw_shape(comp, "an image of ", height, "x", width, " needs scores of ceil(size / ", stride, ") = ",
                (height + stride - 1) / stride, "x", (width + stride - 1) / stride, ", got ", s.height, "x", s.width);
  return {s.height, s.width, s.ld, stride, height, width};
}
}  // namespace detail

/// The dense CRF's unaries from walked scores, on the device: slots 0..k-1 upsampled to the
/// image (upsample_revised), each pixel normalised to a distribution (cam::normalise_pixels),
/// clipped at `clip` and -log'd (crf::unary_from_probabilities), into u (images x k x H x W,
/// resized). No transfer: u is what a device CRF's plan solves from.
template <class Tag>
void device_unaries(const Tag& tag, const device_walked<Tag>& s, index_t height, index_t width, index_t stride,
                    index_t k, float clip, backend::device_array<float, Tag>& u) {
  constexpr std::string_view comp = "walk::device_unaries";
  const device::upsample_shape g = detail::upsample_to(s, height, width, stride, comp);
  if (k < 1 || k > s.ld) throw_value(comp, "the unaries take 1 to ", s.ld, " slots, got ", k);
  if (!(clip > 0.0f && clip <= 1.0f)) throw_value(comp, "clip must be in (0, 1], got ", clip);
  backend::resize(tag, u, s.images * k * height * width);
  device::inference_steps<Tag>::unaries(tag, s.x, u, g, k, clip, s.images);
}

/// Labels argmax_c of walked scores upsampled to the image, channel c of image b read from
/// slot slots[b c + c] (slots: images x c; -1: a channel not walked, 0):
/// argmax_labels(upsample_revised(...)) per image on the device. 1 upload (the slots), 1
/// download (a byte per pixel).
template <class Tag>
std::vector<label_map> device_labels(const Tag& tag, device::inference_buffers<Tag>& b, const device_walked<Tag>& s,
                                     index_t height, index_t width, index_t stride, std::span<const std::int32_t> slots) {
  constexpr std::string_view comp = "walk::device_labels";
  const device::upsample_shape g = detail::upsample_to(s, height, width, stride, comp);
  const auto c = static_cast<index_t>(slots.size()) / std::max<index_t>(s.images, 1);
  if (c < 1 || c > 255 || c * s.images != static_cast<index_t>(slots.size()))
    throw_value(comp, "labels need 1 to 255 channels per image (", s.images, " images), got ", slots.size(), " slots");
  for (std::int32_t j : slots)
    if (j < -1 || j >= s.ld) throw_value(comp, "slot ", j, " is outside the scores' ", s.ld, " slots");
  backend::upload(tag, slots, b.slots);
  const index_t hw = height * width;
  backend::resize(tag, b.labels, s.images * hw);
  device::inference_steps<Tag>::labels(tag, s.x, b.slots, b.labels, g, c, s.images);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(s.images * hw));
  backend::download(tag, b.labels, std::span<std::uint8_t>(bytes));
  std::vector<label_map> out;
  for (index_t i = 0; i < s.images; ++i) {
    label_map l(height, width);
    std::copy_n(bytes.begin() + i * hw, hw, l.data());
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace wsss::walk
