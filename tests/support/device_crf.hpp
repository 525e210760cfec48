// SPDX-License-Identifier: MIT
// tests/support/device_crf.hpp — the parity checks of crf::device_mean_field and
// crf::device_crf_rnn against the host engines, run per backend (Thrust's OpenMP system,
// OpenCL on PoCL, CUDA on a GPU host)
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "crf/support.hpp"
#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/reduce.hpp"
#include "wsss/backend/device_memory.hpp"
#include "wsss/core/random.hpp"
#include "wsss/crf/crf_rnn.hpp"
#include "wsss/crf/device_crf_rnn.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/crf/mean_field.hpp"

namespace device_crf_test {

using namespace wsss;

/// Random unaries b x k x h x w in [0, 3) whose argmax leans to label 1 inside the disc: mean
/// field has labels to move.
inline tensor disc_unary(index_t b, index_t k, index_t h, index_t w, std::uint64_t seed) {
  tensor u = crf_test::random_unary(b, k, h, w, seed, 3.0);
  for (index_t i = 0; i < b; ++i)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        const double dy = y - h / 2.0, dx = x - w / 2.0;
        const index_t c = dx * dx + dy * dy < 0.1 * h * w ? 1 : 0;
        u[((i * k + c) * h + y) * w + x] -= 1.0f;
      }
  return u;
}

/// argmax over K of Q (N x K x H x W), image-major.
inline std::vector<std::uint8_t> labels_of(const tensor& q) {
  const index_t b = q.dim(0), k = q.dim(1), n = q.dim(2) * q.dim(3);
  std::vector<std::uint8_t> out;
  for (index_t i = 0; i < b; ++i)
    for (index_t p = 0; p < n; ++p) {
      index_t best = 0;
      for (index_t c = 1; c < k; ++c)
        if (q[(i * k + c) * n + p] > q[(i * k + best) * n + p]) best = c;
      out.push_back(static_cast<std::uint8_t>(best));
    }
  return out;
}

inline float max_abs_diff(const tensor& a, const tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float d = 0;
  for (index_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

/// A batch of two images, with and without clamps, through device_mean_field<Tag> and the host
/// mean_field<>: Q within `tolerance`, labels identical (from run and from labels()), clamped
/// pixels kept, and the transfers the engine promises (prepare: 12 uploads with the host build,
/// 2 and 2 downloads with the device build, one more upload with clamps; run and labels one
/// upload and one download each). Returns the largest |dQ| seen.
template <class Tag>
float check_against_host(const exec<Tag>& ex, float tolerance, index_t k = 5, index_t h = 37, index_t w = 45) {
  const index_t b = 2, n = h * w;
  const std::vector<rgb_image> images{crf_test::disc_image(h, w, 3), crf_test::disc_image(h, w, 4, 25.0)};
  const tensor u = disc_unary(b, k, h, w, 7);
  std::vector<label_map> clamps{label_map(h, w, 255), label_map(h, w, 255)};
  for (index_t p = 0; p < n; p += 11) clamps[1][p] = static_cast<std::uint8_t>(p % k);
  crf::mean_field_config cfg;
  cfg.kernels.appearance.sxy = 20.0f;  // small images: a narrower appearance kernel than VOC's 80
  cfg.iterations = 6;
  const crf::device_mean_field<Tag> dev(cfg);
  float worst = 0;
  for (const bool clamped : {false, true}) {
    CAPTURE(clamped);
    batch bt{.images = images};
    if (clamped) bt.labels = clamps;
    const tensor ref = crf::mean_field<>(cfg).infer(u, bt);
    auto t0 = backend::transfers();
    auto pl = dev.prepare(ex, bt, u.shape());
    // Host build: six arrays per lattice; device build (Thrust backends): the features of each
    // lattice up, its vertex count down. Plus the clamp maps.
    const auto prepared = backend::transfers() - t0;
    const std::uint64_t lattice_uploads = backend::thrust_system<Tag>::available ? 2 : 12;
    CHECK(prepared.uploads == lattice_uploads + (clamped ? 1 : 0));
    CHECK(prepared.downloads == (backend::thrust_system<Tag>::available ? 2u : 0u));
    tensor q;
    for (int repeat = 0; repeat < 2; ++repeat) {  // a second run re-sends nothing but the unaries
      t0 = backend::transfers();
      dev.run(ex, pl, u, q);
      const auto bytes = static_cast<std::uint64_t>(u.numel()) * 4;
      CHECK(backend::transfers() - t0 == backend::transfer_counts{1, 1, bytes, bytes});
    }
    const float err = max_abs_diff(q, ref);
    MESSAGE(Tag::name, ": max |dQ| against the host mean field: ", err);
    CHECK(err < tolerance);
    worst = std::max(worst, err);
    const auto want = labels_of(ref);
    CHECK(labels_of(q) == want);
    t0 = backend::transfers();
    const std::vector<label_map> maps = dev.labels(ex, pl, u);
    CHECK(backend::transfers() - t0 ==
          backend::transfer_counts{1, 1, static_cast<std::uint64_t>(u.numel()) * 4, static_cast<std::uint64_t>(b * n)});
    REQUIRE(maps.size() == 2);
    for (index_t i = 0; i < b; ++i)
      for (index_t p = 0; p < n; ++p) REQUIRE(maps[static_cast<std::size_t>(i)][p] == want[static_cast<std::size_t>(i * n + p)]);
    if (clamped)
      for (index_t p = 0; p < n; p += 11) REQUIRE(maps[1][p] == p % k);
    // Solving again on the device moves nothing.
    t0 = backend::transfers();
    dev.solve(ex, pl);
    CHECK(backend::transfers() - t0 == backend::transfer_counts{});
  }
  return worst;
}

/// Two h x w disc images (seeds `seed`, `seed` + 1, the second brighter), their k-label disc
/// unaries, and clamps on the second image (every 11th pixel fixed to p % k): the backward
/// checks' batch.
struct clamped_pair {
  std::vector<rgb_image> images;
  tensor unary;
  std::vector<label_map> clamps;
  clamped_pair(index_t k, index_t h, index_t w, std::uint64_t seed)
      : images{crf_test::disc_image(h, w, seed), crf_test::disc_image(h, w, seed + 1, 25.0)},
        unary(disc_unary(2, k, h, w, seed + 4)),
        clamps{label_map(h, w, 255), label_map(h, w, 255)} {
    for (index_t p = 0; p < h * w; p += 11) clamps[1][p] = static_cast<std::uint8_t>(p % k);
  }
  batch as_batch() const { return {.images = images, .labels = clamps}; }
};

/// The gradient of sum(Q ⊙ g) w.r.t. U through device_mean_field<Tag>::record and through
/// mean_field<>::record (Potts) on the same batch of two images with clamps: equal within
/// tolerance x max(1, max |g_U|). Returns the largest difference.
template <class Tag>
float check_gradients_against_host(const exec<Tag>& ex, float tolerance) {
  const clamped_pair in(5, 37, 45, 3);
  const tensor& u = in.unary;
  const batch bt = in.as_batch();
  crf::mean_field_config cfg;
  cfg.kernels.appearance.sxy = 20.0f;
  cfg.iterations = 6;
  rng g(12);
  const tensor gy = random_uniform(u.shape(), g, -1.0, 1.0);
  auto grads = [&](const auto& engine, auto on) {
    auto pl = engine.prepare(on, bt, u.shape());
    ad::tape t;
    const ad::var x = t.leaf(u, true);
    t.backward(ad::sum(ad::mul(engine.record(t, pl, x), t.leaf(gy))));
    return *t.grad(x);
  };
  const tensor host = grads(crf::mean_field<>(cfg), exec<>{});
  const tensor dev = grads(crf::device_mean_field<Tag>(cfg), ex);
  float scale = 0;
  for (const float v : host) scale = std::max(scale, std::abs(v));
  const float d = max_abs_diff(dev, host);
  MESSAGE(Tag::name, ": max |dg_U| against the host mean_field_op: ", d, " (max |g_U| ", scale, ")");
  CHECK(scale > 0.1f);
  CHECK(d <= tolerance * std::max(1.0f, scale));
  return d;
}

/// CRF-RNN on a device against the host's crf_rnn<> on a batch of two images with clamps and a
/// non-symmetric mu: Q (run) and the gradients of sum(Q ⊙ g) w.r.t. U, mu and the kernel
/// weights (record), each within tolerance x max(1, its largest magnitude). Returns the largest
/// relative difference.
template <class Tag>
float check_crf_rnn_against_host(const exec<Tag>& ex, float tolerance) {
  const index_t k = 4;
  const clamped_pair in(k, 29, 33, 5);
  const tensor& u = in.unary;
  const batch bt = in.as_batch();
  crf::crf_rnn<>::config cfg{.iterations = 4, .labels = k};
  cfg.kernels.appearance.sxy = 20.0f;
  rng g(31);
  const tensor gy = random_uniform(u.shape(), g, -1.0, 1.0);
  tensor mu = random_uniform({k, k}, g, -0.3, 0.3);  // -I plus a non-symmetric part
  for (index_t l = 0; l < k; ++l) mu(l, l) -= 1.0f;
  const tensor weights = tensor::from({2}, std::span<const float>(std::vector<float>{2.5f, 4.0f}));
  auto results = [&](auto engine, auto on) {
    engine.compat.value = mu;
    engine.kernel_weights.value = weights;
    auto pl = engine.prepare(on, bt, u.shape());
    tensor q;
    engine.run(on, pl, u, q);
    ad::tape t;
    const ad::var x = t.leaf(u, true);
    t.backward(ad::sum(ad::mul(engine.record(t, pl, x), t.leaf(gy))));
    return std::vector<tensor>{q, *t.grad(x), engine.compat.grad, engine.kernel_weights.grad};
  };
  const std::vector<tensor> host = results(crf::crf_rnn<>(cfg), exec<>{});
  const std::vector<tensor> dev = results(crf::device_crf_rnn<Tag>(cfg), ex);
  const std::string what[] = {"Q", "g_U", "g_mu", "g_w"};
  float worst = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    float scale = 0;
    for (const float v : host[i]) scale = std::max(scale, std::abs(v));
    const float d = max_abs_diff(dev[i], host[i]) / std::max(1.0f, scale);
    MESSAGE(Tag::name, ": device_crf_rnn against crf_rnn<>, ", what[i], ": max |d| / max(1, max |.|) = ", d, " (max |.| ",
            scale, ")");
    CHECK(scale > 0.01f);  // every gradient is there to compare
    CHECK(d <= tolerance);
    worst = std::max(worst, d);
  }
  CHECK(labels_of(dev[0]) == labels_of(host[0]));
  return worst;
}

}  // namespace device_crf_test
