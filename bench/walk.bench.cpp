// SPDX-License-Identifier: MIT
// bench/walk.bench.cpp — random-walk propagation (AffinityNet eq. 12) at the reference's sizes:
// wsss dense / sparse / Chebyshev against libtorch dense squaring and torch.sparse, one run.
#include <benchmark/benchmark.h>

#include "support/context.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include <wsss/backend/for_each_index.hpp>
#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/walk.hpp>
#if defined(WSSS_BENCH_WITH_THRUST)
#include <wsss/backend/thrust/for_each_index.hpp>
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
#include <wsss/opencl.hpp>
#endif

#if WSSS_BENCH_WITH_TORCH
#include <torch/torch.h>
#endif

namespace {

using namespace wsss;

constexpr int threads = 2;
constexpr index_t channels = 21, steps = 256;

// One problem per map side: a radius-5 affinity graph from a feature map made of random
// rectangular regions (per-region code + noise, like a trained AffinityNet's output), and 21
// CAM channels normalised to max 1, all non-zero (the worst case: nothing is skipped).
struct problem {
  index_t side = 0;
  walk::transition T;
  tensor cam;
  tensor reference;  // sparse_power's result: every other method is compared with it
};

const problem& get(index_t side) {
  static std::map<index_t, std::unique_ptr<problem>> cache;
  auto& p = cache[side];
  if (p) return *p;
  p = std::make_unique<problem>();
  p->side = side;
  rng g(static_cast<std::uint64_t>(side));
  const index_t fc = 32, n = side * side;
  tensor code = random_normal({12, fc}, g, 0.0, 2.0);
  std::vector<int> region(static_cast<std::size_t>(n), 0);
  for (int r = 1; r < 12; ++r) {
    const index_t y0 = static_cast<index_t>(g.below(static_cast<std::uint64_t>(side))), x0 = static_cast<index_t>(g.below(static_cast<std::uint64_t>(side)));
    const index_t hh = side / 6 + static_cast<index_t>(g.below(static_cast<std::uint64_t>(side / 3))), ww = side / 6 + static_cast<index_t>(g.below(static_cast<std::uint64_t>(side / 3)));
    for (index_t y = y0; y < std::min(side, y0 + hh); ++y)
      for (index_t x = x0; x < std::min(side, x0 + ww); ++x) region[static_cast<std::size_t>(y * side + x)] = r;
  }
  tensor f({fc, side, side});
  for (index_t c = 0; c < fc; ++c)
    for (index_t i = 0; i < n; ++i) f[c * n + i] = code(region[static_cast<std::size_t>(i)], c) + 0.05f * static_cast<float>(g.normal());
  p->T = walk::make_transition(graph::build(graph::radius{}, f.shape(), f));
  p->cam = random_uniform({channels, side, side}, g);
  for (index_t k = 0; k < channels; ++k) {
    float mx = 0;
    for (index_t i = 0; i < n; ++i) mx = std::max(mx, p->cam[k * n + i]);
    for (index_t i = 0; i < n; ++i) p->cam[k * n + i] /= mx;
  }
  p->reference = walk::propagate(walk::sparse_power{{steps}}, p->T, p->cam);
  return *p;
}

double max_abs_diff(const float* a, const float* b, index_t n) {
  double m = 0;
  for (index_t i = 0; i < n; ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

void set_threads() {
  backend::set_num_threads(threads);
  Eigen::setNbThreads(threads);
#if WSSS_BENCH_WITH_TORCH
  torch::set_num_threads(threads);
#endif
}

void report(benchmark::State& st, const problem& p, const tensor& out, std::size_t bytes) {
  st.counters["n"] = static_cast<double>(p.T.nodes());
  st.counters["MB"] = static_cast<double>(bytes) / (1024.0 * 1024.0);
  st.counters["maxdiff"] = max_abs_diff(out.data(), p.reference.data(), out.numel());
}

template <class Prop>
void bm_wsss(benchmark::State& st) {
  set_threads();
  const problem& p = get(st.range(0));
  const Prop prop{{steps}};
  const exec<omp_t> ex{};
  // The plan holds the walk's buffers: prepared once, reused by every run (as a pipeline does).
  typename Prop::plan pl = prop.prepare(ex, {}, p.cam.shape());
  tensor out;
  for (auto _ : st) {
    prop.run(ex, pl, p.T, p.cam, out);
    benchmark::DoNotOptimize(out.data());
  }
  std::size_t bytes = pl.bytes();
  if constexpr (!std::is_same_v<Prop, walk::dense_power>) bytes += p.T.bytes();
  report(st, p, out, bytes);
  if constexpr (std::is_same_v<Prop, walk::chebyshev>) st.counters["degree"] = static_cast<double>(pl.degree);
}

// The walk in a backend's memory (walk::device_sparse_power): T and the CAMs up, 256 steps
// with the mass restorations there, the scores down, per run. On a CPU the backends share the
// host walk's row kernel; the upload and the fixed-split mass sums are the difference.
template <class Tag>
void bm_device_walk(benchmark::State& st, Tag tag) {
  set_threads();
  const problem& p = get(st.range(0));
  const walk::device_sparse_power<Tag> prop{{steps}};
  const exec<Tag> ex{tag};
  typename walk::device_sparse_power<Tag>::plan pl = prop.prepare(ex, {}, p.cam.shape());
  tensor out;
  prop.run(ex, pl, p.T, p.cam, out);  // untimed: OpenCL builds its program on the first call
  for (auto _ : st) {
    prop.run(ex, pl, p.T, p.cam, out);
    benchmark::DoNotOptimize(out.data());
  }
  report(st, p, out, p.T.bytes() + static_cast<std::size_t>(2 * out.numel()) * sizeof(float));
}

#if WSSS_BENCH_WITH_TORCH
// libtorch dense, as the public code: M = S^T (n x n), 8 squarings, then cam (21 x n) . M.
void bm_torch_dense(benchmark::State& st) {
  set_threads();
  const problem& p = get(st.range(0));
  const index_t n = p.T.nodes();
  torch::Tensor m = torch::zeros({n, n}, torch::kFloat32);
  auto acc = m.accessor<float, 2>();
  for (index_t i = 0; i < n; ++i)
    for (index_t k = p.T.row_ptr[static_cast<std::size_t>(i)]; k < p.T.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
      acc[p.T.col[static_cast<std::size_t>(k)]][i] = p.T.val[static_cast<std::size_t>(k)];
  const torch::Tensor cam = torch::from_blob(const_cast<float*>(p.cam.data()), {channels, n}, torch::kFloat32).clone();
  torch::Tensor out;
  for (auto _ : st) {
    torch::Tensor t = m;
    for (index_t s = steps; s > 1; s /= 2) t = torch::mm(t, t);
    out = torch::mm(cam, t);
  }
  tensor o = tensor::from({channels, p.side, p.side}, std::span<const float>(out.data_ptr<float>(), static_cast<std::size_t>(out.numel())));
  report(st, p, o, 2 * static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * sizeof(float));
}

// torch.sparse: the step operator as a COO tensor, t sparse x dense products (n x 21).
void bm_torch_sparse(benchmark::State& st) {
  set_threads();
  const problem& p = get(st.range(0));
  const index_t n = p.T.nodes(), nnz = p.T.nonzeros();
  torch::Tensor idx = torch::empty({2, nnz}, torch::kInt64);
  torch::Tensor val = torch::empty({nnz}, torch::kFloat32);
  auto ia = idx.accessor<std::int64_t, 2>();
  auto va = val.accessor<float, 1>();
  for (index_t i = 0; i < n; ++i)
    for (index_t k = p.T.row_ptr[static_cast<std::size_t>(i)]; k < p.T.row_ptr[static_cast<std::size_t>(i + 1)]; ++k) {
      ia[0][k] = i;
      ia[1][k] = p.T.col[static_cast<std::size_t>(k)];
      va[k] = p.T.val[static_cast<std::size_t>(k)];
    }
  const torch::Tensor s = torch::sparse_coo_tensor(idx, val, {n, n}).coalesce();
  const torch::Tensor cam =
      torch::from_blob(const_cast<float*>(p.cam.data()), {channels, n}, torch::kFloat32).t().contiguous();
  torch::Tensor x;
  for (auto _ : st) {
    x = cam;
    for (index_t k = 0; k < steps; ++k) x = torch::mm(s, x);
  }
  const torch::Tensor out = x.t().contiguous();
  tensor o = tensor::from({channels, p.side, p.side}, std::span<const float>(out.data_ptr<float>(), static_cast<std::size_t>(out.numel())));
  report(st, p, o, static_cast<std::size_t>(nnz) * (2 * sizeof(std::int64_t) + sizeof(float)) +
                       2 * static_cast<std::size_t>(n) * channels * sizeof(float));
}
#endif

}  // namespace

BENCHMARK(bm_wsss<walk::sparse_power>)->Name("wsss_sparse_power")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_wsss<walk::chebyshev>)->Name("wsss_chebyshev")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime();
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_CAPTURE(bm_device_walk, thrust_omp, thrust_omp)->Name("wsss_device_sparse_power/thrust_omp")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_CAPTURE(bm_device_walk, opencl, backend::opencl::default_queue())->Name("wsss_device_sparse_power/opencl_pocl")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
#if WSSS_BENCH_WITH_TORCH
BENCHMARK(bm_torch_sparse)->Name("torch_sparse_coo_mm")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(bm_torch_dense)->Name("torch_dense_squaring")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
#endif
BENCHMARK(bm_wsss<walk::dense_power>)->Name("wsss_dense_power")->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

int main(int argc, char** argv) { return wsss_bench::run_benchmarks(argc, argv); }
