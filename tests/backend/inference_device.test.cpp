// SPDX-License-Identifier: MIT
// tests/backend/inference_device.test.cpp — the label-synthesis chain kept on a device
// (walk/device_inference.hpp, cam/device.hpp): the walk input, the upsampled unaries and labels,
// the confident regions' unaries and rule against the host stages they replace, on host tags,
// Thrust's OpenMP system and OpenCL (PoCL); and AffinityNet's confident regions and synthesize
// on a device against the host method, with their transfers
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <wsss/backend/thrust/for_each_index.hpp>
#include <wsss/cam.hpp>
#include <wsss/core.hpp>
#include <wsss/crf.hpp>
#include <wsss/methods/affinitynet.hpp>
#include <wsss/opencl.hpp>
#include <wsss/walk.hpp>

#include "support/synthesis_batch.hpp"

using namespace wsss;

namespace {

// 20 CAM channels on a 45 x 61 image (not multiples of 8: the pooling pads, the upsampling
// crops): tags 3, 7, 12 with CAMs in [0, 1], tag 12's all zero (a tag the CAMs missed).
constexpr index_t kH = 45, kW = 61, kStride = 8, kOh = 6, kOw = 8;
const tag_set kTags{3, 7, 12};

tensor tagged_cams(std::uint64_t seed) {
  rng r(seed);
  tensor cams({20, kH, kW});
  const tensor a = random_uniform({2, kH, kW}, r);
  std::copy_n(a.data(), kH * kW, cams.data() + 2 * kH * kW);           // class 3
  std::copy_n(a.data() + kH * kW, kH * kW, cams.data() + 6 * kH * kW);  // class 7
  return cams;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

index_t differing(const label_map& a, const label_map& b) {
  REQUIRE(a.height() == b.height());
  REQUIRE(a.width() == b.width());
  index_t n = 0;
  for (index_t i = 0; i < a.pixels(); ++i) n += a[i] != b[i];
  return n;
}

// A scene of a background and an object (class 3) two thirds covered by its CAM, a weak class 7
// CAM on the background, and the affinity features of the regions: the walk spreads the CAM over
// the object, the CRF sharpens it.
struct scene {
  rgb_image img;
  tensor cams, features;
};

// An h x w scene with the object centred at (ox, oy); weak7: the weak class 7 CAM (tag 7).
scene object_scene(index_t h = 75, index_t w = 100, index_t ox = 50, index_t oy = 40, std::uint64_t seed = 4,
                   bool weak7 = true) {
  const index_t gh = (h + 7) / 8, gw = (w + 7) / 8;
  rng r(seed);
  rgb_image img(h, w);
  tensor cams({20, h, w});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      const bool object = (x - ox) * (x - ox) + 2 * (y - oy) * (y - oy) < 600;
      const auto noise = static_cast<int>(r.uniform() * 20);
      const int colour[3] = {object ? 200 + noise : 40, object ? 40 : 120 + noise, object ? 40 : 90};
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(colour[c]);
      if (object && x < ox + 10)
        cams[2 * h * w + y * w + x] =
            0.8f + 0.2f * std::exp(-static_cast<float>((x - ox + 5) * (x - ox + 5) + (y - oy) * (y - oy)) / 300.0f);
      if (!object && y < 20 && weak7) cams[6 * h * w + y * w + x] = 0.3f * static_cast<float>(r.uniform());  // class 7, weak
    }
  tensor f({16, gh, gw});
  for (index_t y = 0; y < gh; ++y)
    for (index_t x = 0; x < gw; ++x) {
      const bool object = (x * 8 + 4 - ox) * (x * 8 + 4 - ox) + 2 * (y * 8 + 4 - oy) * (y * 8 + 4 - oy) < 600;
      for (index_t c = 0; c < 16; ++c)
        f[(c * gh + y) * gw + x] = (object == (c < 8) ? 1.0f : 0.0f) + 0.05f * static_cast<float>(r.normal());
    }
  return {std::move(img), std::move(cams), std::move(f)};
}

}  // namespace

TEST_CASE("the device chain's walk input, unaries and labels equal the host stages they replace") {
  const tensor cams = tagged_cams(5);
  const std::vector<index_t> planes{2, 6, 11};  // CAM channel of class c is c - 1
  const tensor m = walk::reference_walk_input(cams, 16.0f, kStride);  // 21 x 6 x 8
  REQUIRE(m.shape() == shape{21, kOh, kOw});
  // Walked scores to upsample: 4 slots [background, tags] of 8, some negative (the walk's mass
  // restoration can leave -1e-9s where the scores are ~0) and exact ties with the untagged zeros.
  rng r(9);
  std::vector<float> walked(static_cast<std::size_t>(kOh * kOw * 8), 0.0f);
  const tensor v = random_uniform({kOh * kOw * 4}, r, -0.2, 1.0);
  for (index_t node = 0; node < kOh * kOw; ++node)
    for (index_t s = 0; s < 4; ++s) walked[static_cast<std::size_t>(node * 8 + s)] = v[node * 4 + s];
  for (index_t node = 0; node < 6; ++node)  // a few pixels where every slot is 0 or below
    for (index_t s = 0; s < 4; ++s) walked[static_cast<std::size_t>(node * 8 + s)] = s == 2 ? 0.0f : -1e-9f;
  // The host: revised scores (K + 1 channels, untagged 0) upsampled; argmax; refine's unaries.
  tensor revised({21, kOh, kOw});
  for (index_t node = 0; node < kOh * kOw; ++node) {
    revised[node] = walked[static_cast<std::size_t>(node * 8)];
    for (std::size_t j = 0; j < kTags.size(); ++j)
      revised[kTags[j] * kOh * kOw + node] = walked[static_cast<std::size_t>(node * 8) + j + 1];
  }
  const tensor up = walk::upsample_revised(revised, kH, kW, kStride);
  const label_map host_labels = argmax_labels(up);
  tensor p = cam::present_channels(up, kTags);
  cam::normalise_pixels(p);
  const tensor host_u = crf::unary_from_probabilities(p, 1e-5f);
  std::vector<std::int32_t> slots(21, -1);
  slots[0] = 0;
  for (std::size_t j = 0; j < kTags.size(); ++j) slots[static_cast<std::size_t>(kTags[j])] = static_cast<std::int32_t>(j + 1);

  struct result {
    float input, unaries;
    index_t labels;
  };
  auto on = [&](const auto& tag) {
    using Tag = std::remove_cvref_t<decltype(tag)>;
    walk::device::inference_buffers<Tag> b;
    const auto t0 = backend::transfers();
    const walk::device_walk_input<Tag> in = walk::make_device_walk_input(tag, b, cams, planes, 16.0f, kStride);
    CHECK((backend::transfers() - t0).uploads == 1);  // the tagged planes
    CHECK(in.height == kOh);
    CHECK(in.width == kOw);
    CHECK(in.ld == 8);
    CHECK(in.slots == 4);
    const std::vector<float> x = backend::to_host(tag, in.x);
    std::vector<float> want(x.size(), 0.0f);  // slot 0 = m's background, slot j = m's class tags[j - 1]
    for (index_t node = 0; node < kOh * kOw; ++node) {
      want[static_cast<std::size_t>(node * 8)] = m[node];
      for (std::size_t j = 0; j < kTags.size(); ++j)
        want[static_cast<std::size_t>(node * 8) + j + 1] = m[kTags[j] * kOh * kOw + node];
    }
    const auto dev_walked = backend::to_device(tag, std::span<const float>(walked));
    const walk::device_walked<Tag> s{dev_walked, kOh, kOw, 8};
    backend::device_array<float, Tag> u;
    const auto t1 = backend::transfers();
    walk::device_unaries(tag, s, kH, kW, kStride, 4, 1e-5f, u);
    CHECK((backend::transfers() - t1) == backend::transfer_counts{});  // nothing crosses the bus
    const label_map labels = walk::device_labels(tag, b, s, kH, kW, kStride, std::span<const std::int32_t>(slots)).front();
    const auto d = backend::transfers() - t1;
    CHECK(d.uploads == 1);    // the slots
    CHECK(d.downloads == 1);  // a byte per pixel
    return result{max_abs_diff(x, want), max_abs_diff(backend::to_host(tag, u), std::vector<float>(host_u.begin(), host_u.end())),
                  differing(labels, host_labels)};
  };
  for (const result& h : {on(cpu), on(omp), on(thrust_omp)}) {
    CHECK(h.input == 0.0f);  // reference_walk_input's sums in its order: its bits
    CHECK(h.labels == 0);
    CHECK(h.unaries <= 2e-6f);  // the host's -log runs 8 lanes at a time, the kernel one (same polynomial)
  }
  const result cl = on(backend::opencl::default_queue());
  MESSAGE("OpenCL (PoCL): walk input max |d| ", cl.input, ", unaries ", cl.unaries, ", ", cl.labels, " labels differ");
  CHECK(cl.input <= 1e-6f);  // OpenCL's pow may round the background by an ulp
  CHECK(cl.unaries <= 1e-5f);  // |U| <= -log(1e-5) = 11.5: 1e-6 relative (the host's -log may fuse multiply-adds)
  CHECK(cl.labels == 0);
}

TEST_CASE("docs/walk.md: the label-synthesis chain on a device, stage by stage") {
  const tensor cams = tagged_cams(7);  // 20 x 45 x 61, tags 3, 7, 12
  rng r(8);
  const tensor feats = random_normal({16, kOh, kOw}, r, 0.0, 0.2);
  rgb_image img(kH, kW);
  for (index_t y = 0; y < kH; ++y)
    for (index_t x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(r.uniform() * 255);
  // example-begin walk-device-chain
  const exec<opencl_t> ex{backend::opencl::default_queue()};  // or exec<cuda_t>, exec<thrust_omp_t>, ...
  const graph::device_radius<opencl_t> g;
  const walk::device_sparse_power<opencl_t> w{{.t = 256}};
  const crf::device_mean_field<opencl_t> crf;
  walk::device::inference_buffers<opencl_t> b;
  auto gp = g.prepare(ex, {}, feats.shape());
  auto wp = w.prepare(ex, {}, shape{21, kOh, kOw});
  // eq. 2 + 8 x 8 pooling of the CAM planes [3, 7, 12] (CAM channel = class - 1): 1 upload.
  const auto m = walk::make_device_walk_input(ex.tag, b, cams, std::vector<index_t>{2, 6, 11}, 16.0f, 8);
  // eq. 3's W (features up), T and t = 256 steps, all on the device; the scores stay there.
  const walk::device_walked<opencl_t> s = w.run(ex, wp, walk::resident_graph<opencl_t>{gp.graph, g.weigh(ex, gp, feats)}, m);
  // The CRF's unaries over [background, 3, 7, 12] made in its plan, 10 iterations, labels down.
  auto cp = crf.prepare(ex, images_only(std::span<const rgb_image>(&img, 1)), shape{1, 4, kH, kW});
  walk::device_unaries(ex.tag, s, kH, kW, 8, 4, 1e-5f, cp.unary);
  const label_map labels = cam::expand_labels(crf.labels(ex, cp).front(), tag_set{3, 7, 12});
  // example-end
  // The host stages on the same inputs.
  const methods::affinitynet<> host;
  workspace ws;
  const label_map want = host.synthesize(exec<>{omp, &ws}, img, feats, cams, tag_set{3, 7, 12}, false).rw_crf;
  MESSAGE("docs chain on OpenCL: ", differing(labels, want), " of ", labels.pixels(), " labels differ from the host's");
  CHECK(differing(labels, want) * 1000 <= labels.pixels());  // ties under OpenCL's rounding alone
}

TEST_CASE("docs/walk.md: a batch of images of one size through the device chain at once") {
  rng r(12);
  std::vector<tensor> cams, feats;
  std::vector<rgb_image> imgs;
  for (std::uint64_t seed : {7, 9, 10}) {
    cams.push_back(tagged_cams(seed));  // 20 x 45 x 61, tags 3, 7, 12
    feats.push_back(random_normal({16, kOh, kOw}, r, 0.0, 0.2));
    rgb_image img(kH, kW);
    for (index_t i = 0; i < kH * kW * 3; ++i) img.data()[i] = static_cast<std::uint8_t>(r.uniform() * 255);
    imgs.push_back(std::move(img));
  }
  const std::vector<std::vector<index_t>> planes(3, std::vector<index_t>{2, 6, 11});
  // example-begin walk-device-batch
  const exec<opencl_t> ex{backend::opencl::default_queue()};  // or exec<cuda_t>, exec<thrust_omp_t>, ...
  const graph::device_radius<opencl_t> g;
  const walk::device_sparse_power<opencl_t> w{{.t = 256}};
  const crf::device_mean_field<opencl_t> crf;
  walk::device::inference_buffers<opencl_t> b;
  auto gp = g.prepare(ex, {}, feats.front().shape());  // one image's grid
  auto wp = w.prepare(ex, {}, shape{21, kOh, kOw});
  // The three images' planes [3, 7, 12] up at once; image b's nodes after image b - 1's.
  const auto m = walk::make_device_walk_input(ex.tag, b, std::span<const tensor>(cams), planes, 16.0f, 8);
  // Eq. 3 on the 3 x F x h x w features (image b's weights at b * edges), T of the disjoint
  // union of the three graphs, 256 steps of one launch each for the batch.
  const tensor stacked = graph::stack_features(feats);
  const auto s = w.run(ex, wp, walk::resident_graph<opencl_t>{gp.graph, g.weigh(ex, gp, stacked), {}, 3}, m);
  // The batch's unaries (3 x 4 x H x W) in one CRF plan over the three lattices, labels down.
  auto cp = crf.prepare(ex, images_only(imgs), shape{3, 4, kH, kW});
  walk::device_unaries(ex.tag, s, kH, kW, 8, 4, 1e-5f, cp.unary);
  const std::vector<label_map> labels = crf.labels(ex, cp);
  // example-end
  // Each image alone through the same chain: the same bits.
  REQUIRE(labels.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto mi = walk::make_device_walk_input(ex.tag, b, cams[i], planes[i], 16.0f, 8);
    const auto si = w.run(ex, wp, walk::resident_graph<opencl_t>{gp.graph, g.weigh(ex, gp, feats[i])}, mi);
    auto ci = crf.prepare(ex, images_only(std::span<const rgb_image>(&imgs[i], 1)), shape{1, 4, kH, kW});
    walk::device_unaries(ex.tag, si, kH, kW, 8, 4, 1e-5f, ci.unary);
    CHECK(differing(crf.labels(ex, ci).front(), labels[i]) == 0);
  }
  CHECK(differing(labels[0], labels[1]) > 100);  // three different images
}

TEST_CASE("the device chain names what is wrong with its inputs") {
  const tensor cams = tagged_cams(6);
  walk::device::inference_buffers<cpu_t> b;
  const std::vector<index_t> planes{2, 6, 11};
  CHECK_THROWS_WITH_AS(walk::make_device_walk_input(cpu, b, cams, std::vector<index_t>{2}, 16.0f, kStride),
                       doctest::Contains("CAM channel 6 is non-zero but not among the channels walked"), value_error);
  CHECK_THROWS_WITH_AS(walk::make_device_walk_input(cpu, b, cams, std::vector<index_t>{2, 6, 20}, 16.0f, kStride),
                       doctest::Contains("channel 20 is not one of the 20"), value_error);
  CHECK_THROWS_AS(walk::make_device_walk_input(cpu, b, cams, planes, 0.0f, kStride), value_error);
  tensor bad = cams;
  bad[3 * kH * kW - 1] = NAN;
  CHECK_THROWS_AS(walk::make_device_walk_input(cpu, b, bad, planes, 16.0f, kStride), value_error);
  const auto in = walk::make_device_walk_input(cpu, b, cams, planes, 16.0f, kStride);
  const walk::device_walked<cpu_t> s{in.x, in.height, in.width, in.ld};
  backend::device_array<float, cpu_t> u;
  CHECK_THROWS_WITH_AS(walk::device_unaries(cpu, s, kH + 8, kW, kStride, 4, 1e-5f, u), doctest::Contains("needs scores of"),
                       shape_error);
  CHECK_THROWS_AS(walk::device_unaries(cpu, s, kH, kW, kStride, 9, 1e-5f, u), value_error);
  CHECK_THROWS_AS(walk::device_unaries(cpu, s, kH, kW, kStride, 4, 0.0f, u), value_error);
  const std::vector<std::int32_t> far{0, 8};
  CHECK_THROWS_WITH_AS(walk::device_labels(cpu, b, s, kH, kW, kStride, std::span<const std::int32_t>(far)),
                       doctest::Contains("slot 8 is outside"), value_error);
  // A walk input of another grid than the graph's.
  rng r(2);
  const tensor f = random_normal({4, kOh + 1, kOw}, r, 0.0, 0.3);
  const graph::device_radius<cpu_t> g({5.0});
  auto gp = g.prepare(exec<cpu_t>{}, {}, f.shape());
  const walk::device_sparse_power<cpu_t> w{{.t = 4}};
  auto wp = w.prepare(exec<cpu_t>{}, {}, shape{21, kOh + 1, kOw});
  CHECK_THROWS_WITH_AS(w.run(exec<cpu_t>{}, wp, walk::resident_graph<cpu_t>{gp.graph, g.weigh(exec<cpu_t>{}, gp, f), {}}, in),
                       doctest::Contains("does not fit the graph's 7x8 grid"), shape_error);
}

TEST_CASE("affinitynet_on<Tag>::synthesize keeps the chain on the device: the host method's labels") {
  const scene sc = object_scene();
  const rgb_image& img = sc.img;
  const tensor &cams = sc.cams, &f = sc.features;
  const tag_set tags{3, 7};
  methods::affinitynet_config cfg;
  const methods::affinitynet<> host(cfg);
  workspace hws;
  const auto want = host.synthesize(exec<>{omp, &hws}, img, f, cams, tags);
  index_t object = 0;
  for (index_t i = 0; i < want.rw_crf.pixels(); ++i) object += want.rw_crf[i] == 3;
  CHECK(object > 1250);  // the walk and the CRF give the object (1333 pixels) its class
  CHECK(object < 1400);

  auto on = [&](auto tag) {
    using Tag = decltype(tag);
    const methods::affinitynet_on<Tag> dev(cfg);
    workspace ws;
    const exec<> ex{omp, &ws};
    auto got = dev.synthesize(ex, img, f, cams, tags);
    CHECK(differing(got.rw, want.rw) == 0);
    CHECK(differing(got.rw_crf, want.rw_crf) == 0);
    const auto t0 = backend::transfers();
    got = dev.synthesize(ex, img, f, cams, tags);  // every plan and buffer in the workspace now
    const auto d = backend::transfers() - t0;
    CHECK(differing(got.rw_crf, want.rw_crf) == 0);
    CHECK(dev.synthesize(ex, img, f, cams, tags, false).rw.pixels() == 0);  // the walk's labels only on request
    MESSAGE(Tag::name, ": ", d.uploads, " uploads, ", d.downloads, " downloads a repeated image");
    return d;
  };
  // Per image: the features (eq. 3), the tagged CAM planes, the slots of the walk's labels up;
  // the two label maps down; plus the CRF's lattices of the new image (built on the device from
  // 2 feature uploads and 2 downloads of vertex counts where Thrust is, else built on the host
  // and uploaded: 12).
  const auto on_thrust = on(thrust_omp);
  CHECK(on_thrust.uploads == 3 + 2);
  CHECK(on_thrust.downloads == 2 + 2);
  const auto on_cpu = on(cpu);
  CHECK(on_cpu.uploads == 3 + 12);
  CHECK(on_cpu.downloads == 2);
  const auto on_cl = on(backend::opencl::default_queue());
  CHECK(on_cl.uploads == 3 + 12);
  CHECK(on_cl.downloads == 2);
}

TEST_CASE("affinitynet_on<Tag>::synthesize over a batch: each image's labels alone, one device batch per run") {
  // Five scenes: 0, 1 and 4 of one size with tags {3, 7}; 2 of another size; 3 of the first
  // size with tag 3 alone. Objects in different places, so that a mixed-up image shows.
  const std::vector<scene> sc{object_scene(), object_scene(75, 100, 35, 30, 9), object_scene(64, 90, 45, 30, 6),
                              object_scene(75, 100, 60, 45, 12, false), object_scene(75, 100, 62, 36, 13)};
  const std::vector<tag_set> tags{{3, 7}, {3, 7}, {3, 7}, {3}, {3, 7}};
  // References, not a structured binding: the lambdas below capture them (clang 14 cannot).
  const wsss_test::synthesis_columns columns = wsss_test::columns_of(sc);
  const auto& imgs = columns.imgs;
  const auto &feats = columns.feats, &cams = columns.cams;
  methods::affinitynet_config cfg;
  const methods::affinitynet<> host(cfg);
  workspace hws;
  std::vector<methods::affinitynet<>::pseudo_labels> want;
  for (std::size_t i = 0; i < sc.size(); ++i) want.push_back(host.synthesize(exec<>{omp, &hws}, imgs[i], feats[i], cams[i], tags[i]));
  CHECK(differing(want[0].rw_crf, want[1].rw_crf) > 300);  // the objects lie elsewhere
  CHECK(differing(want[0].rw_crf, want[4].rw_crf) > 300);
  // The host method labels a batch image by image: the same labels.
  const auto host_batch = host.synthesize(exec<>{omp, &hws}, imgs, feats, cams, tags);
  REQUIRE(host_batch.size() == sc.size());
  for (std::size_t i = 0; i < sc.size(); ++i) CHECK(differing(host_batch[i].rw_crf, want[i].rw_crf) == 0);

  // By size, then tag count: 64 x 90 first, then 75 x 100 with one tag, then the three others.
  const auto order = methods::affinitynet<>::synthesis_order(imgs, tags);
  CHECK(order == std::vector<std::size_t>{2, 3, 0, 1, 4});
  auto gather = [&](const auto& v) {
    std::remove_cvref_t<decltype(v)> out;
    for (std::size_t i : order) out.push_back(v[i]);
    return out;
  };
  const auto imgs_o = gather(imgs);
  const auto feats_o = gather(feats);
  const auto cams_o = gather(cams);
  const auto tags_o = gather(tags);

  auto on = [&](auto tag) {
    using Tag = decltype(tag);
    const methods::affinitynet_on<Tag> dev(cfg);
    workspace ws;
    const exec<> ex{omp, &ws};
    const auto got = dev.synthesize(ex, imgs_o, feats_o, cams_o, tags_o);  // runs: {2}, {3}, {0, 1, 4}
    REQUIRE(got.size() == sc.size());
    index_t differ = 0;
    for (std::size_t k = 0; k < order.size(); ++k)
      differ += differing(got[k].rw, want[order[k]].rw) + differing(got[k].rw_crf, want[order[k]].rw_crf);
    const auto unsorted = dev.synthesize(ex, imgs, feats, cams, tags, false);  // runs: {0, 1}, {2}, {3}, {4}
    for (std::size_t i = 0; i < sc.size(); ++i) differ += differing(unsorted[i].rw_crf, want[i].rw_crf);
    // One device batch moves what one image moves: three images, one set of transfers.
    const auto run = std::span<const std::size_t>(order).subspan(2);
    std::vector<rgb_image> ri;
    std::vector<tensor> rf, rc;
    std::vector<tag_set> rt;
    for (std::size_t i : run) {
      ri.push_back(imgs[i]);
      rf.push_back(feats[i]);
      rc.push_back(cams[i]);
      rt.push_back(tags[i]);
    }
    (void)dev.synthesize(ex, ri, rf, rc, rt);  // plans and buffers for a batch of three
    const auto t0 = backend::transfers();
    const auto three = dev.synthesize(ex, ri, rf, rc, rt);
    const auto d = backend::transfers() - t0;
    for (std::size_t k = 0; k < run.size(); ++k) differ += differing(three[k].rw_crf, want[run[k]].rw_crf);
    MESSAGE(Tag::name, ": ", d.uploads, " uploads, ", d.downloads, " downloads a repeated batch of three");
    return std::pair{differ, d};
  };
  // The same counts as one image (the test above): the features, the CAM planes and the slots
  // up, the two label maps down, the batch's lattices (2 + 2 built where Thrust is, else 12 up).
  const auto [d_thrust, t_thrust] = on(thrust_omp);
  CHECK(d_thrust == 0);
  CHECK(t_thrust.uploads == 3 + 2);
  CHECK(t_thrust.downloads == 2 + 2);
  const auto [d_cpu, t_cpu] = on(cpu);
  CHECK(d_cpu == 0);
  CHECK(t_cpu.uploads == 3 + 12);
  CHECK(t_cpu.downloads == 2);
  const auto [d_cl, t_cl] = on(backend::opencl::default_queue());
  CHECK(d_cl == 0);
  CHECK(t_cl.uploads == 3 + 12);
  CHECK(t_cl.downloads == 2);

  const methods::affinitynet_on<thrust_omp_t> dev(cfg);
  CHECK_THROWS_WITH_AS(dev.synthesize(exec<>{}, imgs, feats, std::span<const tensor>(cams).first(4), tags),
                       doctest::Contains("features, CAMs and tags for each of its 5 images"), shape_error);
}

TEST_CASE("the device confident rule and background unaries equal confident_rule and the host's unaries") {
  // Marginals of a low and a high refinement over [background, 3, 7, 12] on 45 x 61 (the stride
  // grid pads), with exact ties and a corner of padding (every score below no_score).
  const index_t k = 4, hw = kH * kW, cells = kOh * kOw;
  rng r(11);
  tensor q_low = random_uniform({k, kH, kW}, r), q_high = random_uniform({k, kH, kW}, r);
  for (index_t i = 0; i < 40; ++i) q_low[2 * hw + 7 * i] = q_low[7 * i];  // background ties class 7
  for (index_t y = 40; y < kH; ++y)
    for (index_t x = 56; x < kW; ++x)
      for (index_t c = 0; c < k; ++c) q_low[(c * kH + y) * kW + x] = q_high[(c * kH + y) * kW + x] = 1e-6f;
  const label_map want_full = cam::confident_rule(q_low, q_high, kTags, 1e-5f);
  const label_map want_pooled =
      cam::confident_rule(block_average(q_low, kStride), block_average(q_high, kStride), kTags, 1e-5f);
  const tensor cams = tagged_cams(5);
  const std::vector<index_t> planes{2, 6, 11};
  const tensor want_u = crf::unary_from_probabilities(cam::present_channels(cam::with_background(cams, 4.0f), kTags), 1e-5f);
  auto rows = [&](const tensor& q) {  // the CRF plan's layout: k per pixel, pixel-major
    std::vector<float> out(static_cast<std::size_t>(k * hw));
    for (index_t i = 0; i < hw; ++i)
      for (index_t c = 0; c < k; ++c) out[static_cast<std::size_t>(i * k + c)] = q[c * hw + i];
    return out;
  };

  struct result {
    index_t full, pooled;
    float unaries;
  };
  auto on = [&](const auto& tag) {
    using Tag = std::remove_cvref_t<decltype(tag)>;
    using steps = cam::device::cam_steps<Tag>;
    cam::device::cam_buffers<Tag> b;
    backend::resize(tag, b.labels, hw + cells);
    backend::resize(tag, b.top, hw + cells);
    for (int high = 0; high < 2; ++high) {
      const auto q = backend::to_device(tag, std::span<const float>(rows(high ? q_high : q_low)));
      steps::confident(tag, q, b.labels, b.top, {nullptr, nullptr, nullptr, 0, k, kH, kW, 1, kW, 1.0f, 1e-5f, high}, hw);
      steps::confident(tag, q, b.labels, b.top,
                       {nullptr, nullptr, nullptr, hw, k, kH, kW, kStride, kOw, 1.0f / 64, 1e-5f, high}, cells);
    }
    const std::vector<std::uint8_t> both = backend::to_host(tag, b.labels);
    label_map full(kH, kW), pooled(kOh, kOw);
    std::copy_n(both.begin(), hw, full.data());
    std::copy_n(both.begin() + hw, cells, pooled.data());
    cam::upload_planes(tag, cams, planes, b.cams, "test", "tagged");
    backend::device_array<float, Tag> u;
    backend::resize(tag, u, k * hw);
    steps::unaries(tag, b.cams, u, 3, hw, 4.0f, 1e-5f);
    return result{differing(cam::expand_labels(full, kTags), want_full),
                  differing(cam::expand_labels(pooled, kTags), want_pooled),
                  max_abs_diff(backend::to_host(tag, u), std::vector<float>(want_u.begin(), want_u.end()))};
  };
  index_t neutral = 0, background = 0;
  for (index_t i = 0; i < hw; ++i) {
    neutral += want_full[i] == ignore_label;
    background += want_full[i] == 0;
  }
  CHECK(neutral > hw / 8);  // every outcome of the rule is exercised
  CHECK(background > hw / 8);
  CHECK(want_pooled[cells - 1] == ignore_label);  // the padded corner
  for (const result& h : {on(cpu), on(omp), on(thrust_omp)}) {
    CHECK(h.full == 0);  // block_average's sums in its order and argmax_labels' first maximum
    CHECK(h.pooled == 0);
    CHECK(h.unaries <= 2e-6f);  // the host's -log runs 8 lanes at a time
  }
  const result cl = on(backend::opencl::default_queue());
  MESSAGE("OpenCL (PoCL): confident rule ", cl.full, " + ", cl.pooled, " labels differ, unaries max |d| ", cl.unaries);
  CHECK(cl.full == 0);  // sums and products in the C++ order, FP_CONTRACT off: the same bits
  CHECK(cl.pooled == 0);
  CHECK(cl.unaries <= 1e-5f);  // OpenCL's pow may round the background by an ulp before the -log
}

TEST_CASE("affinitynet_on<Tag>::confident keeps the CAM planes and the marginals on the device: the host's regions") {
  scene sc = object_scene();
  for (index_t y = 0; y < 20; ++y)  // the top band in a colour of its own with class 7's CAM at
    for (index_t x = 0; x < 100; ++x)  // 0.2: background at alpha 4 (0.8^4 > 0.2), class 7 at 24
      if (sc.cams[6 * 75 * 100 + y * 100 + x] != 0.0f) {  // (0.8^24 < 0.2): neutral
        sc.cams[6 * 75 * 100 + y * 100 + x] = 0.2f;
        sc.img(y, x, 0) = 60;
        sc.img(y, x, 1) = 60;
        sc.img(y, x, 2) = 220;
      }
  const tag_set tags{3, 7};
  methods::affinitynet_config cfg;
  workspace hws;
  const cam::confident_maps want = methods::affinitynet<>(cfg).confident(exec<>{omp, &hws}, sc.img, sc.cams, tags);
  index_t object = 0, neutral = 0, background = 0;
  for (index_t i = 0; i < want.full.pixels(); ++i) {
    object += want.full[i] == 3;
    neutral += want.full[i] == ignore_label;
    background += want.full[i] == 0;
  }
  MESSAGE("host confident regions: ", object, " object, ", neutral, " neutral, ", background, " background pixels");
  CHECK(object > 500);  // the three outcomes, so the comparison below can fail
  CHECK(neutral > 500);
  CHECK(background > 1000);
  auto on = [&](auto tag) {
    using Tag = decltype(tag);
    const methods::affinitynet_on<Tag> dev(cfg);
    workspace ws;
    const exec<> ex{omp, &ws};
    cam::confident_maps got = dev.confident(ex, sc.img, sc.cams, tags);
    const auto t0 = backend::transfers();
    got = dev.confident(ex, sc.img, sc.cams, tags);  // the plan and buffers in the workspace now
    const auto d = backend::transfers() - t0;
    CHECK(differing(got.full, want.full) == 0);
    CHECK(differing(got.pooled, want.pooled) == 0);
    MESSAGE(Tag::name, ": ", d.uploads, " uploads, ", d.downloads, " downloads an image");
    return d;
  };
  // Per image: the tagged planes up, both maps down in one; plus the CRF's lattices (built on
  // the device from 2 feature uploads and 2 vertex-count downloads where Thrust is, else 12 up).
  const auto on_thrust = on(thrust_omp);
  CHECK(on_thrust.uploads == 1 + 2);
  CHECK(on_thrust.downloads == 1 + 2);
  const auto on_cpu = on(cpu);
  CHECK(on_cpu.uploads == 1 + 12);
  CHECK(on_cpu.downloads == 1);
  const auto on_cl = on(backend::opencl::default_queue());
  CHECK(on_cl.uploads == 1 + 12);
  CHECK(on_cl.downloads == 1);

  const rgb_image& img = sc.img;
  const tensor& cams = sc.cams;
  workspace ws;
  // example-begin confident-device
  // Sec. 3.2.1 with the dense CRF on OpenCL (or cuda_t, thrust_omp_t, ...): the CAM planes of
  // the tags go up once, both refinements and the rule run there, the two maps come down.
  const crf::device_mean_field<opencl_t> crf;
  const cam::confident_maps regions =
      cam::device_confident_regions(exec<>{omp, &ws}, crf, img, cams, tag_set{3, 7}, {.low_alpha = 4, .high_alpha = 24}, 8);
  // regions.full: H x W, class ids / 0 / 255 (neutral); regions.pooled: the 8 x 8 grid's
  // example-end
  CHECK(differing(regions.full, want.full) == 0);
  CHECK(differing(regions.pooled, want.pooled) == 0);
}

TEST_CASE("cam::device_confident_regions names what is wrong with its inputs") {
  const scene sc = object_scene();
  const crf::device_mean_field<cpu_t> crf;
  const exec<> ex;
  const cam::confident_config cfg;
  CHECK_THROWS_WITH_AS(cam::device_confident_regions(ex, crf, sc.img, sc.cams, tag_set{3}, cfg, 8),
                       doctest::Contains("CAM channel 6 is non-zero but not among the channels tagged"), value_error);
  CHECK_THROWS_WITH_AS(cam::device_confident_regions(ex, crf, rgb_image(70, 100), sc.cams, tag_set{3, 7}, cfg, 8),
                       doctest::Contains("image is 70x100 but the CAMs are 75x100"), shape_error);
  CHECK_THROWS_AS(cam::device_confident_regions(ex, crf, sc.img, sc.cams, tag_set{3, 21}, cfg, 8), value_error);
  CHECK_THROWS_AS(cam::device_confident_regions(ex, crf, sc.img, sc.cams, tag_set{3, 7}, cfg, 0), value_error);
  CHECK_THROWS_AS(cam::device_confident_regions(ex, crf, sc.img, sc.cams, tag_set{3, 7}, {.low_alpha = 30.0f}, 8),
                  value_error);
  tensor bad = sc.cams;
  bad[2 * 75 * 100 + 10] = NAN;
  CHECK_THROWS_AS(cam::device_confident_regions(ex, crf, sc.img, bad, tag_set{3, 7}, cfg, 8), value_error);
}
