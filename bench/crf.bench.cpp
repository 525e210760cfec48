// SPDX-License-Identifier: MIT
// bench/crf.bench.cpp — dense CRF at 500x375, 21 labels, 10 iterations, reference parameters:
// lattice build, per-iteration and end-to-end times, plan memory and peak-RSS delta, 1 and 2
// threads; exact vs lattice filter on a small image; CRF-RNN's training step on the host and on
// devices. Also a CLI (--run) that
// bench/crf_vs_pydensecrf.py drives on the same inputs as pydensecrf.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/crf_inputs.hpp"
#include "support/script_main.hpp"
#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/reduce.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/random.hpp"
#include "wsss/crf.hpp"
#if defined(WSSS_BENCH_WITH_THRUST)
#include "wsss/backend/thrust/for_each_index.hpp"
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
#include "wsss/opencl.hpp"
#endif
#include "wsss/io/png.hpp"

using namespace wsss;

namespace {

using namespace bench_crf;

const inputs& data() {
  static const inputs d;
  return d;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// End to end as pydensecrf is called: build both lattices, Q0, 10 iterations, copy out. The
// plan lives in the workspace, so every image after the first reuses its buffers.
// Registered first so that its peak-RSS delta is not hidden by an earlier benchmark's peak.
void bm_dense_crf(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(0)));
  const inputs& d = data();
  const crf::mean_field<> mf;
  workspace ws;
  const double rss0 = peak_rss_mb();
  for (auto _ : st) benchmark::DoNotOptimize(mf.infer(d.unary, d.image, on(omp, ws)));
  st.counters["peak_rss_delta_MB"] = peak_rss_mb() - rss0;
  st.counters["threads"] = static_cast<double>(st.range(0));
}

void bm_lattice_build(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(0)));
  const inputs& d = data();
  const tensor guide = crf::rgb_guide(d.image);
  crf::image_plan<crf::permutohedral> plan;
  for (auto _ : st) {
    plan.build(omp, guide, crf::kernel_config{});
    benchmark::DoNotOptimize(plan.smoothness.vertices());
  }
  plan.smoothness.reserve(crf::detail::padded(kLabels));
  plan.appearance.reserve(crf::detail::padded(kLabels));
  st.counters["plan_MB"] = static_cast<double>(plan.smoothness.bytes() + plan.appearance.bytes()) / (1 << 20);
  st.counters["vertices_smooth"] = static_cast<double>(plan.smoothness.vertices());
  st.counters["vertices_appear"] = static_cast<double>(plan.appearance.vertices());
}

void bm_iteration(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(0)));
  const inputs& d = data();
  crf::image_plan<crf::permutohedral> plan(crf::rgb_guide(d.image), crf::kernel_config{});
  const index_t n = kH * kW, ld = crf::detail::padded(kLabels);
  plan.smoothness.reserve(ld);
  plan.appearance.reserve(ld);
  tensor negu({n * ld}), q({n * ld}), msg({n * ld});
  crf::detail::interleave(omp, d.unary.data(), negu.data(), kLabels, n, ld, -1.0f, crf::detail::negu_pad);
  crf::detail::softmax_rows(omp, negu.data(), q.data(), nullptr, kLabels, n, ld);
  for (auto _ : st)
    crf::detail::iterate(omp, plan, crf::potts{}, negu.data(), nullptr, kLabels, ld, 1, 3.0f, 10.0f, q.data(),
                         msg.data(), nullptr, crf::detail::ignore_steps{});
  st.counters["workspace_MB"] = 3.0 * static_cast<double>(n * ld) * 4 / (1 << 20);
}

template <class Filter>
void bm_filter(benchmark::State& st) {
  backend::set_num_threads(1);
  const index_t h = 48, w = 64, n = h * w;
  rgb_image img(h, w);
  const rgb_image& big = data().image;
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img(y, x, c) = big(y * 4, x * 4, c);
  Filter f(crf::appearance_features(crf::rgb_guide(img), 20.0f, 13.0f));
  const index_t ld = crf::detail::padded(kLabels);
  tensor in({n * ld}, 0.5f), out({n * ld});
  f.reserve(ld);
  for (auto _ : st) f.apply_add(in.data(), out.data(), ld, 1.0f);
  st.SetItemsProcessed(st.iterations() * n);
}

// The device pipeline (crf::device_mean_field) end to end as bm_dense_crf: host lattices and
// their upload, the unaries up, 10 iterations, Q down. On a CPU its gathers run against the
// host engine's pipelined splat; a GPU is where it is meant to run.
template <class Tag>
void bm_device_crf(benchmark::State& st, Tag tag) {
  const inputs& d = data();
  const crf::device_mean_field<Tag> mf;
  workspace ws;
  benchmark::DoNotOptimize(mf.infer(d.unary, d.image, on(tag, ws)));  // untimed: OpenCL builds its program
  const auto t0 = backend::transfers();
  for (auto _ : st) benchmark::DoNotOptimize(mf.infer(d.unary, d.image, on(tag, ws)));
  const auto moved = backend::transfers() - t0;
  st.counters["uploads_per_image"] = static_cast<double>(moved.uploads) / static_cast<double>(st.iterations());
  st.counters["threads"] = static_cast<double>(backend::max_threads());
}

// CRF-RNN's training step at the same size (21 labels, its default 10 iterations): prepare on
// the image, Q_T recorded on a tape from the unaries, the backward into U, mu and the kernel
// weights. E: crf::crf_rnn<> (the host engine on omp) or crf::device_crf_rnn<Tag>.
template <class E, class Tag>
void bm_crf_rnn_step(benchmark::State& st, Tag tag) {
  const inputs& d = data();
  const tensor& u = d.unary;  // 1 x K x H x W
  rng g(3);
  const tensor seed = random_uniform(u.shape(), g, -1.0, 1.0);
  E crf({.labels = u.dim(1)});
  workspace ws;
  auto step = [&] {
    auto pl = crf.prepare(on(tag, ws), images_only(std::span<const rgb_image>(&d.image, 1)), u.shape());
    ad::tape t;
    t.backward(ad::sum(ad::mul(crf.record(t, pl, t.leaf(u, true)), t.leaf(seed))));
  };
  step();  // untimed: OpenCL builds its program
  for (auto _ : st) step();
  st.counters["threads"] = static_cast<double>(backend::max_threads());
}
void bm_crf_rnn_host(benchmark::State& st) { bm_crf_rnn_step<crf::crf_rnn<>>(st, omp); }
template <class Tag>
void bm_crf_rnn_device(benchmark::State& st, Tag tag) {
  bm_crf_rnn_step<crf::device_crf_rnn<Tag>>(st, tag);
}

}  // namespace

BENCHMARK(bm_dense_crf)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_lattice_build)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_iteration)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(bm_filter, crf::permutohedral)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_filter, crf::exact_filter)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(bm_device_crf, omp, omp)->Unit(benchmark::kMillisecond)->UseRealTime();
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_CAPTURE(bm_device_crf, thrust_omp, thrust_omp)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_CAPTURE(bm_device_crf, opencl_pocl, backend::opencl::default_queue())->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
BENCHMARK(bm_crf_rnn_host)->Name("crf_rnn_step/host")->Unit(benchmark::kMillisecond)->UseRealTime();
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_CAPTURE(bm_crf_rnn_device, thrust_omp, thrust_omp)
    ->Name("crf_rnn_step/device_thrust_omp")->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_CAPTURE(bm_crf_rnn_device, opencl, backend::opencl::default_queue())
    ->Name("crf_rnn_step/device_opencl_pocl")->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

namespace {

template <class T>
std::vector<T> read_raw(const char* path, std::size_t count) {
  std::vector<T> v(count);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T)));
  if (!f) throw std::runtime_error(std::string("cannot read ") + path);
  return v;
}

// --dump DIR: writes the benchmark's inputs (image.u8 H x W x 3, probs.f32 K x H x W).
// --run IMAGE.u8 H W PROBS.f32 K T OUT.f32 REPEATS THREADS: pydensecrf's psa call on those
// inputs (unary -log(clip(p, 1e-5)), reference kernels), printing one "ms <t>" per repeat
// (lattices + inference, I/O excluded) and writing Q (K x H x W float32) of the last run.
int cli(int argc, char** argv) {
  if (std::strcmp(argv[1], "--dump") == 0 && argc == 3) {
    const inputs& d = data();
    const std::filesystem::path dir = argv[2];
    std::ofstream(dir / "image.u8", std::ios::binary)
        .write(reinterpret_cast<const char*>(d.image.data()), static_cast<std::streamsize>(kH * kW * 3));
    const tensor p = bench_probabilities(kH, kW, kLabels);
    std::ofstream(dir / "probs.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.numel() * 4));
    std::printf("%ld %ld %ld\n", static_cast<long>(kH), static_cast<long>(kW), static_cast<long>(kLabels));
    return 0;
  }
  if (std::strcmp(argv[1], "--run") != 0 || argc != 11) {
    std::fprintf(stderr, "usage: %s --dump DIR | --run IMAGE.u8 H W PROBS.f32 K T OUT.f32 REPEATS THREADS\n", argv[0]);
    return 2;
  }
  const index_t h = std::atol(argv[3]), w = std::atol(argv[4]), k = std::atol(argv[6]);
  const int t = std::atoi(argv[7]), repeats = std::atoi(argv[9]);
  backend::set_num_threads(std::atoi(argv[10]));
  rgb_image img(h, w);
  const auto px = read_raw<std::uint8_t>(argv[2], static_cast<std::size_t>(h * w * 3));
  std::memcpy(img.data(), px.data(), px.size());
  const auto pv = read_raw<float>(argv[5], static_cast<std::size_t>(k * h * w));
  const tensor probs = tensor::from({1, k, h, w}, std::span<const float>(pv));
  crf::mean_field_config cfg;
  cfg.iterations = t;
  const crf::mean_field<> mf(cfg);
  workspace ws;  // holds the plan: the timed second run reuses the first run's buffers
  tensor q;
  const double rss0 = peak_rss_mb();
  for (int r = 0; r < repeats; ++r) {
    q = tensor();  // the previous run's Q is not part of this run's memory (as in the script's pydensecrf call)
    const auto t0 = std::chrono::steady_clock::now();
    q = mf.infer(crf::unary_from_probabilities(probs), img, on(omp, ws));
    const auto t1 = std::chrono::steady_clock::now();
    std::printf("ms %.3f\n", std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::ofstream(argv[8], std::ios::binary).write(reinterpret_cast<const char*>(q.data()), static_cast<std::streamsize>(q.numel() * 4));
  std::printf("extra_rss_MB %.1f\n", peak_rss_mb() - rss0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return wsss_bench::script_main(argc, argv, cli); }
