// SPDX-License-Identifier: MIT
// wsss/pool/device.hpp — GAP, GMP and GWRP with the pooling in a backend's memory (CUDA, OpenCL,
// Thrust's OpenMP system, host tags): the scores go up once, one score per plane comes down;
// GWRP ranks the planes that need it (m > 1) with one stable sort of (plane, score) keys
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/plane_kernels.hpp"
#include "wsss/pool/detail/top_k.hpp"
#include "wsss/pool/gap.hpp"
#include "wsss/pool/gmp.hpp"
#include "wsss/pool/gwrp.hpp"
#include "wsss/pool/op.hpp"
#if defined(__CUDACC__) || defined(THRUST_DEVICE_SYSTEM)
// Thrust is configured (nvcc's, or Debian's with its OpenMP system): GWRP's sort on the device.
#include <thrust/sort.h>
#endif

namespace wsss::pool::device {

// ---- kernels: the forward ones per plane k, the backward ones per score e = k hw + i --------

/// What GWRP's kernels know of plane k: info[3k] its table's first weight (-1: d = 1, the plain
/// mean), info[3k + 1] its ranks kept m, info[3k + 2] its sorted segment (-1: m = 1, an arg max
/// suffices; SEC's absent classes with d- = 0 are such planes, so most of a batch is not sorted).
struct plane_info {
  const std::int64_t* info;
  WSSS_HD std::int64_t w_at(index_t k) const { return info[3 * k]; }
  WSSS_HD std::int64_t kept(index_t k) const { return info[3 * k + 1]; }
  WSSS_HD std::int64_t slot(index_t k) const { return info[3 * k + 2]; }
};

/// GWRP's sort keys over the sorted segments: segment r (plane planes[r]) in the high word,
/// then the score's descending key (top_k.hpp), so one ascending sort orders every segment's
/// scores largest first, segments apart; pos[e] = i, the score's place in its plane (a stable
/// sort keeps ties in increasing i, gwrp's order).
struct rank_keys_kernel {
  const float* s;
  const std::int32_t* planes;
  std::uint64_t* keys;
  std::int32_t* pos;
  index_t hw;
  WSSS_HD void operator()(index_t e) const {
    const index_t r = e / hw, i = e - r * hw;
    keys[e] = (static_cast<std::uint64_t>(r) << 32) | detail::descending_key(s[planes[r] * hw + i]);
    pos[e] = static_cast<std::int32_t>(i);
  }
};

/// GWRP's score (SEC eq. 3): sum_j w_j s_(j) over the plane's m kept ranks in float64 and rank
/// order, gwrp's own sum (the same bits); m = 1 takes the first arg max (kept in arg[k] for the
/// backward); d = 1 is the plain mean.
struct weighted_kernel {
  const float* s;
  const std::int32_t* pos;  // per sorted segment, its plane's positions largest score first
  const float* w;           // every table's weights, one after another
  plane_info pi;
  std::int32_t* arg;
  float* out;
  index_t hw;
  WSSS_HD void operator()(index_t k) const {
    const float* x = s + k * hw;
    if (pi.w_at(k) < 0) {
      detail::mean_kernel{s, out, hw}(k);
      return;
    }
    const float* wk = w + pi.w_at(k);
    if (pi.slot(k) < 0) {
      const index_t at = detail::first_argmax(x, hw);
      arg[k] = static_cast<std::int32_t>(at);
      out[k] = static_cast<float>(static_cast<double>(wk[0]) * x[at]);
      return;
    }
    const std::int32_t* p = pos + pi.slot(k) * hw;
    double acc = 0;
    for (std::int64_t j = 0; j < pi.kept(k); ++j) acc += static_cast<double>(wk[j]) * x[p[j]];
    out[k] = static_cast<float>(acc);
  }
};

/// GAP's backward: g_in[e] = g[k] / hw.
struct spread_kernel {
  const float* g;
  float* g_in;
  index_t hw;
  WSSS_HD void operator()(index_t e) const { g_in[e] = g[e / hw] / static_cast<float>(hw); }
};

/// GMP's backward: g[k] at the plane's first arg max, 0 elsewhere.
struct route_kernel {
  const float* g;
  const std::int32_t* arg;
  float* g_in;
  index_t hw;
  WSSS_HD void operator()(index_t e) const {
    const index_t k = e / hw;
    g_in[e] = e - k * hw == arg[k] ? g[k] : 0.0f;
  }
};

/// GWRP's backward: rank j of plane k gets g[k] w_j (0 past the kept ranks), written at its
/// position; an m = 1 plane routes g[k] w_0 to its arg max, a d = 1 plane spreads g[k] / hw.
/// Each e writes one score of its own plane.
struct scatter_kernel {
  const float* g;
  const std::int32_t* pos;
  const float* w;
  plane_info pi;
  const std::int32_t* arg;
  float* g_in;
  index_t hw;
  WSSS_HD void operator()(index_t e) const {
    const index_t k = e / hw, j = e - k * hw;
    if (pi.w_at(k) < 0) {
      spread_kernel{g, g_in, hw}(e);  // d = 1: GAP's backward
    } else if (pi.slot(k) < 0) {
      g_in[e] = j == arg[k] ? g[k] * w[pi.w_at(k)] : 0.0f;
    } else {
      g_in[k * hw + pos[pi.slot(k) * hw + j]] = j < pi.kept(k) ? g[k] * w[pi.w_at(k) + j] : 0.0f;
    }
  }
};

// ---- per-plane steps ------------------------------------------------------------------------

/// The reductions with one result per plane (GAP's mean, GMP's max, GWRP's weighted sum): one
/// index per plane running the host pooler's own loop (its bits, on host tags and Thrust's
/// OpenMP system); CUDA specialises it with a thread block per plane (pool/cuda/planes.cuh).
template <class Tag>
struct plane_steps {
  static void mean(const Tag& tag, const float* s, float* out, index_t nc, index_t hw) {
    backend::for_each_index(tag, nc, detail::mean_kernel{s, out, hw});
  }
  static void max(const Tag& tag, const float* s, float* out, std::int32_t* arg, index_t nc, index_t hw) {
    backend::for_each_index(tag, nc, detail::max_kernel{s, out, arg, hw});
  }
  static void weighted(const Tag& tag, const weighted_kernel& k, index_t nc) { backend::for_each_index(tag, nc, k); }
};

// ---- buffers and steps ---------------------------------------------------------------------

/// A pooler's arrays in backend Tag's memory (a plan holds them as backend::fresh_on_copy: the
/// tape's node copies the plan before its first run, and run sizes them).
template <class Tag>
struct buffers {
  template <class T>
  using array = backend::device_array<T, Tag>;
  array<float> s, out, g, g_in;
  array<std::int32_t> arg;          ///< per plane: gmp's arg max, gwrp's for its m = 1 planes
  array<std::int32_t> pos;          ///< gwrp: per sorted segment, positions in rank order
  array<std::uint64_t> keys;        ///< gwrp: the sort keys
  array<float> w;                   ///< gwrp: every weight table
  array<std::int64_t> info;         ///< gwrp: plane_info's three numbers per plane
  array<std::int32_t> planes;       ///< gwrp: the plane of each sorted segment
  bool tables = false;              ///< gwrp: w, info, planes are on the device
};

/// The steps on backend Tag: the primary template launches the WSSS_HD kernels above (host
/// tags, cuda_t; the per-plane ones through plane_steps) and sorts with Thrust where the tag
/// has it (cuda_t, thrust_omp_t), else on the host (cpu_t, omp_t: their arrays are host
/// memory); pool/opencl/steps.hpp has opencl_t's.
template <class Tag>
struct steps {
  using bufs = buffers<Tag>;
  static void mean(const Tag& tag, bufs& b, index_t nc, index_t hw) {
    plane_steps<Tag>::mean(tag, b.s.data(), b.out.data(), nc, hw);
  }
  static void max(const Tag& tag, bufs& b, index_t nc, index_t hw) {
    plane_steps<Tag>::max(tag, b.s.data(), b.out.data(), b.arg.data(), nc, hw);
  }
  /// b.pos = the positions of each sorted segment's plane, largest score first (ties:
  /// increasing position).
  static void rank(const Tag& tag, bufs& b, index_t n, index_t hw) {
    backend::for_each_index(tag, n, rank_keys_kernel{b.s.data(), b.planes.data(), b.keys.data(), b.pos.data(), hw});
    if constexpr (backend::thrust_system<Tag>::available) {
#if defined(__CUDACC__) || defined(THRUST_DEVICE_SYSTEM)
      thrust::stable_sort_by_key(backend::thrust_system<Tag>::policy(tag), b.keys.data(), b.keys.data() + n, b.pos.data());
#endif
    } else {
      // Host memory: sort (key, position) pairs; they are distinct, so this is the stable order.
      std::vector<std::pair<std::uint64_t, std::int32_t>> kv(static_cast<std::size_t>(n));
      for (index_t e = 0; e < n; ++e) kv[static_cast<std::size_t>(e)] = {b.keys.data()[e], b.pos.data()[e]};
      std::sort(kv.begin(), kv.end());
      for (index_t e = 0; e < n; ++e) b.pos.data()[e] = kv[static_cast<std::size_t>(e)].second;
    }
  }
  static void weighted(const Tag& tag, bufs& b, index_t nc, index_t hw) {
    plane_steps<Tag>::weighted(
        tag, weighted_kernel{b.s.data(), b.pos.data(), b.w.data(), {b.info.data()}, b.arg.data(), b.out.data(), hw}, nc);
  }
  static void spread(const Tag& tag, bufs& b, index_t n, index_t hw) {
    backend::for_each_index(tag, n, spread_kernel{b.g.data(), b.g_in.data(), hw});
  }
  static void route(const Tag& tag, bufs& b, index_t n, index_t hw) {
    backend::for_each_index(tag, n, route_kernel{b.g.data(), b.arg.data(), b.g_in.data(), hw});
  }
  static void scatter(const Tag& tag, bufs& b, index_t n, index_t hw) {
    backend::for_each_index(tag, n, scatter_kernel{b.g.data(), b.pos.data(), b.w.data(), {b.info.data()},
                                                   b.arg.data(), b.g_in.data(), hw});
  }
};

}  // namespace wsss::pool::device

namespace wsss::pool {

/*  Host pooler H (gap, gmp or gwrp) with its run and backward in backend Tag's memory: a Pooler
    bound to Tag (backend_type), so a method slot or the classifier puts its pooling there by
    its type alone (wsss::policy_exec). Same config, same values: on host tags and Thrust's
    OpenMP system the kernels are H's own sums and give H's bits; GWRP ranks its planes with
    m > 1 by one stable sort over all of them instead of a radix selection per plane (the same
    order) and takes the first arg max where m = 1 (SEC's absent classes).
    Transfers: run 1 upload (the scores) + 1 download (N x C); backward 1 + 1; gwrp's weight
    tables and plane lists go up on a plan's first run (3 uploads). The plan keeps the device arrays, so a
    stream of batches of one shape allocates once.                                           */
template <class H, class Tag = omp_t>
class device_pool {
  static_assert(std::is_same_v<H, gap> || std::is_same_v<H, gmp> || std::is_same_v<H, gwrp>,
                "pool::device_pool: device twins exist for pool::gap, pool::gmp and pool::gwrp");

 public:
  static constexpr std::string_view name = H::name;  ///< errors read as the host pooler's
  static constexpr std::string_view computes = H::name;
  using backend_type = Tag;
  using config = typename H::config;
  struct plan : plan_base {
    std::vector<float> w;                  ///< gwrp: the tables' weights, one after another
    std::vector<std::int64_t> info;        ///< gwrp: device::plane_info's numbers per plane
    std::vector<std::int32_t> planes;      ///< gwrp: the planes that need their ranking (m > 1)
    index_t segments = 0;                  ///< gwrp: how many (the rest take a mean or an arg max)
    mutable backend::fresh_on_copy<device::buffers<Tag>> dev;  ///< backward's g and g_in are scratch
  };
  config cfg{};

  device_pool() = default;
  explicit device_pool(const config& c) : cfg(c) { (void)H(c); }  // H validates

  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    [[maybe_unused]] const typename H::plan host = H(cfg).prepare(exec<cpu_t>{}, b, s);  // checks; gwrp's decay tables
    plan pl;
    pl.in = s;
    if constexpr (std::is_same_v<H, gwrp>) {
      const index_t nc = s[0] * s[1];
      std::vector<std::int64_t> first(host.tables.size());
      for (std::size_t t = 0; t < host.tables.size(); ++t) {
        first[t] = host.tables[t].uniform ? -1 : static_cast<std::int64_t>(pl.w.size());
        pl.w.insert(pl.w.end(), host.tables[t].w.begin(), host.tables[t].w.end());
      }
      pl.info.resize(static_cast<std::size_t>(3 * nc));
      for (index_t k = 0; k < nc; ++k) {
        const auto t = static_cast<std::size_t>(host.table[static_cast<std::size_t>(k)]);
        const auto m = static_cast<std::int64_t>(host.tables[t].w.size());
        const bool sorted = first[t] >= 0 && m > 1;
        std::int64_t* info = pl.info.data() + 3 * k;
        info[0] = first[t];
        info[1] = m;
        info[2] = sorted ? static_cast<std::int64_t>(pl.planes.size()) : -1;
        if (sorted) pl.planes.push_back(static_cast<std::int32_t>(k));
      }
      pl.segments = static_cast<index_t>(pl.planes.size());
      // Keep both arrays non-empty (every plane d = 1, or none sorted): a fixed upload count.
      if (pl.w.empty()) pl.w.push_back(0.0f);
      if (pl.planes.empty()) pl.planes.push_back(0);
    }
    return pl;
  }

  void run(const exec<Tag>& ex, plan& pl, const tensor& s, tensor& out) const {
    require_backend<device_pool, Tag>();
    const auto [nc, hw] = detail::begin_run(pl, s, out, name);
    using steps = device::steps<Tag>;
    const Tag& tag = ex.tag;
    auto& b = pl.dev;
    backend::upload(tag, std::span<const float>(s.data(), static_cast<std::size_t>(s.numel())), b.s);
    backend::resize(tag, b.out, nc);
    if constexpr (std::is_same_v<H, gap>) {
      steps::mean(tag, b, nc, hw);
    } else if constexpr (std::is_same_v<H, gmp>) {
      backend::resize(tag, b.arg, nc);
      steps::max(tag, b, nc, hw);
    } else {
      if (!b.tables) {
        backend::upload(tag, std::span<const float>(pl.w), b.w);
        backend::upload(tag, std::span<const std::int64_t>(pl.info), b.info);
        backend::upload(tag, std::span<const std::int32_t>(pl.planes), b.planes);
        b.tables = true;
      }
      backend::resize(tag, b.arg, nc);
      backend::resize(tag, b.pos, std::max<index_t>(1, pl.segments * hw));  // a kernel argument even if unused
      if (pl.segments > 0) {
        backend::resize(tag, b.keys, pl.segments * hw);
        steps::rank(tag, b, pl.segments * hw, hw);
      }
      steps::weighted(tag, b, nc, hw);
    }
    backend::download(tag, b.out, std::span<float>(out.data(), static_cast<std::size_t>(nc)));
    if constexpr (std::is_same_v<H, gmp>) detail::require_finite_planes(out, s.shape(), name);
  }

  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    require_backend<device_pool, Tag>();
    const auto [nc, hw] = detail::begin_backward(pl, g, g_in, name);
    using steps = device::steps<Tag>;
    const Tag& tag = ex.tag;
    auto& b = pl.dev;
    const index_t n = pl.in.numel();
    backend::upload(tag, std::span<const float>(g.data(), static_cast<std::size_t>(nc)), b.g);
    backend::resize(tag, b.g_in, n);
    if constexpr (std::is_same_v<H, gap>) steps::spread(tag, b, n, hw);
    else if constexpr (std::is_same_v<H, gmp>) steps::route(tag, b, n, hw);
    else steps::scatter(tag, b, n, hw);
    backend::download(tag, b.g_in, std::span<float>(g_in.data(), static_cast<std::size_t>(n)));
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& s) const { return pool::record(t, *this, pl, s); }
};

/// GAP, GMP and GWRP on backend Tag (cuda_t: wsss/cuda.hpp; opencl_t: wsss/opencl.hpp).
template <class Tag = omp_t>
using device_gap = device_pool<gap, Tag>;
template <class Tag = omp_t>
using device_gmp = device_pool<gmp, Tag>;
template <class Tag = omp_t>
using device_gwrp = device_pool<gwrp, Tag>;

static_assert(Pooler<device_gwrp<cpu_t>>);

}  // namespace wsss::pool

namespace wsss {
/// The device poolers run on every backend with device memory and steps: host tags, cuda_t,
/// opencl_t.
template <class H, class Tag>
struct supports<pool::device_pool<H, Tag>, Tag> : std::true_type {};
}  // namespace wsss

#if defined(__CUDACC__)
// plane_steps<cuda_t>: declared before any use instantiates the steps (those are templates).
#include "wsss/pool/cuda/planes.cuh"
#endif
