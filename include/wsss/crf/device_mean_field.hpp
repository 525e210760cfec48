// SPDX-License-Identifier: MIT
// wsss/crf/device_mean_field.hpp — mean-field inference of the fully connected CRF (Potts,
// permutohedral filters) on a device backend: the whole batch's lattices on the device,
// every iteration there, explicit transfers in and out
#pragma once

#include <algorithm>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/detail/mean_field.hpp"
#include "wsss/crf/device/kernels.hpp"
#include "wsss/crf/device/lattice.hpp"
#include "wsss/crf/image_plan.hpp"
#include "wsss/crf/permutohedral.hpp"

namespace wsss::crf {

/// mean_field<permutohedral, potts> with every iteration on a device backend: Q0 =
/// softmax(-U), then T times Q = softmax(-U + w_s F_s Q + w_a F_a Q), clamped pixels one-hot.
/// The lattices are built on the host (crf::permutohedral, OpenMP) and uploaded once per
/// prepare; the batch's lattices are laid side by side, so each step is one launch for the
/// whole batch. The splat is a gather (each vertex sums its pixels in a fixed order), so no
/// step uses atomics and every launcher gives the same bits.
///   crf::device_mean_field<cuda_t> mf;                    // or thrust_omp_t, omp_t, cpu_t
///   auto pl = mf.prepare(ex, batch, unary.shape());        // 12 uploads (13 with clamps)
///   mf.run(ex, pl, unary, q);                              // 1 upload, 1 download
///   auto labels = mf.labels(ex, pl, unary);                // 1 upload, 1 download (bytes)
/// Tag: any host backend (the kernels through its launcher; thrust_omp_t runs the CUDA bodies
/// on the CPU) or cuda_t (wsss/cuda.hpp, nvcc). Its results equal mean_field<>'s up to float
/// rounding of the sums (tests/crf/device.test.cpp states the bound).
template <class Tag = omp_t>
class device_mean_field {
 public:
  static constexpr std::string_view name = "crf::device_mean_field";
  using config = mean_field_config;

  /// The plan: the batch's two lattices and every buffer, in the backend's memory.
  struct plan {
    template <class T>
    using array = backend::device_array<T, Tag>;
    shape dims;                        ///< N x K x H x W it was prepared for
    device::lattice<Tag> smoothness, appearance;
    array<std::uint8_t> clamp;         ///< N·H·W, or empty
    array<float> unary, negu, q, out;  ///< unaries in, -U and Q rows, Q out (caller's layout)
    array<std::uint8_t> labels;
    // Host staging, kept so that a plan prepared again allocates nothing new on the host.
    image_plan<permutohedral> host;
    device::flat_lattice flat_s, flat_a;
  };

  config cfg{};

  device_mean_field() = default;
  explicit device_mean_field(config c) : cfg(std::move(c)) { cfg.validate(name); }

  /// The plan for unaries of shape s = N x K x H x W: both lattices of every image of the
  /// batch (RGB guides, raw 0..255) and the clamp maps (batch.labels, 255 = free).
  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const {
    plan pl;
    prepare(ex, b, s, pl);
    return pl;
  }
  void prepare(const exec<Tag>& ex, const batch& b, const shape& s, plan& pl) const {
    require_backend<device_mean_field, Tag>();
    pl.dims = {};  // unprepared until everything below has succeeded
    detail::check_images(name, b, s);
    mean_field_plan<permutohedral> checked;  // set_clamps checks the maps and copies them here
    detail::set_clamps(name, b.labels, s, checked);
    pl.flat_s.clear();
    pl.flat_a.clear();
    for (const rgb_image& im : b.images) {
      pl.host.build(wsss::omp, rgb_guide(im), cfg.kernels);
      pl.flat_s.append(pl.host.smoothness);
      pl.flat_a.append(pl.host.appearance);
    }
    pl.smoothness.upload(ex.tag, pl.flat_s, s[1]);
    pl.appearance.upload(ex.tag, pl.flat_a, s[1]);
    const index_t n = s[0] * s[2] * s[3];
    if (!checked.clamps.empty()) {
      std::vector<std::uint8_t> all;
      all.reserve(static_cast<std::size_t>(n));
      for (const label_map& c : checked.clamps) all.insert(all.end(), c.data(), c.data() + c.pixels());
      backend::upload(ex.tag, std::span<const std::uint8_t>(all), pl.clamp);
    } else {
      backend::resize(ex.tag, pl.clamp, 0);
    }
    backend::resize(ex.tag, pl.negu, n * s[1]);
    backend::resize(ex.tag, pl.q, n * s[1]);
    pl.dims = s;
  }

  /// Q_T on the device from unaries already in pl.unary (the caller's N x K x H x W layout);
  /// the rows of Q stay in pl.q. No transfer.
  void solve(const exec<Tag>& ex, plan& pl) const {
    using steps = device::steps<Tag>;
    const index_t hw = pl.dims[2] * pl.dims[3], n = pl.dims[0] * hw, k = pl.dims[1];
    steps::init(ex.tag, pl.unary, pl.clamp, pl.negu, pl.q, n, hw, k);
    for (int t = 0; t < cfg.iterations; ++t) {
      const auto& vs = pl.smoothness.filter(ex.tag, pl.q);
      const auto& va = pl.appearance.filter(ex.tag, pl.q);
      steps::update(ex.tag, pl.negu, pl.clamp, pl.smoothness, vs, cfg.kernels.smoothness.weight, pl.appearance, va,
                    cfg.kernels.appearance.weight, pl.q, n, k);
    }
  }

  /// q (N x K x H x W, written, resized when its shape differs) = Q_T from host unaries of
  /// the plan's shape (K x H x W for a plan of one image): one upload, one download.
  void run(const exec<Tag>& ex, plan& pl, const tensor& unary, tensor& q) const {
    upload_unary(ex, pl, unary);
    solve(ex, pl);
    const index_t n = pl.dims[0] * pl.dims[2] * pl.dims[3], k = pl.dims[1];
    backend::resize(ex.tag, pl.out, n * k);
    device::steps<Tag>::output(ex.tag, pl.q, pl.out, pl.dims[2] * pl.dims[3], k);
    if (q.shape() != unary.shape()) q = tensor::uninitialized(unary.shape());
    backend::download(ex.tag, pl.out, q.span());
  }

  /// The labels argmax_l Q_T (one map per image) from host unaries: one upload, and one
  /// download of a byte per pixel (what label synthesis keeps).
  std::vector<label_map> labels(const exec<Tag>& ex, plan& pl, const tensor& unary) const {
    if (pl.dims.rank() == 4 && pl.dims[1] > 255)
      throw_value(name, "labels need K <= 255 (one byte per pixel), got ", pl.dims[1]);
    upload_unary(ex, pl, unary);
    solve(ex, pl);
    const index_t hw = pl.dims[2] * pl.dims[3], n = pl.dims[0] * hw;
    backend::resize(ex.tag, pl.labels, n);
    device::steps<Tag>::argmax(ex.tag, pl.q, pl.labels, pl.dims[1]);
    std::vector<std::uint8_t> host(static_cast<std::size_t>(n));
    backend::download(ex.tag, pl.labels, std::span<std::uint8_t>(host));
    std::vector<label_map> maps;
    for (index_t i = 0; i < pl.dims[0]; ++i) {
      label_map m(pl.dims[2], pl.dims[3]);
      std::copy(host.begin() + i * hw, host.begin() + (i + 1) * hw, m.data());
      maps.push_back(std::move(m));
    }
    return maps;
  }

  /// One image, one call: Q (K x H x W, or 1 x K x H x W as given) from unary energies; the
  /// plan lives in ex's workspace when it has one (reused by the next call), else is local.
  tensor infer(const tensor& unary, const rgb_image& image, const exec<Tag>& ex = {}) const {
    if (unary.rank() != 3 && !(unary.rank() == 4 && unary.dim(0) == 1))
      throw_shape(name, "unary must be K x H x W (or 1 x K x H x W), got ", unary.shape());
    const shape s = unary.rank() == 4 ? unary.shape() : shape{1, unary.dim(0), unary.dim(1), unary.dim(2)};
    plan local;
    plan& pl = ex.scratch(local);
    prepare(ex, images_only(std::span<const rgb_image>(&image, 1)), s, pl);
    tensor q;
    run(ex, pl, unary, q);
    return q;
  }

 private:
  void upload_unary(const exec<Tag>& ex, plan& pl, const tensor& unary) const {
    detail::check_unary(name, pl.dims, unary);
    backend::upload(ex.tag, unary.span(), pl.unary);
  }
};

}  // namespace wsss::crf

namespace wsss {
/// device_mean_field runs on every host backend and on cuda_t (its memory and launcher come
/// from wsss/cuda.hpp); a tag without them fails in backend::memory with the header to include.
template <class Tag>
struct supports<crf::device_mean_field<Tag>, Tag> : std::true_type {};
}  // namespace wsss
