// SPDX-License-Identifier: MIT
// wsss/crf/mean_field.hpp — mean-field inference of the fully connected CRF (Krähenbühl &
// Koltun 2011, Alg. 1) as pydensecrf runs it: Q0 = softmax(-U), T parallel updates
#pragma once

#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/compatibility.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/detail/filter_common.hpp"
#include "wsss/crf/detail/mean_field.hpp"
#include "wsss/crf/image_plan.hpp"
#include "wsss/crf/kernels.hpp"
#include "wsss/crf/mean_field_op.hpp"
#include "wsss/crf/permutohedral.hpp"

namespace wsss::crf {

/// Unary energies from class probabilities: U = -log(clamp(p, clip, 1)) (pydensecrf's
/// unary_from_softmax, clip 1e-5 by default).
inline tensor unary_from_probabilities(const tensor& p, float clip = 1e-5f) {
  require(clip > 0 && clip <= 1, "crf::unary_from_probabilities", "clip must be in (0, 1], got ", clip);
  detail::check_finite(p, "crf::unary_from_probabilities", "probabilities");
  tensor u = tensor::uninitialized(p.shape());
  detail::neg_log_clamped(p.data(), u.data(), p.numel(), clip);
  return u;
}

/// Unary energies from logits: U = -z, so that Q0 = softmax(z) (SEC's CRF layer).
inline tensor unary_from_logits(const tensor& z) {
  detail::check_finite(z, "crf::unary_from_logits", "logits");
  tensor u = tensor::uninitialized(z.shape());
  const index_t n = z.numel();
  for (index_t i = 0; i < n; ++i) u[i] = -z[i];
  return u;
}

namespace detail {

/// prepare and the one-call infer of the engines whose plan is a mean_field_plan (mean_field,
/// crf_rnn); the engine provides name, cfg.kernels and run.
template <class Engine, class Filter>
class mean_field_engine {
 public:
  using plan = mean_field_plan<Filter>;

  /// The plan for unaries of shape s = N x K x H x W: one lattice pair per image of the batch
  /// (RGB guides, raw 0..255), clamp maps from batch.labels when given.
  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const {
    plan pl;
    prepare(ex, b, s, pl);
    return pl;
  }
  /// Prepares pl again in place: images of the size it had reuse its buffers.
  template <class Tag>
  void prepare(const exec<Tag>& ex, const batch& b, const shape& s, plan& pl) const {
    prepare_plan(Engine::name, ex.tag, b, s, self().cfg.kernels, pl);
  }

  /// One image, one call: Q (K x H x W, or 1 x K x H x W as given) from unary energies. The
  /// plan lives in ex's workspace when it has one (reused by the next call), else is local.
  template <class Tag = omp_t>
  tensor infer(const tensor& unary, const rgb_image& image, const exec<Tag>& ex = {}) const {
    if (unary.rank() != 3 && !(unary.rank() == 4 && unary.dim(0) == 1))
      throw_shape(Engine::name, "unary must be K x H x W (or 1 x K x H x W), got ", unary.shape());
    // run takes K x H x W for a plan of one image: no 4-d copy of the unaries.
    const shape s = unary.rank() == 4 ? unary.shape() : shape{1, unary.dim(0), unary.dim(1), unary.dim(2)};
    return prepare_run(ex, images_only(std::span<const rgb_image>(&image, 1)), s, unary);
  }
  /// A batch, one call: Q (N x K x H x W) from unaries N x K x H x W, the images (and clamp
  /// maps) in b; the plan as above.
  template <class Tag = omp_t>
  tensor infer(const tensor& unary, const batch& b, const exec<Tag>& ex = {}) const {
    return prepare_run(ex, b, unary.shape(), unary);
  }

 private:
  const Engine& self() const noexcept { return static_cast<const Engine&>(*this); }
  template <class Tag>
  tensor prepare_run(const exec<Tag>& ex, const batch& b, const shape& s, const tensor& unary) const {
    plan local;
    plan& pl = ex.scratch(local);
    prepare(ex, b, s, pl);
    tensor q;
    self().run(ex, pl, unary, q);
    return q;
  }
};

}  // namespace detail

/// Mean-field inference over a batch (a CrfEngine): Q0 = softmax(-U), then T times
/// Q = softmax(-U - mu Σ_k w_k F_k Q) with both kernels reading the same Q (parallel update);
/// pixels fixed by a clamp map (batch.labels, 255 = free) keep a one-hot Q. With the
/// permutohedral filter, symmetric normalisation and Potts this is pydensecrf's DenseCRF2D
/// inference (reference-semantics §8).
///   auto pl = mf.prepare(ex, batch, unary.shape());   // lattices, clamps (once per images)
///   mf.run(ex, pl, unary, q);                          // Q, N x K x H x W
///   mf.infer(unary, image);                            // the same for one image, one call
/// Backend tags: cpu_t runs everything on the calling thread; omp_t threads the lattice build,
/// layout conversions, softmax and splat parts; thrust_omp_t also launches the blur and
/// slice kernels through Thrust. All give the same bits for a given thread count.
template <GaussianFilter Filter = permutohedral, Compatibility Compat = potts>
class mean_field : public detail::mean_field_engine<mean_field<Filter, Compat>, Filter> {
 public:
  static constexpr std::string_view name = "crf::mean_field";
  using config = mean_field_config;
  using plan = mean_field_plan<Filter>;

  config cfg{};

  mean_field() = default;
  explicit mean_field(config c, Compat compat = {}) : cfg(std::move(c)), compat_(std::move(compat)) {
    cfg.validate(name);
  }

  const Compat& compatibility() const noexcept { return compat_; }

  /// The plan from guides N x F x H x W of any feature dimension (depth, Lab, ...) instead of
  /// RGB images; no clamps.
  template <class Tag>
  plan prepare_guides(const exec<Tag>& ex, const tensor& guides, const shape& s) const {
    plan pl;
    detail::prepare_plan(name, ex.tag, guides, s, cfg.kernels, pl);
    return pl;
  }

  /// q (N x K x H x W, written) = Q_T from unary energies of the plan's shape.
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& unary, tensor& q) const {
    require_backend<mean_field, Tag>();
    detail::solve(ex.tag, name, pl, compat_, cfg.iterations, cfg.kernels.smoothness.weight,
                  cfg.kernels.appearance.weight, unary, q, detail::ignore_steps{});
  }

  /// Q_T on the tape (DifferentiableCrf): the gradient flows into the unaries; mu and the
  /// kernel weights are constants (crf_rnn learns them).
  ad::var record(ad::tape& t, plan& pl, ad::var unary) const {
    const tensor mu = compat_.matrix(pl.dims.rank() == 4 ? pl.dims[1] : 1);
    const tensor w = tensor::from({2}, std::span<const float>(std::vector<float>{cfg.kernels.smoothness.weight,
                                                                                 cfg.kernels.appearance.weight}));
    return ad::apply(t, mean_field_op<Filter>{&pl, cfg.iterations}, unary, t.leaf(mu), t.leaf(w));
  }

  /// E(Q) per item (detail::energy: the filters as applied, self term included) of Q
  /// (N x K x H x W, e.g. run's output) under unary energies of the plan's shape.
  template <class Tag>
  std::vector<double> energy(const exec<Tag>& ex, plan& pl, const tensor& unary, const tensor& q) const {
    detail::check_unary(name, pl, unary);
    expect_shape(q, unary.shape(), name, "Q");
    const index_t b = pl.dims[0], k = pl.dims[1], n = pl.dims[2] * pl.dims[3], ld = detail::padded(k);
    for (tensor* t : {&pl.negu, &pl.q, &pl.msg}) detail::grow(*t, n * ld);
    std::vector<double> e(static_cast<std::size_t>(b));
    for (index_t i = 0; i < b; ++i) {
      image_plan<Filter>& ip = pl.images[static_cast<std::size_t>(i)];
      ip.smoothness.reserve(ld);
      ip.appearance.reserve(ld);
      detail::interleave(ex.tag, unary.data() + i * k * n, pl.negu.data(), k, n, ld, -1.0f, detail::negu_pad);
      detail::interleave(ex.tag, q.data() + i * k * n, pl.q.data(), k, n, ld, 1.0f);
      e[static_cast<std::size_t>(i)] = detail::energy(ex.tag, ip, compat_, pl.negu.data(), pl.q.data(), k, ld,
                                                      cfg.kernels.smoothness.weight, cfg.kernels.appearance.weight,
                                                      pl.msg.data());
    }
    return e;
  }

 private:
  Compat compat_{};
};

static_assert(DifferentiableCrf<mean_field<>>);
static_assert(DifferentiableCrf<mean_field<permutohedral, learned>>);

}  // namespace wsss::crf
