// SPDX-License-Identifier: MIT
// bench/label_synthesis.bench.cpp — AffinityNet label synthesis per image at VOC size (500x375,
// 20 classes, 448 x 47 x 63 affinity features), given the CAMs and the features: the method's own
// revise + refine end to end, and its stages one by one:
//   (a) CAM post-processing: eq. 2 background (alpha 16) and 8 x 8 pooling (walk::reference_walk_input)
//   (b) affinities on the radius-5 graph (graph::radius, prepared once per grid, run per image)
//   (c) transition (walk::make_transition, beta 8)
//   (d) the walk, t = 256 (walk::sparse_power; walk::chebyshev as the other model)
//   (e) upsampling (walk::upsample_revised) and the dense CRF over [background, present classes]
//       (crf::mean_field<>, psa's kernels, 10 iterations; prepare + run)
//   (f) argmax and the class ids (argmax_labels, cam::expand_labels)
// and end to end on a device (methods::affinitynet_on<Tag>::synthesize: every stage from (a) to
// (f) there, the CAMs and features up, the labels down; the CUDA bodies through Thrust's OpenMP
// system, OpenCL on the default device, PoCL here), and the chain's own device stages alone
// (stage/a_cam_post_device, stage/e_unaries_device); and sec. 3.2.1's confident regions of the
// same images on the host and on the devices (confident_regions/*).
// Also a CLI that bench/label_synthesis_vs_reference.py drives on the same inputs as the
// reference's stages (torch, pydensecrf):
//   --dump DIR COUNT                        writes COUNT inputs
//   --run DIR COUNT THREADS REPEATS OUT [--chebyshev] [--quirk]
//                                           runs the stages on them, prints "stage <name> <ms>"
//                                           per image and repeat, writes labels and revised scores
//
//   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE flock /tmp/wsss-bench.lock
//     build-bench/bench/bench_label_synthesis --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "support/script_main.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/cam.hpp"
#include "wsss/core/random.hpp"
#include "wsss/crf.hpp"
#include "wsss/graph.hpp"
#include "wsss/methods/affinitynet.hpp"
#include "wsss/walk.hpp"
#if defined(WSSS_BENCH_WITH_THRUST)
#include "wsss/backend/thrust/for_each_index.hpp"
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
#include "wsss/opencl.hpp"
#endif

using namespace wsss;

namespace {

constexpr index_t kH = 375, kW = 500, kClasses = 20, kFeatures = 448, kStride = 8;
constexpr index_t kDh = (kH + kStride - 1) / kStride, kDw = (kW + kStride - 1) / kStride;  // 47 x 63
constexpr int kImages = 4;  // the benchmarks cycle through this many different inputs

// ---- inputs: one synthetic scene per seed ---------------------------------------------------

/// One image's inputs to label synthesis: the photo, the normalised CAMs (K x H x W, absent
/// classes zero) of its 2-3 classes, AffinityNet's features (F x 47 x 63) and its tags.
struct inputs {
  rgb_image image;
  tensor cams;
  tensor features;
  tag_set tags;
};

/// A scene of regions: two background "stuff" regions (split by a wavy horizon) and 2-3
/// elliptical objects of distinct classes. The image colours each region (plus shading and
/// noise); each present class's CAM is two smooth blobs inside its object (the discriminative
/// part, leaking past its edges), normalised to max 1 as psa does; the features are a code per
/// region, mixed by coverage over each 8 x 8 cell, plus noise, as a trained AffinityNet gives
/// (so that affinities are high inside regions and low across their boundaries).
inputs make_inputs(int index) {
  rng g(0x5eed0000u + static_cast<std::uint64_t>(index) * 7919u);
  const int objects = 2 + static_cast<int>(g.below(2));
  std::vector<int> classes;
  while (static_cast<int>(classes.size()) < objects) {
    const int c = 1 + static_cast<int>(g.below(kClasses));
    if (std::find(classes.begin(), classes.end(), c) == classes.end()) classes.push_back(c);
  }
  struct ellipse {
    double cy, cx, ry, rx, angle;
  };
  std::vector<ellipse> shapes;
  for (int j = 0; j < objects; ++j)
    shapes.push_back({g.uniform(0.25, 0.75) * kH, g.uniform(0.2, 0.8) * kW, g.uniform(45, 120), g.uniform(55, 150),
                      g.uniform(0, std::numbers::pi)});
  const double horizon = g.uniform(0.35, 0.6) * kH, wave = g.uniform(5, 25), freq = g.uniform(0.005, 0.02);
  auto inside = [&](const ellipse& e, double y, double x) {
    const double c = std::cos(e.angle), s = std::sin(e.angle);
    const double u = (c * (x - e.cx) + s * (y - e.cy)) / e.rx, v = (-s * (x - e.cx) + c * (y - e.cy)) / e.ry;
    return u * u + v * v < 1.0;
  };
  const int regions = 2 + objects;
  std::vector<int> region(static_cast<std::size_t>(kH * kW));
  for (index_t y = 0; y < kH; ++y)
    for (index_t x = 0; x < kW; ++x) {
      int r = y < horizon + wave * std::sin(freq * static_cast<double>(x)) ? 0 : 1;
      for (int j = 0; j < objects; ++j)
        if (inside(shapes[static_cast<std::size_t>(j)], static_cast<double>(y), static_cast<double>(x))) r = 2 + j;
      region[static_cast<std::size_t>(y * kW + x)] = r;
    }

  inputs in;
  in.image = rgb_image(kH, kW);
  std::vector<double> colour(static_cast<std::size_t>(regions * 3));
  for (double& c : colour) c = g.uniform(30, 225);
  for (index_t y = 0; y < kH; ++y)
    for (index_t x = 0; x < kW; ++x) {
      const int r = region[static_cast<std::size_t>(y * kW + x)];
      const double shade = 18.0 * std::sin(0.011 * static_cast<double>(x) + 0.017 * static_cast<double>(y) + r);
      for (int c = 0; c < 3; ++c)
        in.image(y, x, c) = static_cast<std::uint8_t>(
            std::clamp(colour[static_cast<std::size_t>(r * 3 + c)] + shade + 10.0 * g.normal(), 0.0, 255.0));
    }

  in.cams = tensor({kClasses, kH, kW});
  const index_t hw = kH * kW;
  for (int j = 0; j < objects; ++j) {
    const ellipse& e = shapes[static_cast<std::size_t>(j)];
    float* cam = in.cams.data() + (classes[static_cast<std::size_t>(j)] - 1) * hw;
    for (int b = 0; b < 2; ++b) {
      const double cy = e.cy + g.uniform(-0.3, 0.3) * e.ry, cx = e.cx + g.uniform(-0.3, 0.3) * e.rx;
      const double sy = g.uniform(0.55, 0.85) * e.ry, sx = g.uniform(0.55, 0.85) * e.rx, a = b == 0 ? 1.0 : 0.6;
      for (index_t y = 0; y < kH; ++y)
        for (index_t x = 0; x < kW; ++x) {
          const double dy = (static_cast<double>(y) - cy) / sy, dx = (static_cast<double>(x) - cx) / sx;
          cam[y * kW + x] += static_cast<float>(a * std::exp(-0.5 * (dy * dy + dx * dx)));
        }
    }
    float mx = 0.0f;
    for (index_t i = 0; i < hw; ++i) mx = std::max(mx, cam[i]);
    for (index_t i = 0; i < hw; ++i) cam[i] /= mx + 1e-5f;  // psa's normalisation
  }
  in.tags = classes;
  std::sort(in.tags.begin(), in.tags.end());

  // Per-region codes (ELU of a normal, like psa's f9 output), mixed by coverage per cell.
  std::vector<float> code(static_cast<std::size_t>(regions * kFeatures));
  for (float& v : code) {
    const double z = g.normal();
    v = static_cast<float>(z > 0 ? z : std::expm1(z));
  }
  in.features = tensor({kFeatures, kDh, kDw});
  const index_t n = kDh * kDw;
  std::vector<float> cover(static_cast<std::size_t>(regions));
  for (index_t cy = 0; cy < kDh; ++cy)
    for (index_t cx = 0; cx < kDw; ++cx) {
      std::fill(cover.begin(), cover.end(), 0.0f);
      float total = 0;
      for (index_t y = cy * kStride; y < std::min(kH, (cy + 1) * kStride); ++y)
        for (index_t x = cx * kStride; x < std::min(kW, (cx + 1) * kStride); ++x) {
          cover[static_cast<std::size_t>(region[static_cast<std::size_t>(y * kW + x)])] += 1.0f;
          total += 1.0f;
        }
      for (index_t c = 0; c < kFeatures; ++c) {
        float v = 0.1f * static_cast<float>(g.normal());
        for (int r = 0; r < regions; ++r)
          v += cover[static_cast<std::size_t>(r)] / total * code[static_cast<std::size_t>(r * kFeatures + c)];
        in.features[c * n + cy * kDw + cx] = v;
      }
    }
  return in;
}

const inputs& data(int i) {
  static std::vector<std::unique_ptr<inputs>> cache(kImages);
  auto& p = cache[static_cast<std::size_t>(i % kImages)];
  if (!p) p = std::make_unique<inputs>(make_inputs(i % kImages));
  return *p;
}

// ---- the stages, as the method's revise / refine run them -----------------------------------

using method_sparse = methods::affinitynet<>;  // GAP, radius 5, sparse_power t = 256, mean_field<>
using method_chebyshev = methods::affinitynet<pool::gap, graph::radius, walk::chebyshev>;
#if defined(WSSS_BENCH_WITH_THRUST)
using method_thrust = methods::affinitynet_on<thrust_omp_t>;  // walk + CRF as the CUDA bodies, on the CPU
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
using method_opencl = methods::affinitynet_on<opencl_t>;  // walk + CRF on the default OpenCL device
#endif

/// The stage names, in order, for the breakdown.
const char* const stage_names[] = {"a_cam_post", "b_affinity", "c_transition", "d_walk",
                                   "e1_upsample", "e2_crf", "f_argmax"};
constexpr int kStages = 7;

/// Per grid: what a pipeline over many images of one size prepares once (the graph's
/// structure). Per image: the stage outputs.
template <class Method>
struct pipeline {
  Method m;
  exec<omp_t> ex{};
  bool quirk = false;  ///< psa's inference graph (docs/graph.md) instead of the full radius graph
  bool reuse_crf_plan = false;  ///< prepare the CRF plan in place instead of afresh per image
  graph::structure_plan gp;
  graph::csr_graph wg;
  walk::transition T;
  tensor walk_in, small, revised;
  crf::mean_field<>::plan crf_plan;
  tensor q;
  label_map labels;

  explicit pipeline(workspace& ws, bool psa_graph = false) : ex{omp, &ws}, quirk(psa_graph) {
    if (quirk) {
      gp.assign(graph::from_pairs(graph::both_orientations(graph::reference_pairs(kDh, kDw))));
      gp.pair_up();
    } else {
      gp = m.graph.prepare(ex, {}, shape{kFeatures, kDh, kDw});
    }
  }

  // (a) eq. 2 background and pooling to the stride grid
  void cam_post(const inputs& in) { walk_in = walk::reference_walk_input(in.cams, m.cfg.walk_alpha, m.cfg.stride); }
  // (b) eq. 3 on the prepared graph
  void affinity(const inputs& in) {
    if (quirk) graph::detail::learned_weights(ex, gp, in.features, m.graph.cfg.dist, wg, "psa graph");
    else m.graph.run(ex, gp, in.features, wg);
  }
  // (c) eq. 11
  void transition() { T = walk::make_transition(wg, {m.cfg.beta, walk::orientation::average}); }
  // (d) eq. 12 (the walk's plan: as revise, prepared per image)
  void walk() {
    auto wp = m.walk.prepare(ex, {}, walk_in.shape());
    m.walk.run(ex, wp, T, walk_in, small);
  }
  // (e1) back to the image
  void upsample(const inputs& in) { revised = walk::upsample_revised(small, in.image.height(), in.image.width(), m.cfg.stride); }
  // (e2) refine's CRF: present channels, per-pixel distribution, unary, prepare + run
  void crf(const inputs& in) {
    tensor p = cam::present_channels(revised, in.tags);
    cam::normalise_pixels(p);
    tensor u = crf::unary_from_probabilities(p, m.cfg.crf_clip);
    const index_t k = p.dim(0);
    u.reshape({1, k, p.dim(1), p.dim(2)});
    const batch b = images_only(std::span<const rgb_image>(&in.image, 1));
    if (reuse_crf_plan) m.crf.prepare(ex, b, u.shape(), crf_plan);  // in place: buffers of the last image reused
    else crf_plan = m.crf.prepare(ex, b, u.shape());                // as refine: a fresh plan per image
    m.crf.run(ex, crf_plan, u, q);
    q.reshape({k, p.dim(1), p.dim(2)});
  }
  // (f) MAP labels as class ids
  void argmax(const inputs& in) { labels = cam::expand_labels(argmax_labels(q), in.tags); }

  /// Every stage; t (if given) receives each stage's milliseconds.
  void all(const inputs& in, double* t = nullptr) {
    int s = 0;
    auto timed = [&](auto&& f) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      if (t) t[s] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++s;
    };
    timed([&] { cam_post(in); });
    timed([&] { affinity(in); });
    timed([&] { transition(); });
    timed([&] { walk(); });
    timed([&] { upsample(in); });
    timed([&] { crf(in); });
    timed([&] { argmax(in); });
  }
};

// ---- Google Benchmark cases ------------------------------------------------------------------

void set_threads(benchmark::State& st) { backend::set_num_threads(static_cast<int>(st.range(0))); }
void per_image(benchmark::State& st) {
  st.SetItemsProcessed(st.iterations());  // items/s = images/s
  st.counters["threads"] = static_cast<double>(st.range(0));
}

/// The method's per-image label stages, as users run them.
enum class step {
  synthesize,  ///< sec. 3.3 + 3.4 as `wsss label` calls it (revise + refine on host slots; on
               ///< device slots the whole chain on the device)
  confident,   ///< sec. 3.2.1's confident regions (two dense CRFs on one lattice and the rule;
               ///< with device slots the tagged CAM planes up, the two maps down)
};

/// End to end as users run it: one image per iteration.
template <class Method, step S = step::synthesize>
void bm_end_to_end(benchmark::State& st) {
  set_threads(st);
  const Method m;
  workspace ws;
  const exec<omp_t> ex{omp, &ws};
  int i = 0;
  for (auto _ : st) {
    const inputs& in = data(i++);
    if constexpr (S == step::synthesize)
      benchmark::DoNotOptimize(m.synthesize(ex, in.image, in.features, in.cams, in.tags, false).rw_crf.data());
    else
      benchmark::DoNotOptimize(m.confident(ex, in.image, in.cams, in.tags).pooled.data());
  }
  per_image(st);
}

/// End to end in batches as `wsss label --batch B` runs it (synthesize over a batch, ordered by
/// synthesis_order): range(1) images per call (the 4 inputs cycled: 2 or 3 tags, so a batch is
/// two device batches on device slots), images/s.
template <class Method>
void bm_batch(benchmark::State& st) {
  set_threads(st);
  const Method m;
  workspace ws;
  const exec<omp_t> ex{omp, &ws};
  std::vector<rgb_image> imgs;
  std::vector<tag_set> tags;
  for (int k = 0; k < static_cast<int>(st.range(1)); ++k) {
    imgs.push_back(data(k).image);
    tags.push_back(data(k).tags);
  }
  std::vector<rgb_image> imgs_o;  // the copies in synthesis order
  std::vector<tag_set> tags_o;
  std::vector<tensor> feats, cams;
  for (std::size_t k : Method::synthesis_order(imgs, tags)) {
    const inputs& in = data(static_cast<int>(k));
    imgs_o.push_back(in.image);
    tags_o.push_back(in.tags);
    feats.push_back(in.features);
    cams.push_back(in.cams);
  }
  for (auto _ : st) benchmark::DoNotOptimize(m.synthesize(ex, imgs_o, feats, cams, tags_o, false).back().rw_crf.data());
  st.SetItemsProcessed(st.iterations() * st.range(1));  // items/s = images/s
  st.counters["threads"] = static_cast<double>(st.range(0));
  st.counters["batch"] = static_cast<double>(st.range(1));
}

/// Throughput of a data set's label synthesis on the machine's cores: `workers` threads, each
/// with its own workspace and one OpenMP thread, each running synthesize on its own images
/// (the images of a data set are independent; methods::run_context::per_image runs them one
/// after another, each stage on all threads).
template <class Method>
void bm_workers(benchmark::State& st) {
  const int workers = static_cast<int>(st.range(0));
  const Method m;
  std::vector<std::unique_ptr<workspace>> ws;
  for (int w = 0; w < workers; ++w) ws.push_back(std::make_unique<workspace>());
  for (int k = 0; k < kImages; ++k) data(k);  // made here, not by two workers at once
  int i = 0;
  for (auto _ : st) {
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
      pool.emplace_back([&, w, img = i + w] {
        backend::set_num_threads(1);
        const exec<omp_t> ex{omp, ws[static_cast<std::size_t>(w)].get()};
        const inputs& in = data(img);
        benchmark::DoNotOptimize(m.synthesize(ex, in.image, in.features, in.cams, in.tags, false).rw_crf.data());
      });
    for (auto& t : pool) t.join();
    i += workers;
  }
  st.SetItemsProcessed(st.iterations() * workers);
  st.counters["workers"] = workers;
}

/// The same chain through the stage-by-stage pipeline (graph structure prepared once).
template <class Method>
void bm_stages(benchmark::State& st) {
  set_threads(st);
  workspace ws;
  pipeline<Method> p(ws, st.range(1) != 0);
  std::vector<double> sum(kStages, 0.0);
  double t[kStages];
  int i = 0;
  for (auto _ : st) {
    p.all(data(i++), t);
    for (int s = 0; s < kStages; ++s) sum[static_cast<std::size_t>(s)] += t[s];
  }
  for (int s = 0; s < kStages; ++s)
    st.counters[std::string(stage_names[s]) + "_ms"] = sum[static_cast<std::size_t>(s)] / static_cast<double>(st.iterations());
  per_image(st);
}

/// One stage alone, the earlier stages run once outside the timing.
template <int Stage, class Method = method_sparse>
void bm_stage(benchmark::State& st) {
  set_threads(st);
  workspace ws;
  std::vector<std::unique_ptr<pipeline<Method>>> ps;
  for (int k = 0; k < kImages; ++k) {
    ps.push_back(std::make_unique<pipeline<Method>>(ws));
    ps.back()->all(data(k));
  }
  int i = 0;
  for (auto _ : st) {
    pipeline<Method>& p = *ps[static_cast<std::size_t>(i % kImages)];
    const inputs& in = data(i++);
    if constexpr (Stage == 0) p.cam_post(in);
    if constexpr (Stage == 1) p.affinity(in);
    if constexpr (Stage == 2) p.transition();
    if constexpr (Stage == 3) p.walk();
    if constexpr (Stage == 4) p.upsample(in);
    if constexpr (Stage == 5) p.crf(in);
    if constexpr (Stage == 6) p.argmax(in);
    if constexpr (Stage == 7) p.gp = p.m.graph.prepare(p.ex, {}, shape{kFeatures, kDh, kDw});
    if constexpr (Stage == 8) {
      p.reuse_crf_plan = true;
      p.crf(in);
    }
  }
  per_image(st);
}

/// (b) on a device: graph::device_radius<Tag>'s eq. 3 (the features up, the weights down), its
/// plan prepared once per grid as the method keeps it.
template <class Tag>
void bm_device_affinity(benchmark::State& st, Tag tag) {
  set_threads(st);
  const graph::device_radius<Tag> g;
  const exec<Tag> ex{tag};
  auto pl = g.prepare(ex, {}, shape{kFeatures, kDh, kDw});
  graph::csr_graph wg;
  int i = 0;
  for (auto _ : st) g.run(ex, pl, data(i++).features, wg);
  per_image(st);
}

/// The tagged CAM planes of an image (CAM channel = class - 1).
std::vector<index_t> tagged_planes(const tag_set& tags) {
  std::vector<index_t> planes;
  for (int c : tags) planes.push_back(c - 1);
  return planes;
}

/// (a) on a device: walk::make_device_walk_input (the tagged planes up, eq. 2 + pooling into the
/// walk's layout), as affinitynet_on<Tag>::synthesize runs it; one element down to wait for it.
template <class Tag>
void bm_device_cam_post(benchmark::State& st, Tag tag) {
  set_threads(st);
  walk::device::inference_buffers<Tag> b;
  int i = 0;
  float sink = 0;
  for (auto _ : st) {
    const inputs& in = data(i++);
    const auto m = walk::make_device_walk_input(tag, b, in.cams, tagged_planes(in.tags), 16.0f, kStride);
    backend::download(tag, m.x, std::span<float>(&sink, 1));
  }
  per_image(st);
}

/// (e) on a device: walk::device_unaries (the upsampling of [background, tags] into the CRF's
/// unaries: normalised, clipped, -log'd), from scores on the 47 x 63 grid already there (here the
/// walk input; the cost does not depend on the values); one element down to wait for it.
template <class Tag>
void bm_device_unaries(benchmark::State& st, Tag tag) {
  set_threads(st);
  std::vector<walk::device::inference_buffers<Tag>> b(kImages);
  std::vector<index_t> classes;
  for (int k = 0; k < kImages; ++k) {
    const inputs& in = data(k);
    walk::make_device_walk_input(tag, b[static_cast<std::size_t>(k)], in.cams, tagged_planes(in.tags), 16.0f, kStride);
    classes.push_back(static_cast<index_t>(in.tags.size()) + 1);
  }
  backend::device_array<float, Tag> u;
  int i = 0;
  float sink = 0;
  for (auto _ : st) {
    const auto k = static_cast<std::size_t>(i++ % kImages);
    const walk::device_walked<Tag> s{b[k].x, kDh, kDw, walk::detail::packed_cams::padded(classes[k])};
    walk::device_unaries(tag, s, kH, kW, kStride, classes[k], 1e-5f, u);
    backend::download(tag, u, std::span<float>(&sink, 1));
  }
  per_image(st);
}

}  // namespace

#define WSSS_ARGS ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()
#define WSSS_BATCH_ARGS ->Args({2, 1})->Args({2, 8})->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()
BENCHMARK_TEMPLATE(bm_end_to_end, method_sparse)->Name("end_to_end/sparse_power") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_end_to_end, method_chebyshev)->Name("end_to_end/chebyshev") WSSS_ARGS;
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_TEMPLATE(bm_end_to_end, method_thrust)->Name("end_to_end/device_thrust_omp") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_batch, method_thrust)->Name("batch/device_thrust_omp") WSSS_BATCH_ARGS;
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_TEMPLATE(bm_end_to_end, method_opencl)->Name("end_to_end/device_opencl") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_batch, method_opencl)->Name("batch/device_opencl") WSSS_BATCH_ARGS;
#endif
BENCHMARK_TEMPLATE(bm_end_to_end, method_sparse, step::confident)->Name("confident_regions/host") WSSS_ARGS;
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_TEMPLATE(bm_end_to_end, method_thrust, step::confident)->Name("confident_regions/device_thrust_omp") WSSS_ARGS;
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_TEMPLATE(bm_end_to_end, method_opencl, step::confident)->Name("confident_regions/device_opencl") WSSS_ARGS;
#endif
BENCHMARK_TEMPLATE(bm_workers, method_sparse)->Name("workers_x_1_thread/sparse_power")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(bm_workers, method_chebyshev)->Name("workers_x_1_thread/chebyshev")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(bm_stages, method_sparse)->Name("stages/sparse_power")->Args({1, 0})->Args({2, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(bm_stages, method_chebyshev)->Name("stages/chebyshev")->Args({1, 0})->Args({2, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK_TEMPLATE(bm_stage, 0)->Name("stage/a_cam_post") WSSS_ARGS;
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_CAPTURE(bm_device_cam_post, thrust_omp, thrust_omp)->Name("stage/a_cam_post_device/thrust_omp") WSSS_ARGS;
BENCHMARK_CAPTURE(bm_device_unaries, thrust_omp, thrust_omp)->Name("stage/e_unaries_device/thrust_omp") WSSS_ARGS;
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_CAPTURE(bm_device_cam_post, opencl, backend::opencl::default_queue())->Name("stage/a_cam_post_device/opencl_pocl") WSSS_ARGS;
BENCHMARK_CAPTURE(bm_device_unaries, opencl, backend::opencl::default_queue())->Name("stage/e_unaries_device/opencl_pocl") WSSS_ARGS;
#endif
BENCHMARK_TEMPLATE(bm_stage, 7)->Name("stage/b0_graph_prepare") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 1)->Name("stage/b_affinity") WSSS_ARGS;
#if defined(WSSS_BENCH_WITH_THRUST)
BENCHMARK_CAPTURE(bm_device_affinity, thrust_omp, thrust_omp)->Name("stage/b_affinity_device/thrust_omp") WSSS_ARGS;
#endif
#if defined(WSSS_BENCH_WITH_OPENCL)
BENCHMARK_CAPTURE(bm_device_affinity, opencl, backend::opencl::default_queue())->Name("stage/b_affinity_device/opencl_pocl") WSSS_ARGS;
#endif
BENCHMARK_TEMPLATE(bm_stage, 2)->Name("stage/c_transition") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 3)->Name("stage/d_walk_sparse_power") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 3, method_chebyshev)->Name("stage/d_walk_chebyshev") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 4)->Name("stage/e1_upsample") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 5)->Name("stage/e2_crf") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 8)->Name("stage/e2_crf_plan_in_place") WSSS_ARGS;
BENCHMARK_TEMPLATE(bm_stage, 6)->Name("stage/f_argmax") WSSS_ARGS;

// ---- CLI for the side-by-side script ---------------------------------------------------------

namespace {

template <class T>
void write_raw(const std::filesystem::path& p, const T* v, std::size_t count) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v), static_cast<std::streamsize>(count * sizeof(T)));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}
template <class T>
void read_raw(const std::filesystem::path& p, T* v, std::size_t count) {
  std::ifstream f(p, std::ios::binary);
  f.read(reinterpret_cast<char*>(v), static_cast<std::streamsize>(count * sizeof(T)));
  if (!f) throw std::runtime_error("cannot read " + p.string());
}
std::string name(const char* stem, int i, const char* ext) { return std::string(stem) + "_" + std::to_string(i) + ext; }

inputs load(const std::filesystem::path& dir, int i) {
  inputs in;
  in.image = rgb_image(kH, kW);
  read_raw(dir / name("image", i, ".u8"), in.image.data(), static_cast<std::size_t>(kH * kW * 3));
  in.cams = tensor({kClasses, kH, kW});
  read_raw(dir / name("cams", i, ".f32"), in.cams.data(), static_cast<std::size_t>(in.cams.numel()));
  in.features = tensor({kFeatures, kDh, kDw});
  read_raw(dir / name("feats", i, ".f32"), in.features.data(), static_cast<std::size_t>(in.features.numel()));
  std::ifstream t(dir / name("tags", i, ".txt"));
  for (int c; t >> c;) in.tags.push_back(c);
  return in;
}

template <class Method>
int run_cli(const std::filesystem::path& dir, int count, int repeats, const std::filesystem::path& out, bool quirk) {
  std::vector<inputs> ins;
  for (int i = 0; i < count; ++i) ins.push_back(load(dir, i));
  std::filesystem::create_directories(out);
  workspace ws;
  pipeline<Method> p(ws, quirk);
  const Method m;
  const exec<omp_t> ex{omp, &ws};
  double t[kStages];
  for (int r = 0; r < repeats; ++r)
    for (int i = 0; i < count; ++i) {
      const inputs& in = ins[static_cast<std::size_t>(i)];
      p.all(in, t);
      for (int s = 0; s < kStages; ++s) std::printf("stage %d %d %s %.3f\n", r, i, stage_names[s], t[s]);
      if (!quirk) {  // the method's own calls, timed, and checked to give the same labels
        const auto t0 = std::chrono::steady_clock::now();
        const tensor revised = m.revise(ex, in.features, in.cams);
        const label_map labels = m.refine(ex, in.image, revised, in.tags);
        std::printf("stage %d %d end_to_end %.3f\n", r, i,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!(labels == p.labels)) {
          std::fprintf(stderr, "image %d: the stages' labels differ from revise + refine's\n", i);
          return 1;
        }
      }
      if (r + 1 == repeats) {
        write_raw(out / name("revised", i, ".f32"), p.small.data(), static_cast<std::size_t>(p.small.numel()));
        const label_map rw = argmax_labels(p.revised);
        write_raw(out / name("rw", i, ".u8"), rw.data(), static_cast<std::size_t>(rw.pixels()));
        write_raw(out / name("labels", i, ".u8"), p.labels.data(), static_cast<std::size_t>(p.labels.pixels()));
      }
      std::fflush(stdout);
    }
  return 0;
}

int cli(int argc, char** argv) {
  const std::string mode = argv[1];
  if (mode == "--dump" && argc == 4) {
    const std::filesystem::path dir = argv[2];
    std::filesystem::create_directories(dir);
    const int count = std::atoi(argv[3]);
    for (int i = 0; i < count; ++i) {
      const inputs in = make_inputs(i);
      write_raw(dir / name("image", i, ".u8"), in.image.data(), static_cast<std::size_t>(kH * kW * 3));
      write_raw(dir / name("cams", i, ".f32"), in.cams.data(), static_cast<std::size_t>(in.cams.numel()));
      write_raw(dir / name("feats", i, ".f32"), in.features.data(), static_cast<std::size_t>(in.features.numel()));
      std::ofstream t(dir / name("tags", i, ".txt"));
      for (int c : in.tags) t << c << "\n";
    }
    std::printf("%ld %ld %ld %ld %ld %ld %ld\n", static_cast<long>(kH), static_cast<long>(kW), static_cast<long>(kClasses),
                static_cast<long>(kFeatures), static_cast<long>(kDh), static_cast<long>(kDw), static_cast<long>(kStride));
    return 0;
  }
  if (mode == "--run" && argc >= 7) {
    bool cheb = false, quirk = false;
    for (int k = 7; k < argc; ++k) {
      if (std::strcmp(argv[k], "--chebyshev") == 0) cheb = true;
      else if (std::strcmp(argv[k], "--quirk") == 0) quirk = true;
      else return std::fprintf(stderr, "unknown option %s\n", argv[k]), 2;
    }
    backend::set_num_threads(std::atoi(argv[4]));
    const int count = std::atoi(argv[3]), repeats = std::atoi(argv[5]);
    return cheb ? run_cli<method_chebyshev>(argv[2], count, repeats, argv[6], quirk)
                : run_cli<method_sparse>(argv[2], count, repeats, argv[6], quirk);
  }
  std::fprintf(stderr,
               "usage: %s --dump DIR COUNT | --run DIR COUNT THREADS REPEATS OUT [--chebyshev] [--quirk]\n", argv[0]);
  return 2;
}

}  // namespace

int main(int argc, char** argv) { return wsss_bench::script_main(argc, argv, cli); }
