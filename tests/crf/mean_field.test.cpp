// SPDX-License-Identifier: MIT
// tests/crf/mean_field.test.cpp — mean field: lattice vs exact, energy descent, T = 0, clamps,
// batches, compatibility policies and input errors
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "support.hpp"
#include "wsss/crf.hpp"

using namespace wsss;
using crf_test::disc_image;
using crf_test::random_unary;

namespace {

// Unaries that favour the disc (label 1) inside and background (0) outside, with noise.
tensor disc_unary(const rgb_image& img, index_t k, std::uint64_t seed) {
  rng g(seed);
  const index_t h = img.height(), w = img.width();
  tensor u({1, k, h, w});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      const int truth = img(y, x, 0) > 120 ? 1 : 0;
      for (index_t c = 0; c < k; ++c) u(0, c, y, x) = static_cast<float>((c == truth ? 0.6 : 1.0) + 0.8 * g.uniform());
    }
  return u;
}

}  // namespace

TEST_CASE("mean_field: permutohedral agrees with the exact filter on small images") {
  // Stated tolerance: labels agree on >= 99% of pixels, max |dQ| < 0.01 (the lattice is an
  // approximation of the Gaussian; its row-normalised error is about 1-3%, filter.test.cpp).
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    const rgb_image img = disc_image(24, 30, seed);
    const tensor u = disc_unary(img, 3, seed + 10);
    crf::mean_field_config cfg;
    cfg.kernels.spatial_scale = 8.0f;  // keep the appearance kernel inside the tiny image
    crf::mean_field<crf::permutohedral> lat(cfg);
    crf::mean_field<crf::exact_filter> ex(cfg);
    const tensor qa = lat.infer(u, img);
    const tensor qb = ex.infer(u, img);
    double worst = 0;
    for (index_t i = 0; i < qa.numel(); ++i) worst = std::max(worst, static_cast<double>(std::abs(qa[i] - qb[i])));
    const label_map la = argmax_labels(qa), lb = argmax_labels(qb);
    index_t same = 0;
    for (index_t i = 0; i < la.pixels(); ++i) same += la[i] == lb[i];
    MESSAGE("max |dQ| " << worst << ", label agreement " << double(same) / la.pixels());
    CHECK(worst < 0.01);
    CHECK(double(same) / la.pixels() >= 0.99);
  }
}

TEST_CASE("mean_field: sequential update with the exact filter and Potts never increases the energy") {
  const rgb_image img = disc_image(9, 11, 4, 25.0);
  const tensor u = random_unary(1, 3, 9, 11, 5, 3.0);
  for (auto nm : {crf::normalization::symmetric, crf::normalization::none}) {
    INFO(crf::to_string(nm));
    crf::kernel_config kc;
    kc.spatial_scale = 10.0f;
    kc.norm = nm;
    const crf::image_plan<crf::exact_filter> plan(crf::rgb_guide(img), kc);
    const float scale = nm == crf::normalization::none ? 0.3f : 1.0f;  // raw K sums are larger
    const auto r = crf::mean_field_sequential(plan, u, 3.0f * scale, 10.0f * scale, 3);
    REQUIRE(r.energy.size() == 3 * 99 + 1);
    double worst_rise = 0;
    for (std::size_t i = 1; i < r.energy.size(); ++i) worst_rise = std::max(worst_rise, r.energy[i] - r.energy[i - 1]);
    MESSAGE("E0 " << r.energy.front() << " -> " << r.energy.back() << ", largest single rise " << worst_rise);
    CHECK(worst_rise <= 1e-5 * std::abs(r.energy.front()));
    CHECK(r.energy.back() < r.energy.front() - 1.0);
  }
}

TEST_CASE("mean_field: T = 0 returns softmax(-U), parallel energy is reported per image") {
  const rgb_image img = disc_image(8, 10, 6);
  const tensor u = random_unary(1, 4, 8, 10, 7);
  crf::mean_field_config cfg;
  cfg.iterations = 0;
  crf::mean_field<> mf(cfg);
  const tensor q = mf.infer(u, img);
  const index_t n = 80;
  for (index_t p = 0; p < n; ++p) {
    double z = 0;
    for (index_t c = 0; c < 4; ++c) z += std::exp(-static_cast<double>(u[c * n + p]));
    for (index_t c = 0; c < 4; ++c) CHECK(q[c * n + p] == doctest::Approx(std::exp(-u[c * n + p]) / z).epsilon(1e-5));
  }
  // Energy: the explicit formula against the engine's report, on the exact filter.
  cfg.iterations = 3;
  crf::mean_field<crf::exact_filter> ex(cfg);
  std::vector<rgb_image> imgs{img};
  const exec<> on;
  auto plan = ex.prepare(on, images_only(imgs), u.shape());
  tensor q3;
  ex.run(on, plan, u, q3);
  const std::vector<double> e = ex.energy(on, plan, u, q3);
  const auto& plans = plan.images;
  REQUIRE(e.size() == 1);
  double ref = 0;
  for (index_t p = 0; p < n; ++p)
    for (index_t c = 0; c < 4; ++c) {
      double m = 0;
      for (index_t j = 0; j < n; ++j)
        m += 3.0 * plans[0].smoothness.weight(p, j) * q3[c * n + j] + 10.0 * plans[0].appearance.weight(p, j) * q3[c * n + j];
      const double qc = q3[c * n + p];
      ref += qc * (u[c * n + p] - 0.5 * m + std::log(qc));
    }
  CHECK(e[0] == doctest::Approx(ref).epsilon(1e-4));
}

TEST_CASE("mean_field: a batch equals its images run one by one, learned(-I) equals Potts") {
  std::vector<rgb_image> imgs{disc_image(12, 10, 1), disc_image(12, 10, 2)};
  const tensor u = random_unary(2, 5, 12, 10, 3);
  crf::mean_field<> mf;
  const tensor q = mf.infer(u, images_only(imgs));
  for (index_t b = 0; b < 2; ++b) {
    const index_t per = 5 * 120;
    const tensor ub = tensor::from({1, 5, 12, 10}, std::span<const float>(u.data() + b * per, per));
    const tensor qb = mf.infer(ub, imgs[static_cast<std::size_t>(b)]);
    for (index_t i = 0; i < per; ++i) CHECK(q[b * per + i] == doctest::Approx(qb[i]).epsilon(1e-6));
  }
  crf::mean_field<crf::permutohedral, crf::learned> ml({}, crf::learned::potts_init(5));
  const tensor q2 = ml.infer(u, images_only(imgs));
  double worst = 0;
  for (index_t i = 0; i < q.numel(); ++i) worst = std::max(worst, static_cast<double>(std::abs(q[i] - q2[i])));
  CHECK(worst < 1e-5);
}

TEST_CASE("mean_field: appearance features of any dimension (a 1-channel depth guide)") {
  const index_t h = 10, w = 12;
  tensor depth({1, 1, h, w});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) depth(0, 0, y, x) = x < w / 2 ? 10.0f : 200.0f;
  const tensor u = random_unary(1, 2, h, w, 4);
  crf::mean_field_config cfg;
  cfg.kernels.spatial_scale = 8.0f;
  cfg.kernels.appearance.weight = 20.0f;
  crf::mean_field<> lat(cfg);
  const exec<> on;
  auto plans = lat.prepare_guides(on, depth, u.shape());
  REQUIRE(plans.images[0].appearance.dims() == 3);
  tensor q, qe;
  lat.run(on, plans, u, q);
  crf::mean_field<crf::exact_filter> ex(cfg);
  auto eplans = ex.prepare_guides(on, depth, u.shape());
  ex.run(on, eplans, u, qe);
  for (index_t i = 0; i < q.numel(); ++i) CHECK(q[i] == doctest::Approx(qe[i]).epsilon(0.02));
  // The depth edge separates the halves: each half ends up one label.
  const label_map l = argmax_labels(q);
  for (index_t y = 0; y < h; ++y) {
    CHECK(l(y, 0) == l(y, w / 2 - 1));
    CHECK(l(y, w / 2) == l(y, w - 1));
  }
}

TEST_CASE("mean_field: clamped pixels keep their labels (Bbox-Seg)") {
  const rgb_image img = disc_image(30, 30, 9, 5.0);
  const std::vector<crf::box> boxes{{6, 6, 24, 24, 1}};
  const label_map clamp = crf::clamp_from_boxes(30, 30, boxes, 0.2f);
  // Outside the box background, centre (sqrt(0.2) of each side) the box label, rest free.
  CHECK(int(clamp(0, 0)) == 0);
  CHECK(int(clamp(15, 15)) == 1);
  CHECK(int(clamp(7, 7)) == int(ignore_label));
  index_t centre = 0;
  for (index_t i = 0; i < clamp.pixels(); ++i) centre += clamp[i] == 1;
  CHECK(std::abs(double(centre) / (18 * 18) - 0.2) < 0.05);
  const label_map seg = crf::bbox_seg(img, boxes, 2, 0.2f);
  for (index_t i = 0; i < clamp.pixels(); ++i)
    if (clamp[i] != ignore_label) CHECK(seg[i] == clamp[i]);
  // Inside the box the disc (bright) goes to the box label, the dark corners to background.
  CHECK(int(seg(15, 9)) == 1);
  CHECK(int(seg(7, 7)) == 0);
}

TEST_CASE("mean_field: named errors for wrong shapes, sizes, values and labels") {
  const rgb_image img = disc_image(6, 7, 1);
  crf::mean_field<> mf;
  const batch one = images_only(std::span<const rgb_image>(&img, 1));
  CHECK_THROWS_WITH_AS(mf.infer(tensor({2, 6, 7}), one), doctest::Contains("[wsss.shape] crf::mean_field: unary must be rank 4"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(mf.infer(tensor({1, 2, 6, 8}), one), doctest::Contains("[wsss.shape] crf::mean_field: image is 6x7"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(mf.infer(tensor({2, 2, 6, 7}), one), doctest::Contains("[wsss.shape] crf::mean_field: unary batch is 2"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(mf.infer(tensor({1, 0, 6, 7}), one), doctest::Contains("[wsss.value] crf::mean_field: unary has zero labels"),
                       wsss::value_error);
  tensor bad({1, 2, 6, 7});
  bad[5] = std::nanf("");
  CHECK_THROWS_WITH_AS(mf.infer(bad, one), doctest::Contains("[wsss.value] crf::mean_field: unary has a non-finite value"),
                       wsss::value_error);
  label_map cl(6, 7, ignore_label);
  cl[3] = 4;
  CHECK_THROWS_WITH_AS(mf.infer(tensor({1, 2, 6, 7}), batch{.images = one.images, .labels = std::span<const label_map>(&cl, 1)}),
                       doctest::Contains("[wsss.value] crf::mean_field: clamp label 4"), wsss::value_error);
  crf::mean_field_config c;
  c.kernels.appearance.sfeat = 0;
  CHECK_THROWS_WITH_AS(crf::mean_field<>{c}, doctest::Contains("[wsss.value] crf::mean_field: kernel deviations"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(crf::permutohedral(tensor({3, 0})), doctest::Contains("[wsss.shape] crf::permutohedral"), wsss::shape_error);
  CHECK_THROWS_WITH_AS(crf::exact_filter(tensor({2, 5000})), doctest::Contains("[wsss.shape] crf::exact_filter: the O(N^2)"),
                       wsss::shape_error);
  crf::permutohedral lat(crf::position_features(6, 7, 3.0f));
  CHECK_THROWS_WITH_AS(lat.apply(tensor({2, 41})), doctest::Contains("[wsss.shape] crf::permutohedral: input has 41 pixels"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(crf::learned(tensor({2, 3})), doctest::Contains("[wsss.shape] crf::learned: mu must be square"),
                       wsss::shape_error);
  crf::mean_field<crf::permutohedral, crf::learned> ml({}, crf::learned::potts_init(3));
  CHECK_THROWS_WITH_AS(ml.infer(tensor({1, 2, 6, 7}), one), doctest::Contains("[wsss.shape] crf::learned: compatibility is 3x3"),
                       wsss::shape_error);
}

TEST_CASE("mean_field: edge cases (one label, one pixel, labels beyond 32, huge features)") {
  const rgb_image img = disc_image(5, 4, 2);
  crf::mean_field<> mf;
  const tensor q1 = mf.infer(random_unary(1, 1, 5, 4, 1), img);
  for (float v : q1) CHECK(v == doctest::Approx(1.0f));
  const rgb_image dot(1, 1, 77);
  const tensor u = random_unary(1, 3, 1, 1, 2);
  const tensor qd = mf.infer(u, dot);
  double s = 0;
  for (float v : qd) s += v;
  CHECK(s == doctest::Approx(1.0));
  // 40 labels: rows of 40 channels take the run-time-width paths; compare with the exact filter.
  // Weak kernels keep mean field contractive: with near-uniform unaries and the default
  // weights it breaks symmetry, and any filter difference picks another winner.
  crf::mean_field_config cfg;
  cfg.kernels.spatial_scale = 8.0f;
  cfg.kernels.smoothness.weight = 0.3f;
  cfg.kernels.appearance.weight = 1.0f;
  const tensor u40 = random_unary(1, 40, 5, 4, 3);
  const tensor qa = crf::mean_field<>(cfg).infer(u40, img);
  const tensor qb = crf::mean_field<crf::exact_filter>(cfg).infer(u40, img);
  double worst = 0;
  for (index_t i = 0; i < qa.numel(); ++i) worst = std::max(worst, static_cast<double>(std::abs(qa[i] - qb[i])));
  CHECK(worst < 0.005);
  tensor far({2, 3});
  far[0] = 1e6f;
  CHECK_THROWS_WITH_AS(crf::permutohedral{far}, doctest::Contains("[wsss.value] crf::permutohedral: features span more"),
                       wsss::value_error);
}

TEST_CASE("mean_field: the pipelined update equals plain filter-then-softmax steps (1 and 2 threads)") {
  // Independent loop over the public filter API: tmp = -U + w_s F_s Q + w_a F_a Q, Q = softmax(tmp).
  // The pipelined pass splats each new row at once, in the same per-part pixel order as
  // apply_add's splat; with 2 threads the two splat parts are summed after the pass.
  const int threads = backend::max_threads();
  for (const int run_threads : {1, 2}) {
    CAPTURE(run_threads);
    backend::set_num_threads(run_threads);
    const index_t h = 30, w = 40, k = 21, n = h * w, ld = crf::detail::padded(k);
    const rgb_image img = disc_image(h, w, 5);
    const tensor u = random_unary(1, k, h, w, 6);
    label_map clamp(h, w);
    for (index_t i = 0; i < n; ++i) clamp[i] = i % 7 == 0 ? static_cast<std::uint8_t>(i % k) : ignore_label;
    crf::mean_field_config cfg;
    cfg.iterations = 4;
    cfg.kernels.spatial_scale = 6.0f;
    crf::mean_field<> mf(cfg);
    const tensor q = mf.infer(u, batch{.images = std::span<const rgb_image>(&img, 1), .labels = std::span<const label_map>(&clamp, 1)});
    crf::image_plan<crf::permutohedral> plan(crf::rgb_guide(img), cfg.kernels);
    std::vector<float> negu(static_cast<std::size_t>(n * ld)), qi(negu.size()), tmp(negu.size()), out(negu.size());
    crf::detail::interleave(wsss::omp, u.data(), negu.data(), k, n, ld, -1.0f, crf::detail::negu_pad);
    crf::detail::softmax_rows(wsss::omp, negu.data(), qi.data(), clamp.data(), k, n, ld);
    for (int t = 0; t < cfg.iterations; ++t) {
      tmp = negu;
      plan.smoothness.apply_add(qi.data(), tmp.data(), ld, cfg.kernels.smoothness.weight);
      plan.appearance.apply_add(qi.data(), tmp.data(), ld, cfg.kernels.appearance.weight);
      crf::detail::softmax_rows(wsss::omp, tmp.data(), qi.data(), clamp.data(), k, n, ld);
    }
    crf::detail::deinterleave(wsss::omp, qi.data(), out.data(), k, n, ld);
    backend::set_num_threads(threads);
    double worst = 0;
    for (index_t i = 0; i < k * n; ++i) worst = std::max(worst, static_cast<double>(std::abs(q[i] - out[static_cast<std::size_t>(i)])));
    CHECK(worst < 1e-6);
    for (index_t i = 0; i < n; i += 7) CHECK(q[(i % k) * n + i] == 1.0f);
  }
}

TEST_CASE("mean_field: a plan reused on a busier image (more lattice vertices) equals a fresh one") {
  // A plan prepared again keeps its blur buffers; the second image's lattices have many more
  // vertices than the first's, so the buffers must grow.
  const index_t h = 24, w = 32, k = 5;
  rgb_image flat(h, w);
  for (index_t i = 0; i < h * w * 3; ++i) flat.data()[i] = 128;
  const rgb_image busy = disc_image(h, w, 11, 80.0);
  const tensor u = random_unary(1, k, h, w, 12);
  crf::mean_field<> mf;
  crf::image_plan<crf::permutohedral> pf(crf::rgb_guide(flat), crf::kernel_config{}),
      pb(crf::rgb_guide(busy), crf::kernel_config{});
  REQUIRE(pb.appearance.vertices() > 4 * pf.appearance.vertices());
  workspace reused, fresh;  // the one-call infer keeps its plan in the exec's workspace
  (void)mf.infer(u, flat, on(wsss::omp, reused));
  const tensor q1 = mf.infer(u, busy, on(wsss::omp, reused));
  const tensor q2 = mf.infer(u, busy, on(wsss::omp, fresh));
  REQUIRE(q1.numel() == q2.numel());
  for (index_t i = 0; i < q1.numel(); ++i) REQUIRE(q1[i] == q2[i]);
}
