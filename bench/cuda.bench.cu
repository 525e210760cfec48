// SPDX-License-Identifier: MIT
// bench/cuda.bench.cu — the device pipelines on a GPU (compiled by nvcc; run by .ci/gpu on a
// GPU host): dense CRF at 500x375, 21 labels, 10 iterations (end to end, and the device part
// alone), images/s of CRF labelling in batches, the sparse walk at 56x56 / 80x80, t = 256,
// AffinityNet's whole label synthesis and confident regions of a VOC image on the GPU, and the
// poolers' forward (a CUB block per plane) beside the host poolers on the same machine
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <type_traits>
#include <vector>

#include "support/crf_inputs.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/cuda.hpp"
#include "wsss/graph.hpp"
#include "wsss/methods/affinitynet.hpp"
#include "wsss/pool.hpp"
#include "wsss/walk.hpp"

namespace {

using namespace wsss;
using namespace bench_crf;

const inputs& data() {
  static const inputs d;
  return d;
}

void sync() { backend::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

// As bench_crf's bm_dense_crf (pydensecrf's call): host lattices and their upload, the
// unaries up, 10 iterations, Q down.
void bm_crf_end_to_end(benchmark::State& st) {
  const inputs& d = data();
  const crf::device_mean_field<cuda_t> mf;
  workspace ws;
  benchmark::DoNotOptimize(mf.infer(d.unary, d.image, on(wsss::cuda, ws)));
  for (auto _ : st) benchmark::DoNotOptimize(mf.infer(d.unary, d.image, on(wsss::cuda, ws)));
}

// The 10 iterations alone, unaries already on the device (what a CRF inside training costs).
void bm_crf_iterations(benchmark::State& st) {
  const inputs& d = data();
  const crf::device_mean_field<cuda_t> mf;
  const exec<cuda_t> ex;
  const batch b = images_only(std::span<const rgb_image>(&d.image, 1));
  auto pl = mf.prepare(ex, b, d.unary.shape());
  tensor q;
  mf.run(ex, pl, d.unary, q);
  for (auto _ : st) {
    mf.solve(ex, pl);
    sync();
  }
}

// Labelling a stream of images in batches of range(0): prepare (lattices) + labels (one byte
// per pixel down), per batch; images/s as a counter.
void bm_crf_labels(benchmark::State& st) {
  const inputs& d = data();
  const index_t n = st.range(0);
  const crf::device_mean_field<cuda_t> mf;
  const exec<cuda_t> ex;
  const std::vector<rgb_image> images(static_cast<std::size_t>(n), d.image);
  tensor u({n, kLabels, kH, kW});
  for (index_t i = 0; i < n; ++i) std::copy(d.unary.begin(), d.unary.end(), u.data() + i * d.unary.numel());
  crf::device_mean_field<cuda_t>::plan pl;
  const batch b{.images = images};
  for (auto _ : st) {
    mf.prepare(ex, b, u.shape(), pl);
    benchmark::DoNotOptimize(mf.labels(ex, pl, u));
  }
  st.counters["images_per_s"] = benchmark::Counter(static_cast<double>(n * st.iterations()), benchmark::Counter::kIsRate);
}

// The walk of AffinityNet's inference at 448x448 (56x56) and 640x640 (80x80), 21 channels.
void bm_walk(benchmark::State& st) {
  const index_t side = st.range(0);
  rng r(5);
  const tensor f = random_normal({8, side, side}, r, 0.0, 0.4);
  const walk::transition T = walk::make_transition(graph::build(graph::radius{{5.0}}, f.shape(), f));
  const tensor cam = random_uniform({21, side, side}, r);
  const walk::device_sparse_power<cuda_t> dev{{.t = 256}};
  const exec<cuda_t> ex;
  auto pl = dev.prepare(ex, batch{}, cam.shape());
  tensor out;
  dev.run(ex, pl, T, cam, out);
  for (auto _ : st) dev.run(ex, pl, T, cam, out);
  st.counters["nnz"] = static_cast<double>(T.nonzeros());
}

// AffinityNet's label synthesis of VOC images as `wsss label --device cuda` runs it
// (affinitynet_on<cuda_t>::synthesize): the tagged CAM planes (3 of 20 classes) and the 448 x 47 x
// 63 affinity features up, eq. 2 + pooling, eq. 3, T, the walk (t = 256), the upsampled unaries,
// the dense CRF (prepare + 10 iterations) and the argmax on the GPU, the labels down.
/// The tagged CAMs (20 x 375 x 500, classes 3, 8, 15) and affinity features (448 x 47 x 63) of
/// label synthesis's images.
struct synthesis_inputs {
  tag_set tags{3, 8, 15};
  tensor cams, features;
  synthesis_inputs() : cams({20, kH, kW}) {
    rng r(11);
    const tensor planes = random_uniform({3, kH, kW}, r);
    for (std::size_t j = 0; j < tags.size(); ++j)
      std::copy_n(planes.data() + static_cast<index_t>(j) * kH * kW, kH * kW, cams.data() + (tags[j] - 1) * kH * kW);
    features = random_normal({448, (kH + 7) / 8, (kW + 7) / 8}, r, 0.0, 0.05);
  }
};

// range(0) images per call (`wsss label --batch`): copies of the image, one size and tag count,
// so one device batch: one launch per step for all of them.
void bm_label_synthesis(benchmark::State& st) {
  const inputs& d = data();
  const synthesis_inputs in;
  const methods::affinitynet_on<cuda_t> m;
  workspace ws;
  const exec<> ex{omp, &ws};
  const auto n = static_cast<std::size_t>(st.range(0));
  const std::vector<rgb_image> imgs(n, d.image);
  const std::vector<tensor> feats(n, in.features), cams(n, in.cams);
  const std::vector<tag_set> tags(n, in.tags);
  benchmark::DoNotOptimize(m.synthesize(ex, imgs, feats, cams, tags, false));
  for (auto _ : st) benchmark::DoNotOptimize(m.synthesize(ex, imgs, feats, cams, tags, false));
  st.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(st.range(0) * st.iterations()), benchmark::Counter::kIsRate);
}

/// Sec. 3.2.1's confident regions of the same image on the GPU (the CAM planes up, two CRFs on
/// one lattice and the rule there, the two maps down).
void bm_confident_regions(benchmark::State& st) {
  const inputs& d = data();
  const synthesis_inputs in;
  const methods::affinitynet_on<cuda_t> m;
  workspace ws;
  const exec<> ex{omp, &ws};
  benchmark::DoNotOptimize(m.confident(ex, d.image, in.cams, in.tags));
  for (auto _ : st) benchmark::DoNotOptimize(m.confident(ex, d.image, in.cams, in.tags));
  st.counters["images_per_s"] = benchmark::Counter(static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}

// GAP / GMP / GWRP forward over range(0) images of 21 planes of range(1)^2 scores (SEC's
// expansion loss at 41 x 41 in batches of 15; one 321 x 321 map): on the GPU (scores up, the
// per-plane blocks, N x C down) and, for the ratio, the host pooler on the host's OpenMP threads.
// GWRP without tags: every plane ranked (its sort's worst case).
template <class H>
typename H::config pool_config() {
  typename H::config c{};
  if constexpr (std::is_same_v<H, pool::gwrp>) c.use_tags = false;
  return c;
}
template <class P, class Tag>
void time_pool(benchmark::State& st, const P& p, const exec<Tag>& ex) {
  rng r(7);
  const tensor s = random_uniform({st.range(0), 21, st.range(1), st.range(1)}, r);
  auto pl = p.prepare(ex, batch{}, s.shape());
  tensor out;
  p.run(ex, pl, s, out);
  for (auto _ : st) p.run(ex, pl, s, out);
}
template <class H>
void bm_pool_gpu(benchmark::State& st) {
  time_pool(st, pool::device_pool<H, cuda_t>{pool_config<H>()}, exec<cuda_t>{});
}
template <class H>
void bm_pool_host(benchmark::State& st) {
  time_pool(st, H{pool_config<H>()}, exec<omp_t>{});
}

}  // namespace

BENCHMARK(bm_label_synthesis)->Arg(1)->Arg(8)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_confident_regions)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_crf_end_to_end)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_crf_iterations)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_crf_labels)->Arg(1)->Arg(8)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_walk)->Arg(56)->Arg(80)->Unit(benchmark::kMillisecond)->UseRealTime();
#define WSSS_BENCH_POOL(bm, H) BENCHMARK_TEMPLATE(bm, H)->Args({15, 41})->Args({1, 321})->Unit(benchmark::kMicrosecond)->UseRealTime()
WSSS_BENCH_POOL(bm_pool_gpu, pool::gap);
WSSS_BENCH_POOL(bm_pool_host, pool::gap);
WSSS_BENCH_POOL(bm_pool_gpu, pool::gmp);
WSSS_BENCH_POOL(bm_pool_host, pool::gmp);
WSSS_BENCH_POOL(bm_pool_gpu, pool::gwrp);
WSSS_BENCH_POOL(bm_pool_host, pool::gwrp);

BENCHMARK_MAIN();
