// SPDX-License-Identifier: MIT
// wsss/walk/device_sparse_power.hpp — sparse_power with the walk in a backend's memory (CUDA,
// OpenCL, Thrust's OpenMP system, host tags): T uploaded or built there from W's weights, the
// CAMs uploaded once per run, every step and the mass restoration on the device, the result
// downloaded once
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/graph/csr.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/detail/spmm.hpp"
#include "wsss/walk/device_inference.hpp"
#include "wsss/walk/sparse_power.hpp"

namespace wsss::walk::device {

/// Nodes per partial sum of the mass measurement (a fixed split: the same bits everywhere).
inline constexpr std::int64_t mass_chunk = 256;

/// Partial sums of l^T x per (image, chunk of mass_chunk nodes, channel), one per index. A
/// batch's graphs lie side by side, n nodes each: no chunk crosses an image, so an image's
/// sums are the same bits alone or in a batch.
struct mass_partial_kernel {
  const float* x;
  const double* left;
  double* partial;  // images x chunks x channels
  std::int64_t n, ld, channels;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t per = (n + mass_chunk - 1) / mass_chunk;
    const std::int64_t chunk = i / channels, k = i - chunk * channels, img = chunk / per, local = chunk - img * per;
    const std::int64_t end = (local + 1) * mass_chunk < n ? (local + 1) * mass_chunk : n;
    double s = 0;
    for (std::int64_t node = img * n + local * mass_chunk; node < img * n + end; ++node) s += left[node] * x[node * ld + k];
    partial[i] = s;
  }
};

/// Per (image, channel): total = the sum of its chunks' partials in chunk order; out = total
/// (target == null) or target - total (the correction still to apply).
struct mass_total_kernel {
  const double* partial;
  const double* target;
  double* out;
  std::int64_t chunks, channels;  // chunks per image
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t img = i / channels, k = i - img * channels;
    double s = 0;
    for (std::int64_t c = 0; c < chunks; ++c) s += partial[(img * chunks + c) * channels + k];
    out[i] = target ? target[i] - s : s;
  }
};

/// x_i += (target - l^T x) r_i per channel of node i's image, one (node, channel) per index.
struct mass_restore_kernel {
  float* x;
  const double* missing;  // images x channels
  const double* right;
  std::int64_t n, ld, channels;
  WSSS_HD void operator()(std::int64_t i) const {
    const std::int64_t node = i / channels, k = i - node * channels;
    x[node * ld + k] += static_cast<float>(missing[node / n * channels + k] * right[node]);
  }
};

/// The walk's buffers in backend Tag's memory.
template <class Tag>
struct walk_buffers {
  template <class T>
  using array = backend::device_array<T, Tag>;
  array<index_t> row_ptr;  // T
  array<std::int32_t> col;
  array<float> val, x, y;
  array<double> degree, left, right, partial, target, missing, degree_partial, sum_degree;
  // T built where W is (a resident_graph): W's row pointers, T's entry -> W's edge, W^beta, and
  // the host copy of the W structure the layout was made for.
  array<index_t> w_row_ptr, edge;
  array<double> power;
  std::vector<index_t> layout_row_ptr;
  std::vector<std::int32_t> layout_col;
  index_t layout_images = 0;
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
  /// The step operator's values and degrees from W's weights in b (weight null: W_ij = 1).
  static void step_values(const Tag& tag, buffers& b, const array<float>* weight, index_t n, index_t edges, double beta,
                          bool average) {
    backend::for_each_index(tag, edges, detail::edge_power_kernel{weight ? weight->data() : nullptr, b.power.data(), beta});
    backend::for_each_index(tag, n, detail::degree_kernel{b.w_row_ptr.data(), b.power.data(), b.degree.data()});
    backend::for_each_index(tag, n, detail::step_row_kernel{b.row_ptr.data(), b.col.data(), b.edge.data(), b.power.data(),
                                                            b.degree.data(), b.val.data(), average});
  }
  /// sum_degree[b] = sum_i d_i over image b's n nodes, in total_degree's order.
  static void degree_sum(const Tag& tag, buffers& b, index_t n, index_t images) {
    const index_t chunks = (n + detail::degree_chunk - 1) / detail::degree_chunk;
    backend::for_each_index(tag, images * chunks, detail::degree_partial_kernel{b.degree.data(), b.degree_partial.data(), n});
    backend::for_each_index(tag, images, mass_total_kernel{b.degree_partial.data(), nullptr, b.sum_degree.data(), chunks, 1});
  }
  static void mass_vectors(const Tag& tag, buffers& b, index_t n, index_t images, bool average) {
    backend::for_each_index(tag, images * n, detail::mass_vectors_kernel{b.degree.data(), b.left.data(), b.right.data(),
                                                                         b.sum_degree.data(), average, n});
  }
  /// out[b, k] = l^T x_k over image b's nodes (from_target false) or target[b, k] - that.
  static void measure(const Tag& tag, buffers& b, const array<float>& x, array<double>& out, bool from_target,
                      index_t n, index_t images, index_t ld, index_t channels) {
    const index_t chunks = (n + mass_chunk - 1) / mass_chunk;
    backend::for_each_index(tag, images * chunks * channels,
                            mass_partial_kernel{x.data(), b.left.data(), b.partial.data(), n, ld, channels});
    backend::for_each_index(tag, images * channels, mass_total_kernel{b.partial.data(), from_target ? b.target.data() : nullptr,
                                                                      out.data(), chunks, channels});
  }
  static void restore(const Tag& tag, buffers& b, array<float>& x, index_t n, index_t images, index_t ld, index_t channels) {
    backend::for_each_index(tag, images * n * channels,
                            mass_restore_kernel{x.data(), b.missing.data(), b.right.data(), n, ld, channels});
  }
};

}  // namespace wsss::walk::device

namespace wsss::walk {

/// A symmetric affinity graph W whose weights are already in backend Tag's memory (a device
/// builder's, graph::device_graph::weigh): its structure on the host, its weights (one per CSR
/// edge; null: W_ij = 1 on the edges) on the device. The walk builds T = D^-1 W^(o beta) from it
/// there, so neither W nor T crosses the bus.
///
/// A batch of images on one grid (images > 1): `structure` is one image's graph and `weight`
/// holds every image's weights side by side (image b's edge k at b edges + k, as
/// graph::device_graph::weigh leaves a batch's); the walk runs on their disjoint union.
template <class Tag>
struct resident_graph {
  const graph::csr_graph& structure;
  const backend::device_array<float, Tag>* weight = nullptr;
  transition_config cfg{};
  index_t images = 1;
};

/// sparse_power (a Propagator) whose walk runs in backend Tag's memory. Given T: T (three CSR
/// arrays and the degrees) and the packed CAMs go up (5 uploads) per run. Given a
/// resident_graph: T is made on the device from W's weights by make_transition's own kernels
/// (its layout, from W's structure, goes up once per grid: 4 uploads), and only the CAMs go up.
/// Then t steps and every mass restoration run there, and the walked scores come down (1
/// download). The kernels are sparse_power's own row kernel and fixed-order sums, so on host
/// tags the result has sparse_power's bits (tests/backend/walk_device.test.cpp). The plan
/// keeps the device buffers, so a stream of images of one size allocates once.
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
    device::walk_buffers<Tag>& b = pl.device;
    backend::upload(ex.tag, std::span<const index_t>(T.row_ptr), b.row_ptr);
    backend::upload(ex.tag, std::span<const std::int32_t>(T.col), b.col);
    backend::upload(ex.tag, std::span<const float>(T.val), b.val);
    backend::upload(ex.tag, std::span<const double>(T.degree), b.degree);
    b.layout_row_ptr.clear();  // row_ptr and col now hold this T's, not a layout's
    b.layout_images = 0;
    walk(ex.tag, pl, T.nodes(), T.cfg.mode == orientation::average, cam, out);
  }

  void run(const exec<Tag>& ex, plan& pl, const resident_graph<Tag>& w, const tensor& cam, tensor& out) const {
    require_backend<device_sparse_power, Tag>();
    check_resident(w);
    if (w.images != 1)
      throw_value(name, "a batch of ", w.images, " graphs walks a device walk input (make_device_walk_input), not one tensor");
    if (!detail::begin_walk(pl.cam_shape, w.structure.height, w.structure.width, cam, cfg.t, out, pl.packed, name)) return;
    make_steps(ex.tag, pl, w);
    walk(ex.tag, pl, w.structure.nodes(), w.cfg.mode == orientation::average, cam, out);
  }

  /// The walk of a resident_graph on a walk input already on the device (make_device_walk_input):
  /// after T's layout (once per grid) nothing crosses the bus; the scores stay in the plan's
  /// buffers (valid until its next run) for device_unaries / device_labels.
  device_walked<Tag> run(const exec<Tag>& ex, plan& pl, const resident_graph<Tag>& w, const device_walk_input<Tag>& m) const {
    require_backend<device_sparse_power, Tag>();
    check_resident(w);
    const graph::csr_graph& g = w.structure;
    if (m.height != g.height || m.width != g.width || m.ld % 8 != 0 || m.slots < 1 || m.slots > m.ld ||
        m.images != w.images || m.x.size() != static_cast<std::size_t>(m.images * m.height * m.width * m.ld))
      throw_shape(name, "the device walk input (", m.height, "x", m.width, ", ", m.slots, " of ", m.ld, " slots, ", m.images,
                  " image(s)) does not fit the graph's ", g.height, "x", g.width, " grid (", w.images, " image(s))");
    if (cfg.t == 0) return {m.x, g.height, g.width, m.ld, m.images};
    make_steps(ex.tag, pl, w);
    return {walk_from(ex.tag, pl, g.nodes(), w.images, w.cfg.mode == orientation::average, m.x, m.ld, m.slots), g.height,
            g.width, m.ld, m.images};
  }

 private:
  void check_resident(const resident_graph<Tag>& w) const {
    detail::check_beta(w.cfg.beta, name);
    if (w.images < 1) throw_value(name, "a resident graph holds 1 or more images, got ", w.images);
    if (w.images * w.structure.nodes() > index_t{INT32_MAX})
      throw_shape(name, w.images, " images of ", w.structure.nodes(), " nodes are more nodes than 32-bit columns address");
    if (w.weight && w.weight->size() != static_cast<std::size_t>(w.images * w.structure.edges()))
      throw_shape(name, "the device weights hold ", w.weight->size(), " values but ", w.images, " graph(s) of ",
                  w.structure.edges(), " edges need ", w.images * w.structure.edges());
  }
  /// T = D^-1 W^(o beta) (+ I) in pl's buffers from W's device weights (of w.images images:
  /// T of their disjoint union); T's layout goes up once per grid and batch size (4 uploads).
  void make_steps(const Tag& tag, plan& pl, const resident_graph<Tag>& w) const {
    const graph::csr_graph& g = w.structure;
    const index_t images = w.images, n = images * g.nodes(), edges = images * g.edges();
    device::walk_buffers<Tag>& b = pl.device;
    if (b.layout_row_ptr != g.row_ptr || b.layout_col != g.col || b.layout_images != images) {
      g.validate(name);
      if (!g.symmetric()) throw_value(name, "the affinity graph must be symmetric (every edge's reverse present)");
      const detail::transition_layout layout(g, images);
      std::vector<index_t> w_rows(static_cast<std::size_t>(n + 1), edges);  // W's rows of the union
      for (index_t c = 0; c < images; ++c)
        for (index_t i = 0; i < g.nodes(); ++i)
          w_rows[static_cast<std::size_t>(c * g.nodes() + i)] = c * g.edges() + g.row_ptr[static_cast<std::size_t>(i)];
      backend::upload(tag, std::span<const index_t>(layout.row_ptr), b.row_ptr);
      backend::upload(tag, std::span<const std::int32_t>(layout.col), b.col);
      backend::upload(tag, std::span<const index_t>(layout.edge), b.edge);
      backend::upload(tag, std::span<const index_t>(w_rows), b.w_row_ptr);
      b.layout_row_ptr = g.row_ptr;
      b.layout_col = g.col;
      b.layout_images = images;
    }
    backend::resize(tag, b.val, static_cast<index_t>(b.col.size()));
    backend::resize(tag, b.degree, n);
    backend::resize(tag, b.power, edges);
    device::steps<Tag>::step_values(tag, b, w.weight, n, edges, static_cast<double>(w.cfg.beta),
                                    w.cfg.mode == orientation::average);
  }
  /// The walk on T in pl's buffers (row_ptr, col, val, degree set): the packed CAMs up, the
  /// device walk, the scores down.
  void walk(const Tag& tag, plan& pl, index_t n, bool average, const tensor& cam, tensor& out) const {
    const index_t ld = pl.packed.ld, channels = static_cast<index_t>(pl.packed.channels.size());
    device::walk_buffers<Tag>& b = pl.device;
    backend::upload(tag, std::span<const float>(pl.packed.x.data(), static_cast<std::size_t>(n * ld)), b.x);
    const auto& y = walk_from(tag, pl, n, 1, average, b.x, ld, channels);
    backend::download(tag, y, std::span<float>(pl.packed.x.data(), static_cast<std::size_t>(n * ld)));
    detail::unpack(pl.packed, pl.packed.x.data(), cam, n, out);
  }
  /// t steps (with the mass restorations, per image) from x0 (images x n nodes x ld,
  /// `channels` walked; b.x or another device array), alternating between b.y and b.x;
  /// returns the buffer holding S^t x0.
  const backend::device_array<float, Tag>& walk_from(const Tag& tag, plan& pl, index_t n, index_t images, bool average,
                                                     const backend::device_array<float, Tag>& x0, index_t ld,
                                                     index_t channels) const {
    using steps = device::steps<Tag>;
    device::walk_buffers<Tag>& b = pl.device;
    const index_t nodes = images * n;
    backend::resize(tag, b.y, nodes * ld);
    if (&x0 != &b.x) backend::resize(tag, b.x, nodes * ld);
    const bool keep = cfg.keep_mass > 0;
    if (keep) {
      for (auto* a : {&b.left, &b.right}) backend::resize(tag, *a, nodes);
      backend::resize(tag, b.partial, images * ((n + device::mass_chunk - 1) / device::mass_chunk) * channels);
      backend::resize(tag, b.degree_partial, images * ((n + detail::degree_chunk - 1) / detail::degree_chunk));
      backend::resize(tag, b.sum_degree, images);
      backend::resize(tag, b.target, images * channels);
      backend::resize(tag, b.missing, images * channels);
      steps::degree_sum(tag, b, n, images);
      steps::mass_vectors(tag, b, n, images, average);
      steps::measure(tag, b, x0, b.target, false, n, images, ld, channels);
    }
    const backend::device_array<float, Tag>* cur = &x0;  // the current scores
    for (index_t s = 0; s < cfg.t; ++s) {
      auto& next = cur == &b.y ? b.x : b.y;
      steps::spmm(tag, b, *cur, next, nodes, ld);
      cur = &next;
      if (keep && ((s + 1) % cfg.keep_mass == 0 || s + 1 == cfg.t)) {
        steps::measure(tag, b, next, b.missing, true, n, images, ld, channels);
        steps::restore(tag, b, next, n, images, ld, channels);
      }
    }
    return *cur;
  }
};
static_assert(Propagator<device_sparse_power<cpu_t>>);

/// Graph builder G leaves W's weights in its backend's memory (weigh) and propagator P walks a
/// resident_graph of that backend: a method then builds T and walks without W or T crossing
/// the bus (graph::device_graph<B, Tag> with device_sparse_power<Tag>).
template <class G, class P>
concept resident_chain =
    std::same_as<backend_of_t<G>, backend_of_t<P>> &&
    requires(const G& g, typename G::plan& gp, const P& p, typename P::plan& pp, const exec<backend_of_t<G>>& ex,
             const tensor& t, tensor& out, const graph::csr_graph& s) {
      { g.weigh(ex, gp, t) } -> std::same_as<const backend::device_array<float, backend_of_t<G>>*>;
      p.run(ex, pp, resident_graph<backend_of_t<G>>{s, nullptr, {}}, t, out);
    };

/// resident_chain whose propagator also walks a walk input made on the device and leaves the
/// scores there (device_sparse_power): the whole label-synthesis chain can stay on the device.
template <class G, class P>
concept resident_inference =
    resident_chain<G, P> &&
    requires(const P& p, typename P::plan& pp, const exec<backend_of_t<P>>& ex,
             const resident_graph<backend_of_t<P>>& g, const device_walk_input<backend_of_t<P>>& m) {
      { p.run(ex, pp, g, m) } -> std::same_as<device_walked<backend_of_t<P>>>;
    };

}  // namespace wsss::walk

namespace wsss {
/// device_sparse_power runs on every backend that has device memory and steps: host tags,
/// cuda_t (wsss/cuda.hpp), opencl_t (wsss/opencl.hpp).
template <class Tag>
struct supports<walk::device_sparse_power<Tag>, Tag> : std::true_type {};
}  // namespace wsss
