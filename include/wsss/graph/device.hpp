// SPDX-License-Identifier: MIT
// wsss/graph/device.hpp — the learned grid builders' eq. 3 in a backend's memory (CUDA, OpenCL,
// Thrust's OpenMP system, host tags): AffinityNet's affinity op on the device, the features up
// once and the edge weights down once per image
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/affinity.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/neighbourhood.hpp"

namespace wsss::graph::device {

/// A learned builder's arrays in backend Tag's memory: the pair lists (per plan), the
/// features and their node-major copy, the edge weights (per run).
template <class Tag>
struct buffers {
  template <class T>
  using array = backend::device_array<T, Tag>;
  array<std::int32_t> from, to;
  array<index_t> upper, reverse;
  array<float> f, rows, weight;
  bool pairs = false;  ///< from, to, upper, reverse are on the device
};

/// The steps on backend Tag: the primary template launches affinity.hpp's WSSS_HD kernels (host
/// tags, cuda_t); graph/opencl/steps.hpp has opencl_t's OpenCL C.
template <class Tag>
struct steps {
  static void node_rows(const Tag& tag, buffers<Tag>& b, index_t channels, index_t nodes, index_t images) {
    backend::for_each_index(tag, images * ((nodes + graph::detail::node_rows_block - 1) / graph::detail::node_rows_block),
                            graph::detail::node_rows_kernel{b.f.data(), b.rows.data(), channels, nodes});
  }
  /// pairs, nodes, edges: per image.
  static void affinities(const Tag& tag, buffers<Tag>& b, index_t pairs, index_t channels, float scale, index_t nodes,
                         index_t edges, index_t images) {
    backend::for_each_index(tag, images * pairs,
                            graph::detail::affinity_pair_kernel{b.rows.data(), b.from.data(), b.to.data(), b.upper.data(),
                                                                b.reverse.data(), b.weight.data(), channels, scale,
                                                                pairs, nodes, edges});
  }
};

}  // namespace wsss::graph::device

namespace wsss::graph {

/*  Learned grid builder B (radius, connectivity<N>) with eq. 3 in backend Tag's memory: a
    GraphBuilder bound to Tag (backend_type), so AffinityNet's graph slot moves its affinity op
    to a device by its type alone (methods::affinitynet_on<Tag>). B's config, structure, checks
    and errors; the weights W_e = exp(-d(f_i, f_j)) once per unordered pair, written to both
    edges, by B's own kernels (affinity.hpp): the same bits as B on host tags and Thrust's
    OpenMP system; a device's exp may round differently.
    Transfers per run: the features up (1), the weights down (1), or nothing down with weigh
    (the weights stay for a device walk); the pair lists go up on a plan's first run (4
    uploads). The plan (per grid) keeps the device arrays.                                   */
template <class B, class Tag = omp_t>
class device_graph {
  static_assert(B::weights == weighting::learned && std::is_same_v<typename B::plan, structure_plan>,
                "graph::device_graph: device twins exist for the learned grid builders (graph::radius, "
                "graph::connectivity<N>)");

 public:
  static constexpr std::string_view name = B::name;  ///< errors read as the host builder's
  static constexpr std::string_view computes = B::name;
  static constexpr weighting weights = B::weights;
  using backend_type = Tag;
  using config = typename B::config;
  struct plan : structure_plan {
    backend::fresh_on_copy<device::buffers<Tag>> dev;
  };
  config cfg{};

  device_graph() = default;
  explicit device_graph(const config& c) : cfg(c) { (void)B(c); }  // B validates

  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    plan pl;
    static_cast<structure_plan&>(pl) = B(cfg).prepare(exec<cpu_t>{}, b, s);
    return pl;
  }

  void run(const exec<Tag>& ex, plan& pl, const tensor& f, csr_graph& out) const {
    if (f.rank() == 4) throw_shape(name, "run weighs one image's F x H x W features (a batch goes to weigh), got ", f.shape());
    pl.copy_structure(out);
    const auto* w = weigh(ex, pl, f);
    if (!w) return;
    out.weight.resize(w->size());
    backend::download(ex.tag, *w, std::span<float>(out.weight));
  }

  /// Eq. 3 on the device, the weights left there for a device walk to build T from
  /// (walk::resident_graph): the features go up, nothing comes down. f is one image's F x H x
  /// W features (one weight per edge of pl.graph, in its CSR order) or a batch's N x F x H x W
  /// on the plan's grid (image b's weights at b edges: walk::resident_graph's images = N).
  /// Null when f is empty (the structure alone, W_ij = 1).
  const backend::device_array<float, Tag>* weigh(const exec<Tag>& ex, plan& pl, const tensor& f) const {
    require_backend<device_graph, Tag>();
    if (!detail::learned_features(pl, f, name, true)) return nullptr;
    if (!pl.paired()) throw_value(name, "the plan's edges are not paired with their reverses (prepare it with this builder)");
    using steps = device::steps<Tag>;
    const Tag& tag = ex.tag;
    auto& b = pl.dev;
    if (!b.pairs) {
      backend::upload(tag, std::span<const std::int32_t>(pl.pairs.from), b.from);
      backend::upload(tag, std::span<const std::int32_t>(pl.pairs.to), b.to);
      backend::upload(tag, std::span<const index_t>(pl.upper), b.upper);
      backend::upload(tag, std::span<const index_t>(pl.reverse), b.reverse);
      b.pairs = true;
    }
    const bool batch = f.rank() == 4;
    const index_t images = batch ? f.dim(0) : 1, channels = f.dim(batch ? 1 : 0);
    const index_t nodes = pl.graph.nodes(), edges = pl.pairs.size();
    backend::upload(tag, std::span<const float>(f.data(), static_cast<std::size_t>(f.numel())), b.f);
    backend::resize(tag, b.rows, images * nodes * channels);
    backend::resize(tag, b.weight, images * edges);
    steps::node_rows(tag, b, channels, nodes, images);
    steps::affinities(tag, b, static_cast<index_t>(pl.upper.size()), channels, detail::affinity_scale(cfg.dist, channels),
                      nodes, edges, images);
    return &b.weight;
  }
};

/// A batch's feature maps (each F x H x W, one shape) as the N x F x H x W tensor that
/// device_graph::weigh takes for a batch (one upload); a map of another shape is a shape_error
/// naming it.
inline tensor stack_features(std::span<const tensor> features) {
  constexpr std::string_view comp = "graph::stack_features";
  if (features.empty()) throw_shape(comp, "a batch needs 1 or more feature maps");
  const tensor& f0 = features.front();
  expect_rank(f0, 3, comp, "features", "F x H x W");
  tensor out = tensor::uninitialized({static_cast<index_t>(features.size()), f0.dim(0), f0.dim(1), f0.dim(2)});
  for (std::size_t i = 0; i < features.size(); ++i) {
    if (features[i].shape() != f0.shape())
      throw_shape(comp, "feature map ", i, " is ", features[i].shape(), ", map 0 ", f0.shape(), ": a batch shares one shape");
    std::copy_n(features[i].data(), f0.numel(), out.data() + static_cast<index_t>(i) * f0.numel());
  }
  return out;
}

/// AffinityNet's radius-gamma graph (eq. 3-4) weighted on backend Tag (cuda_t: wsss/cuda.hpp;
/// opencl_t: wsss/opencl.hpp).
template <class Tag = omp_t>
using device_radius = device_graph<radius, Tag>;

static_assert(GraphBuilder<device_radius<cpu_t>>);

}  // namespace wsss::graph

namespace wsss {
/// The device graph builders run on every backend with device memory and steps: host tags,
/// cuda_t, opencl_t.
template <class B, class Tag>
struct supports<graph::device_graph<B, Tag>, Tag> : std::true_type {};
}  // namespace wsss
