// SPDX-License-Identifier: MIT
// wsss/crf/device_mean_field.hpp — mean-field inference of the fully connected CRF (Potts,
// permutohedral filters) on a device backend: the whole batch's lattices on the device,
// every iteration there, explicit transfers in and out
#pragma once

#include <algorithm>
#include <concepts>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/detail/mean_field.hpp"
#include "wsss/crf/device/kernels.hpp"
#include "wsss/crf/device/lattice.hpp"
#if defined(__CUDACC__) || defined(THRUST_DEVICE_SYSTEM)
// Thrust is configured (nvcc's, or Debian's with its OpenMP system): the lattice's device build.
#include "wsss/crf/thrust/lattice_build.hpp"
#endif
#include "wsss/crf/image_plan.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/crf/permutohedral.hpp"

namespace wsss::crf {

/// mean_field<permutohedral, potts> with every iteration on a device backend: Q0 =
/// softmax(-U), then T times Q = softmax(-U + w_s F_s Q + w_a F_a Q), clamped pixels one-hot.
/// The lattices are built once per prepare: on the device where the tag has Thrust (cuda_t,
/// thrust_omp_t: crf/thrust/lattice_build.hpp), else on the host (crf::permutohedral, OpenMP)
/// and uploaded. The batch's lattices lie side by side, so each step is one launch for the
/// whole batch. The splat is a gather (each vertex sums its pixels in a fixed order), so no
/// step uses atomics and every launcher gives the same bits for the same lattice.
///   crf::device_mean_field<cuda_t> mf;                    // or opencl_t, thrust_omp_t, omp_t
///   auto pl = mf.prepare(ex, batch, unary.shape());        // 2 uploads (device build) or 12
///   mf.run(ex, pl, unary, q);                              // 1 upload, 1 download
///   auto labels = mf.labels(ex, pl, unary);                // 1 upload, 1 download (bytes)
///   ad::var q = mf.record(tape, pl, u);                    // Q_T on a tape; backward there too
/// Tag: any host backend (the kernels through its launcher; thrust_omp_t runs the CUDA bodies
/// on the CPU) or cuda_t (wsss/cuda.hpp, nvcc). Its results equal mean_field<>'s up to float
/// rounding of the sums (tests/backend/crf_device.test.cpp states the bound).
template <class Tag>
struct device_mean_field_op;

template <class Tag = omp_t>
class device_mean_field {
 public:
  static constexpr std::string_view name = "crf::device_mean_field";
  static constexpr std::string_view computes = mean_field<>::name;  ///< wsss::recorded_name
  using backend_type = Tag;
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
    // record()'s: Q_0..Q_T ((T + 1) x N x K), and the backward pass's rows and sums.
    array<float> hist, gq, ga, gu, rs, ra;
    array<double> partial, gw;
    // device_crf_rnn's (a learned compatibility): mu, the messages m_1..m_T, g_m, g_mu and its partials.
    array<float> mu, msgs, gm;
    array<double> gmu, gmu_partial;
    Tag tag{};  ///< the backend it was prepared on (record's op runs there: a tape has no exec)
    // Host staging, kept so that a plan prepared again allocates nothing new on the host.
    image_plan<permutohedral> host;
    device::flat_lattice flat_s, flat_a;
    workspace build;  ///< the device build's scratch (Thrust backends)
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
    detail::check_clamps(name, b.labels, s);
    const index_t hw = s[2] * s[3], n = s[0] * hw;
    if constexpr (backend::thrust_system<Tag>::available) {
      // Both lattices built on the device from the batch's features (one upload each).
      // Features D x n, image-major columns (the image_plan's, for every image of the batch).
      const kernel_config& kc = cfg.kernels;
      const tensor ps = position_features(s[2], s[3], kc.smoothness.sxy / kc.spatial_scale);
      tensor fs = tensor::uninitialized({ps.dim(0), n}), fa;
      for (index_t i = 0; i < s[0]; ++i) {
        const rgb_image& im = b.images[static_cast<std::size_t>(i)];
        const tensor pa = appearance_features(rgb_guide(im), kc.appearance.sxy / kc.spatial_scale, kc.appearance.sfeat);
        if (i == 0) fa = tensor::uninitialized({pa.dim(0), n});
        for (index_t r = 0; r < ps.dim(0); ++r) std::copy(ps.data() + r * hw, ps.data() + (r + 1) * hw, fs.data() + r * n + i * hw);
        for (index_t r = 0; r < pa.dim(0); ++r) std::copy(pa.data() + r * hw, pa.data() + (r + 1) * hw, fa.data() + r * n + i * hw);
      }
      device::build_lattice(ex.tag, pl.smoothness, pl.build.template get<device::build_detail::scratch<Tag, 1>>(), fs,
                            hw, s[1], kc.norm);
      device::build_lattice(ex.tag, pl.appearance, pl.build.template get<device::build_detail::scratch<Tag, 2>>(), fa,
                            hw, s[1], kc.norm);
    } else {
      // Built on the host (crf::permutohedral, OpenMP), laid side by side, uploaded.
      pl.flat_s.clear();
      pl.flat_a.clear();
      for (const rgb_image& im : b.images) {
        pl.host.build(wsss::omp, rgb_guide(im), cfg.kernels);
        pl.flat_s.append(pl.host.smoothness);
        pl.flat_a.append(pl.host.appearance);
      }
      pl.smoothness.upload(ex.tag, pl.flat_s, s[1]);
      pl.appearance.upload(ex.tag, pl.flat_a, s[1]);
    }
    if (!b.labels.empty()) {  // the batch's maps side by side, one upload
      std::vector<std::uint8_t> all;
      all.reserve(static_cast<std::size_t>(n));
      for (const label_map& c : b.labels) all.insert(all.end(), c.data(), c.data() + c.pixels());
      backend::upload(ex.tag, std::span<const std::uint8_t>(all), pl.clamp);
    } else {
      backend::resize(ex.tag, pl.clamp, 0);
    }
    backend::resize(ex.tag, pl.negu, n * s[1]);
    backend::resize(ex.tag, pl.q, n * s[1]);
    pl.tag = ex.tag;
    pl.dims = s;
  }

  /// Q_T on the device from unaries already in pl.unary (the caller's N x K x H x W layout);
  /// the rows of Q stay in pl.q. No transfer.
  void solve(const exec<Tag>& ex, plan& pl) const {
    solve(ex.tag, pl, cfg.kernels.smoothness.weight, cfg.kernels.appearance.weight, false);
  }

  /// Q_T on the tape (DifferentiableCrf): the gradient flows into the unaries and, through the
  /// second input (the two kernel weights, constants here as in mean_field), into w; every
  /// iteration of both passes runs on the plan's backend. The plan must outlive backward.
  ad::var record(ad::tape& t, plan& pl, ad::var unary) const {
    const tensor w = tensor::from({2}, std::span<const float>(std::vector<float>{cfg.kernels.smoothness.weight,
                                                                                 cfg.kernels.appearance.weight}));
    return ad::apply(t, device_mean_field_op<Tag>{this, &pl}, unary, t.leaf(w));
  }

  /// q (N x K x H x W, written, resized when its shape differs) = Q_T from host unaries of
  /// the plan's shape (K x H x W for a plan of one image): one upload, one download.
  void run(const exec<Tag>& ex, plan& pl, const tensor& unary, tensor& q) const {
    upload_unary(ex, pl, unary);
    solve(ex, pl);
    if (q.shape() != unary.shape()) q = tensor::uninitialized(unary.shape());
    download_q(ex.tag, pl, q);
  }

  /// The labels argmax_l Q_T (one map per image) from host unaries: one upload, and one
  /// download of a byte per pixel (what label synthesis keeps).
  std::vector<label_map> labels(const exec<Tag>& ex, plan& pl, const tensor& unary) const {
    upload_unary(ex, pl, unary);
    return labels(ex, pl);
  }
  /// The labels from unaries already in pl.unary (made on the device, e.g. by
  /// walk::device_unaries): no upload, one download of a byte per pixel.
  std::vector<label_map> labels(const exec<Tag>& ex, plan& pl) const {
    if (pl.dims.rank() != 4) throw_value(name, "labels need a prepared plan");
    if (pl.dims[1] > 255) throw_value(name, "labels need K <= 255 (one byte per pixel), got ", pl.dims[1]);
    if (pl.unary.size() != static_cast<std::size_t>(pl.dims.numel()))
      throw_shape(name, "the plan's unaries hold ", pl.unary.size(), " values, its shape ", pl.dims, " needs ", pl.dims.numel());
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
  friend struct device_mean_field_op<Tag>;

  // T mean-field updates with kernel weights ws, wa on unaries already uploaded; with
  // `history` Q_0..Q_T (and, learned, m_1..m_T) are kept for backward. `learned`: the
  // compatibility is pl.mu (uploaded by the caller), else Potts.
  void solve(const Tag& tag, plan& pl, float ws, float wa, bool history, bool learned = false) const {
    using steps = device::steps<Tag>;
    const index_t hw = pl.dims[2] * pl.dims[3], n = pl.dims[0] * hw, k = pl.dims[1];
    if (history) backend::resize(tag, pl.hist, (cfg.iterations + 1) * n * k);
    if (learned) backend::resize(tag, pl.msgs, (history ? std::max(cfg.iterations, 1) : 1) * n * k);
    steps::init(tag, pl.unary, pl.clamp, pl.negu, pl.q, n, hw, k);
    if (history) steps::copy(tag, pl.q, pl.hist, 0, n * k);
    for (int t = 1; t <= cfg.iterations; ++t) {
      const auto& vs = pl.smoothness.filter(tag, pl.q);
      const auto& va = pl.appearance.filter(tag, pl.q);
      if (learned)
        steps::compat_update(tag, pl.negu, pl.clamp, pl.smoothness, vs, ws, pl.appearance, va, wa, pl.mu, pl.msgs,
                             history ? (t - 1) * n * k : 0, pl.q, n, k);
      else
        steps::update(tag, pl.negu, pl.clamp, pl.smoothness, vs, ws, pl.appearance, va, wa, pl.q, n, k);
      if (history) steps::copy(tag, pl.q, pl.hist, t * n * k, n * k);
    }
  }

  // Q_T rows to the caller's layout, downloaded into q (sized for the plan's shape).
  void download_q(const Tag& tag, plan& pl, tensor& q) const {
    const index_t hw = pl.dims[2] * pl.dims[3], k = pl.dims[1];
    backend::resize(tag, pl.out, pl.dims[0] * hw * k);
    device::steps<Tag>::output(tag, pl.q, pl.out, hw, k);
    backend::download(tag, pl.out, q.span());
  }
  tensor download_q(const Tag& tag, plan& pl, const shape& s) const {
    tensor q = tensor::uninitialized(s);
    download_q(tag, pl, q);
    return q;
  }

  // The op's backward (see op): ADDS into *gu (the unaries' layout), *gw (2) and, with a
  // learned compatibility (pl.mu), *gmu (K x K) when given.
  void backward(const Tag& tag, plan& pl, float ws, float wa, const tensor& gy, tensor* gu, tensor* gw,
                bool learned = false, tensor* gmu = nullptr) const {
    using steps = device::steps<Tag>;
    const index_t hw = pl.dims[2] * pl.dims[3], n = pl.dims[0] * hw, k = pl.dims[1], size = n * k;
    for (auto* a : {&pl.gq, &pl.ga, &pl.gu, &pl.rs, &pl.ra}) backend::resize(tag, *a, size);
    backend::resize(tag, pl.gw, 2);
    backend::fill(tag, pl.gu, 0.0f);
    backend::fill(tag, pl.gw, 0.0);
    if (learned) {
      backend::resize(tag, pl.gm, size);
      backend::resize(tag, pl.gmu, k * k);
      backend::fill(tag, pl.gmu, 0.0);
    }
    const auto& gm = learned ? pl.gm : pl.ga;  // what the filters' transposes take: g_m = -mu^T g_a
    pl.smoothness.upload_transpose(tag, pl.flat_s);
    pl.appearance.upload_transpose(tag, pl.flat_a);
    backend::upload(tag, gy.span(), pl.out);  // the caller's layout, then rows
    steps::input(tag, pl.out, pl.gq, hw, k);
    for (int t = cfg.iterations; t >= 0; --t) {
      steps::softmax_backward(tag, pl.hist, t * size, pl.gq, pl.clamp, pl.ga, pl.gu, n, k);
      if (t == 0) break;
      if (learned) {  // g_mu -= Σ_p g_a m_t^T (m_t kept at t - 1), g_m = -mu^T g_a
        if (gmu) steps::compat_grad(tag, pl.ga, pl.msgs, (t - 1) * size, n, k, pl.gmu_partial, pl.gmu);
        steps::compat_backward(tag, pl.mu, pl.ga, pl.gm, n, k);
      }
      // r_k = F_k^T g_m (Potts: g_m = -mu^T g_a = g_a).
      steps::slice(tag, pl.smoothness, pl.smoothness.slice_weights(true), pl.smoothness.filter(tag, gm, true), 1.0f,
                   pl.rs);
      steps::slice(tag, pl.appearance, pl.appearance.slice_weights(true), pl.appearance.filter(tag, gm, true), 1.0f,
                   pl.ra);
      if (gw) steps::dot2(tag, pl.rs, pl.ra, pl.hist, (t - 1) * size, size, pl.partial, pl.gw);
      steps::combine(tag, pl.rs, pl.ra, ws, wa, pl.gq);
    }
    if (gu) {
      steps::output(tag, pl.gu, pl.out, hw, k);
      tensor g = tensor::uninitialized(gu->shape());
      backend::download(tag, pl.out, g.span());
      for (index_t i = 0; i < g.numel(); ++i) (*gu)[i] += g[i];
    }
    if (gw) {
      double d[2];
      backend::download(tag, pl.gw, std::span<double>(d, 2));
      (*gw)[0] += static_cast<float>(d[0]);
      (*gw)[1] += static_cast<float>(d[1]);
    }
    if (learned && gmu) {
      std::vector<double> d(static_cast<std::size_t>(k * k));
      backend::download(tag, pl.gmu, std::span<double>(d));
      for (index_t e = 0; e < k * k; ++e) (*gmu)[e] += static_cast<float>(d[static_cast<std::size_t>(e)]);
    }
  }

  void upload_unary(const exec<Tag>& ex, plan& pl, const tensor& unary) const {
    detail::check_unary(name, pl.dims, unary);
    backend::upload(ex.tag, unary.span(), pl.unary);
  }
  // mu (K x K, K the plan's labels) to pl.mu: one upload.
  void upload_compat(const Tag& tag, plan& pl, const tensor& mu) const {
    const index_t k = pl.dims.rank() == 4 ? pl.dims[1] : 0;
    expect_shape(mu, {k, k}, name, "compatibility mu");
    detail::check_finite(mu, name, "compatibility mu");
    backend::upload(tag, mu.span(), pl.mu);
  }
};

/// The autodiff op of device_mean_field::record: y = Q_T from x0 = U and x1 = (w_s, w_a)
/// (Potts), or from x0 = U, x1 = mu, x2 = (w_s, w_a) (device_crf_rnn::record). Backward, per
/// iteration t = T..1 (Q_t = softmax(a_t), a_t = -U - mu m_t, m_t = Σ_k w_k F_k Q_{t-1}):
///   g_a = Q_t ⊙ (g_Q - <Q_t, g_Q>),  g_U -= g_a,  g_mu -= Σ_p g_a m_t^T,  g_m = -mu^T g_a,
///   r_k = F_k^T g_m,  g_w_k += <r_k, Q_{t-1}>,  g_{Q_{t-1}} = Σ_k w_k r_k;  then Q_0 = softmax(-U).
/// (mean_field_op's recursion; Potts folds mu = -I: g_m = g_a.) One upload of U (and mu) and
/// one download of Q_T forward; one upload of g_Q and downloads of g_U, g_w (and g_mu) backward.
template <class Tag>
struct device_mean_field_op {
  static constexpr std::string_view name = "crf::device_mean_field_op";
  const device_mean_field<Tag>* engine = nullptr;
  typename device_mean_field<Tag>::plan* pl = nullptr;
  struct saved {};

  tensor forward(saved& s, const tensor& u, const tensor& w) const { return forward(s, u, nullptr, w); }
  /// device_crf_rnn's: y = Q_T from x0 = U, x1 = mu (K x K) and x2 = (w_s, w_a).
  tensor forward(saved& s, const tensor& u, const tensor& mu, const tensor& w) const { return forward(s, u, &mu, w); }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const bool learned = xs.size() == 3;
    const tensor& w = *xs.back();
    engine->backward(pl->tag, *pl, w[0], w[1], gy, gxs[0], gxs.back(), learned, learned ? gxs[1] : nullptr);
  }

 private:
  tensor forward(saved&, const tensor& u, const tensor* mu, const tensor& w) const {
    expect_shape(w, {2}, name, "kernel weights");
    detail::check_finite(w, name, "kernel weights");
    engine->upload_unary(exec<Tag>{pl->tag}, *pl, u);
    if (mu) engine->upload_compat(pl->tag, *pl, *mu);
    engine->solve(pl->tag, *pl, w[0], w[1], true, mu != nullptr);
    return engine->download_q(pl->tag, *pl, u.shape());
  }
};

static_assert(DifferentiableCrf<device_mean_field<cpu_t>>);

/// CRF engine C labels from unaries already in its plan, in backend Tag's memory
/// (device_mean_field<Tag>): a device chain makes them there (walk::device_unaries), so they
/// never cross the bus.
template <class C, class Tag>
concept resident_unaries =
    std::same_as<backend_of_t<C>, Tag> && requires(const C& c, typename C::plan& p, const exec<Tag>& ex) {
      { p.unary } -> std::same_as<backend::device_array<float, Tag>&>;
      { c.labels(ex, p) } -> std::same_as<std::vector<label_map>>;
    };
static_assert(resident_unaries<device_mean_field<cpu_t>, cpu_t>);

/// CRF engine C whose plan holds its unaries and its marginals in backend Tag's memory and
/// solves from the one into the other (device_mean_field): a caller makes the unaries in
/// p.unary and reads Q_T's rows (pixel-major, K per pixel) in p.q, with no transfer
/// (cam::device_confident_regions).
template <class C, class Tag>
concept resident_marginals =
    std::same_as<backend_of_t<C>, Tag> && requires(const C& c, typename C::plan& p, const exec<Tag>& ex) {
      { p.unary } -> std::same_as<backend::device_array<float, Tag>&>;
      { p.q } -> std::same_as<backend::device_array<float, Tag>&>;
      c.solve(ex, p);
    };
static_assert(resident_marginals<device_mean_field<cpu_t>, cpu_t>);

}  // namespace wsss::crf

namespace wsss {
/// device_mean_field runs on every host backend and on cuda_t (its memory and launcher come
/// from wsss/cuda.hpp); a tag without them fails in backend::memory with the header to include.
template <class Tag>
struct supports<crf::device_mean_field<Tag>, Tag> : std::true_type {};
}  // namespace wsss
