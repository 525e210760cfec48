// SPDX-License-Identifier: MIT
// wsss/walk/device_sparse_power.hpp — sparse_power with the walk in a backend's memory (CUDA,
// OpenCL, Thrust's OpenMP system, host tags): T and the CAMs uploaded once per run, every
// step and the mass restoration on the device, the result downloaded once
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/detail/spmm.hpp"
#include "wsss/walk/sparse_power.hpp"

namespace wsss::walk::device {

/// Nodes per partial sum of the mass measurement (a fixed split: the same bits everywhere).
inline constexpr std::int64_t mass_chunk = 256;

/// Partial sums of l^T x per (chunk of mass_chunk nodes, channel), one pair per index.
struct mass_partial_kernel {
  const float* x;
  const double* left;
  double* partial;  // chunks x channels
  std::int64_t n, ld, channels;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t chunk = i / channels, k = i - chunk * channels;
    const std::int64_t end = (chunk + 1) * mass_chunk < n ? (chunk + 1) * mass_chunk : n;
    double s = 0;
    for (std::int64_t node = chunk * mass_chunk; node < end; ++node) s += left[node] * x[node * ld + k];
    partial[i] = s;
  }
};

/// Per channel: total = sum of the partials in chunk order; out = total (target == null) or
/// target - total (the correction still to apply).
struct mass_total_kernel {
  const double* partial;
  const double* target;
  double* out;
  std::int64_t chunks, channels;
  WSSS_HD void operator()(std::int64_t k) const {
    double s = 0;
    for (std::int64_t c = 0; c < chunks; ++c) s += partial[c * channels + k];
    out[k] = target ? target[k] - s : s;
  }
};

/// x_i += (target - l^T x) r_i per channel, one (node, channel) per index.
struct mass_restore_kernel {
  float* x;
  const double* missing;
  const double* right;
  std::int64_t ld, channels;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t node = i / channels, k = i - node * channels;
    x[node * ld + k] += static_cast<float>(missing[k] * right[node]);
  }
};

/// The walk's buffers in backend Tag's memory.
template <class Tag>
struct walk_buffers {
  template <class T>
  using array = backend::device_array<T, Tag>;
  array<index_t> row_ptr;
  array<std::int32_t> col;
  array<float> val, x, y;
  array<double> degree, left, right, partial, target, missing;
};

/// The walk's steps on backend Tag (specialised per tag like crf::device::steps): the primary
/// template launches the WSSS_HD functors (host tags, cuda_t); walk/opencl/steps.hpp has
/// opencl_t's OpenCL C.
template <class Tag>
struct steps {
  using buffers = walk_buffers<Tag>;
  template <class T>
  using array = backend::device_array<T, Tag>;

  /// y = S x on every packed channel (x, y n x ld).
  static void spmm(const Tag& tag, buffers& b, const array<float>& x, array<float>& y, index_t n, index_t ld) {
    wsss::walk::detail::for_each_block(ld, [&](auto blk, index_t off) {
      backend::for_each_index(tag, n,
                              wsss::walk::detail::spmm_kernel<decltype(blk)::value>{b.row_ptr.data(), b.col.data(),
                                                                                    b.val.data(), x.data(), y.data(),
                                                                                    ld, off});
    });
  }
  static void mass_vectors(const Tag& tag, buffers& b, index_t n, double sum_degree, bool average) {
    backend::for_each_index(tag, n, detail::mass_vectors_kernel{b.degree.data(), b.left.data(), b.right.data(), sum_degree, average});
  }
  /// out[k] = l^T x_k (target == false) or target[k] - l^T x_k.
  static void measure(const Tag& tag, buffers& b, const array<float>& x, array<double>& out, bool from_target,
                      index_t n, index_t ld, index_t channels) {
    const index_t chunks = (n + mass_chunk - 1) / mass_chunk;
    backend::for_each_index(tag, chunks * channels, mass_partial_kernel{x.data(), b.left.data(), b.partial.data(), n, ld, channels});
    backend::for_each_index(tag, channels, mass_total_kernel{b.partial.data(), from_target ? b.target.data() : nullptr,
                                                             out.data(), chunks, channels});
  }
  static void restore(const Tag& tag, buffers& b, array<float>& x, index_t n, index_t ld, index_t channels) {
    backend::for_each_index(tag, n * channels, mass_restore_kernel{x.data(), b.missing.data(), b.right.data(), ld, channels});
  }
};

}  // namespace wsss::walk::device

namespace wsss::walk {

/// sparse_power (a Propagator) whose walk runs in backend Tag's memory: per run, T (three CSR
/// arrays and the degrees) and the packed CAMs go up (5 uploads), t steps and every mass
/// restoration run there, and the walked scores come down (1 download). The kernels are
/// sparse_power's own row kernel and fixed-order sums, so on host tags the result has
/// sparse_power's bits up to the mass sums' order (tests/backend/walk_device.test.cpp).
/// The plan keeps the device buffers, so a stream of images of one size allocates once.
/// Tag: any host backend, cuda_t (wsss/cuda.hpp, nvcc) or opencl_t (wsss/opencl.hpp).
template <class Tag = omp_t>
struct device_sparse_power {
  static constexpr std::string_view name = "walk::device_sparse_power";
  static constexpr std::string_view computes = sparse_power::name;  ///< wsss::recorded_name
  using backend_type = Tag;
  using config = sparse_power::config;
  struct plan : detail::sparse_plan_base {
    device::walk_buffers<Tag> device;
  };
  config cfg{};

  device_sparse_power() = default;
  explicit device_sparse_power(config c) : cfg(c) { detail::check_steps(cfg.t, name); }

  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    detail::check_steps(cfg.t, name);
    plan pl;
    pl.sparse_plan_base::prepare(s, name);
    return pl;
  }

  void run(const exec<Tag>& ex, plan& pl, const transition& T, const tensor& cam, tensor& out) const {
    require_backend<device_sparse_power, Tag>();
    if (!detail::begin_walk(pl.cam_shape, T, cam, cfg.t, out, pl.packed, name)) return;
    using steps = device::steps<Tag>;
    const Tag& tag = ex.tag;
    const index_t n = T.nodes(), ld = pl.packed.ld, channels = static_cast<index_t>(pl.packed.channels.size());
    device::walk_buffers<Tag>& b = pl.device;
    backend::upload(tag, std::span<const index_t>(T.row_ptr), b.row_ptr);
    backend::upload(tag, std::span<const std::int32_t>(T.col), b.col);
    backend::upload(tag, std::span<const float>(T.val), b.val);
    backend::upload(tag, std::span<const double>(T.degree), b.degree);
    backend::upload(tag, std::span<const float>(pl.packed.x.data(), static_cast<std::size_t>(n * ld)), b.x);
    backend::resize(tag, b.y, n * ld);
    const bool keep = cfg.keep_mass > 0;
    if (keep) {
      for (auto* a : {&b.left, &b.right}) backend::resize(tag, *a, n);
      backend::resize(tag, b.partial, (n + device::mass_chunk - 1) / device::mass_chunk * channels);
      backend::resize(tag, b.target, channels);
      backend::resize(tag, b.missing, channels);
      steps::mass_vectors(tag, b, n, detail::total_degree(T), T.cfg.mode == orientation::average);
      steps::measure(tag, b, b.x, b.target, false, n, ld, channels);
    }
    bool in_x = true;  // which buffer holds the current scores
    for (index_t s = 0; s < cfg.t; ++s) {
      if (in_x) steps::spmm(tag, b, b.x, b.y, n, ld);
      else steps::spmm(tag, b, b.y, b.x, n, ld);
      in_x = !in_x;
      if (keep && ((s + 1) % cfg.keep_mass == 0 || s + 1 == cfg.t)) {
        auto& cur = in_x ? b.x : b.y;
        steps::measure(tag, b, cur, b.missing, true, n, ld, channels);
        steps::restore(tag, b, cur, n, ld, channels);
      }
    }
    backend::download(tag, in_x ? b.x : b.y, std::span<float>(pl.packed.x.data(), static_cast<std::size_t>(n * ld)));
    detail::unpack(pl.packed, pl.packed.x.data(), cam, n, out);
  }
};
static_assert(Propagator<device_sparse_power<cpu_t>>);

}  // namespace wsss::walk

namespace wsss {
/// device_sparse_power runs on every backend that has device memory and steps: host tags,
/// cuda_t (wsss/cuda.hpp), opencl_t (wsss/opencl.hpp).
template <class Tag>
struct supports<walk::device_sparse_power<Tag>, Tag> : std::true_type {};
}  // namespace wsss
