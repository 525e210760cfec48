// SPDX-License-Identifier: MIT
// tests/cuda/walk.test.cu — the device walk, eq. 3 and the whole label-synthesis chain on the GPU against
// the host ones (the same kernel bodies run through Thrust's OpenMP system in tests/backend)
#include <doctest/doctest.h>

#include "cuda/require_gpu.cuh"

#include <algorithm>
#include <cmath>
#include <vector>

#include <wsss/cuda.hpp>
#include <wsss/graph.hpp>
#include <wsss/methods/affinitynet.hpp>
#include <wsss/walk.hpp>

#include "support/synthesis_batch.hpp"

TEST_CASE("cuda device_sparse_power equals sparse_power at AffinityNet's 448 x 448 (56 x 56, t = 256)") {
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  rng r(5);
  const tensor f = random_normal({8, 56, 56}, r, 0.0, 0.4);
  const walk::transition T = walk::make_transition(graph::build(graph::radius{{5.0}}, f.shape(), f));
  const tensor cam = random_uniform({21, 56, 56}, r);
  const walk::sparse_power::config cfg{.t = 256};
  const tensor ref = walk::propagate(walk::sparse_power{cfg}, T, cam, exec<cpu_t>{});
  const walk::device_sparse_power<cuda_t> dev{cfg};
  const exec<cuda_t> ex;
  auto pl = dev.prepare(ex, batch{}, cam.shape());
  tensor out;
  const auto t0 = backend::transfers();
  dev.run(ex, pl, T, cam, out);
  CHECK((backend::transfers() - t0).uploads == 5);
  float d = 0;
  for (index_t i = 0; i < out.numel(); ++i) d = std::max(d, std::abs(out[i] - ref[i]));
  MESSAGE("max |d| cuda walk vs sparse_power: ", d);
  CHECK(d < 1e-5f);
}

TEST_CASE("cuda device_radius gives radius's eq. 3 weights at AffinityNet's 448 x 448 (56 x 56, 448 features)") {
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  rng r(21);
  const tensor f = random_normal({448, 56, 56}, r, 0.0, 0.05);
  const graph::csr_graph ref = graph::build(graph::radius{}, f.shape(), f, {}, exec<cpu_t>{});
  const graph::device_radius<cuda_t> dev;
  const exec<cuda_t> ex;
  auto pl = dev.prepare(ex, batch{}, f.shape());
  graph::csr_graph out;
  const auto t0 = backend::transfers();
  dev.run(ex, pl, f, out);
  CHECK((backend::transfers() - t0).uploads == 5);  // the pair lists and the features
  REQUIRE(out.col == ref.col);
  float rel = 0;
  for (std::size_t e = 0; e < out.weight.size(); ++e)
    rel = std::max(rel, std::abs(out.weight[e] - ref.weight[e]) / ref.weight[e]);
  MESSAGE("max relative |dW| cuda eq. 3 vs host: ", rel);
  CHECK(rel <= 2e-7f);  // the same distance sums; CUDA's expf may round differently by an ulp
}

TEST_CASE("cuda resident chain: eq. 3, T and the walk on the GPU equal the host chain at 448 x 448") {
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  rng r(17);
  const tensor f = random_normal({448, 56, 56}, r, 0.0, 0.05);
  const tensor cam = random_uniform({21, 56, 56}, r);
  const walk::sparse_power::config cfg{.t = 256};
  const walk::transition T = walk::make_transition(graph::build(graph::radius{}, f.shape(), f, {}, exec<cpu_t>{}), {});
  const tensor ref = walk::propagate(walk::sparse_power{cfg}, T, cam, exec<cpu_t>{});
  const graph::device_radius<cuda_t> g;
  const walk::device_sparse_power<cuda_t> w{cfg};
  const exec<cuda_t> ex;
  auto gp = g.prepare(ex, batch{}, f.shape());
  auto wp = w.prepare(ex, batch{}, cam.shape());
  tensor out;
  const auto t0 = backend::transfers();
  w.run(ex, wp, walk::resident_graph<cuda_t>{gp.graph, g.weigh(ex, gp, f), {}}, cam, out);
  const auto d = backend::transfers() - t0;
  CHECK(d.uploads == 10);  // pair lists 4, T's layout 4, features, CAMs
  CHECK(d.downloads == 1);
  float diff = 0;
  for (index_t i = 0; i < out.numel(); ++i) diff = std::max(diff, std::abs(out[i] - ref[i]));
  MESSAGE("max |d| cuda resident chain vs host: ", diff);
  CHECK(diff < 1e-5f);
}

namespace {
// A VOC-sized image: a red object on green (centred at x = cx), its CAM over two thirds of it,
// features that separate the two (as tests/backend/inference_device.test.cpp at 75 x 100).
struct voc_scene {
  wsss::rgb_image img;
  wsss::tensor cams, features;
};
voc_scene red_object(wsss::index_t cx, std::uint64_t seed) {
  using namespace wsss;
  const index_t h = 375, w = 500, gh = 47, gw = 63;
  rng r(seed);
  rgb_image img(h, w);
  tensor cams({20, h, w});
  auto inside = [&](index_t x, index_t y) { return (x - cx) * (x - cx) + 2 * (y - 190) * (y - 190) < 15000; };
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      const bool object = inside(x, y);
      const int noise = static_cast<int>(r.uniform() * 20);
      const int colour[3] = {object ? 200 + noise : 40, object ? 40 : 120 + noise, object ? 40 : 90};
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(colour[c]);
      if (object && x < cx + 30) cams[2 * h * w + y * w + x] = 0.8f + 0.2f * static_cast<float>(r.uniform());
    }
  tensor f({64, gh, gw});
  for (index_t y = 0; y < gh; ++y)
    for (index_t x = 0; x < gw; ++x)
      for (index_t c = 0; c < 64; ++c)
        f[(c * gh + y) * gw + x] = (inside(x * 8 + 4, y * 8 + 4) == (c < 32) ? 1.0f : 0.0f) + 0.05f * static_cast<float>(r.normal());
  return {std::move(img), std::move(cams), std::move(f)};
}
}  // namespace

TEST_CASE("cuda affinitynet_on<cuda_t>: confident regions and the whole label-synthesis chain on the GPU give the host's labels") {
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  const voc_scene sc = red_object(250, 4);
  const rgb_image& img = sc.img;
  const tensor &cams = sc.cams, &f = sc.features;
  const tag_set tags{3, 7};
  const methods::affinitynet_config cfg;
  workspace hws, dws;
  const auto want = methods::affinitynet<>(cfg).synthesize(exec<>{omp, &hws}, img, f, cams, tags);
  const methods::affinitynet_on<cuda_t> dev(cfg);
  dev.synthesize(exec<>{omp, &dws}, img, f, cams, tags);
  const auto t0 = backend::transfers();
  const auto got = dev.synthesize(exec<>{omp, &dws}, img, f, cams, tags);
  const auto d = backend::transfers() - t0;
  CHECK(d.uploads == 3 + 2);    // features, CAM planes, slots; the CRF's lattice features
  CHECK(d.downloads == 2 + 2);  // the two label maps; the lattices' vertex counts
  index_t rw = 0, crf = 0;
  for (index_t i = 0; i < got.rw_crf.pixels(); ++i) {
    rw += got.rw[i] != want.rw[i];
    crf += got.rw_crf[i] != want.rw_crf[i];
  }
  MESSAGE("cuda synthesize: ", rw, " walk labels and ", crf, " CRF labels of ", got.rw_crf.pixels(), " differ from the host's");
  CHECK(rw * 10000 <= got.rw.pixels());  // ties at rounding level only
  CHECK(crf * 10000 <= got.rw_crf.pixels());
  // The confident regions (sec. 3.2.1) of the same image: the CAM planes up, one download.
  const auto want_c = methods::affinitynet<>(cfg).confident(exec<>{omp, &hws}, img, cams, tags);
  const auto t1 = backend::transfers();
  const auto got_c = dev.confident(exec<>{omp, &dws}, img, cams, tags);
  const auto dc = backend::transfers() - t1;
  CHECK(dc.uploads == 1 + 2);    // the tagged CAM planes; the lattice features
  CHECK(dc.downloads == 1 + 2);  // both label maps in one; the lattices' vertex counts
  index_t full = 0, pooled = 0;
  for (index_t i = 0; i < got_c.full.pixels(); ++i) full += got_c.full[i] != want_c.full[i];
  for (index_t i = 0; i < got_c.pooled.pixels(); ++i) pooled += got_c.pooled[i] != want_c.pooled[i];
  MESSAGE("cuda confident regions: ", full, " of ", got_c.full.pixels(), " pixels and ", pooled, " of ",
          got_c.pooled.pixels(), " cells differ from the host's");
  CHECK(full * 10000 <= got_c.full.pixels());
  CHECK(pooled * 1000 <= got_c.pooled.pixels());
}

TEST_CASE("cuda affinitynet_on<cuda_t>: a batch of three VOC-sized images is one device batch with each image's labels") {
  using namespace wsss;
  WSSS_REQUIRE_GPU();
  const wsss_test::synthesis_columns columns =
      wsss_test::columns_of(std::vector<voc_scene>{red_object(250, 4), red_object(180, 5), red_object(320, 6)});
  const auto& imgs = columns.imgs;
  const auto &feats = columns.feats, &cams = columns.cams;
  const std::vector<tag_set> tags(3, tag_set{3, 7});
  const methods::affinitynet_on<cuda_t> dev;
  workspace ws;
  const exec<> ex{omp, &ws};
  std::vector<label_map> alone;
  for (std::size_t i = 0; i < 3; ++i) alone.push_back(dev.synthesize(ex, imgs[i], feats[i], cams[i], tags[i]).rw_crf);
  dev.synthesize(ex, imgs, feats, cams, tags);  // the batch's plans and buffers
  const auto t0 = backend::transfers();
  const auto got = dev.synthesize(ex, imgs, feats, cams, tags);
  const auto d = backend::transfers() - t0;
  CHECK(d.uploads == 3 + 2);  // one image's transfers for the three
  CHECK(d.downloads == 2 + 2);
  index_t differ = 0;
  for (std::size_t i = 0; i < 3; ++i)
    for (index_t p = 0; p < alone[i].pixels(); ++p) differ += got[i].rw_crf[p] != alone[i][p];
  MESSAGE("cuda batch of 3: ", differ, " CRF labels differ from the images labelled alone");
  CHECK(differ == 0);  // the same kernels in the same order: the same bits
  CHECK(backend::batch_pays<cuda_t>::on(wsss::cuda));
}
