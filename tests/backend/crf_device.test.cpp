// SPDX-License-Identifier: MIT
// tests/backend/crf_device.test.cpp — the dense CRF's device pipeline (crf::device_mean_field)
// run through Thrust's OpenMP system and the host launchers, against the host engine
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include <wsss/autodiff/grad_check.hpp>
#include <wsss/autodiff/ops/pointwise.hpp>
#include <wsss/autodiff/ops/elementwise.hpp>
#include <wsss/autodiff/ops/reduce.hpp>
#include <wsss/backend/thrust/for_each_index.hpp>
#include <wsss/crf/device_mean_field.hpp>
#include <wsss/crf/mean_field.hpp>
#include <wsss/losses/constrain.hpp>
#include <wsss/opencl.hpp>

#include "crf/support.hpp"
#include "support/device_crf.hpp"

using namespace wsss;
using device_crf_test::disc_unary;
using device_crf_test::labels_of;
using device_crf_test::max_abs_diff;

namespace {
bool same_bits(const tensor& a, const tensor& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

// got: 1.5 F x (or F^T x) for two images' rows laid side by side (2 n x k), x per image k x n;
// checked against each image's host filter within 1e-5 of its largest output.
void check_against(std::vector<crf::permutohedral>& host, const tensor& x, const std::vector<float>& got, bool transpose) {
  const index_t k = x.dim(1), n = x.dim(2);
  for (index_t i = 0; i < 2; ++i) {
    const tensor xi = tensor::from({k, n}, std::span<const float>(x.data() + i * k * n, static_cast<std::size_t>(k * n)));
    auto& f = host[static_cast<std::size_t>(i)];
    const tensor ref = transpose ? f.apply_transpose(xi) : f.apply(xi);
    float scale = 0, err = 0;
    for (index_t c = 0; c < k; ++c)
      for (index_t p = 0; p < n; ++p) {
        scale = std::max(scale, std::abs(ref[c * n + p]));
        err = std::max(err, std::abs(got[static_cast<std::size_t>((i * n + p) * k + c)] - 1.5f * ref[c * n + p]));
      }
    CAPTURE(i);
    CHECK(scale > 0.5f);
    CHECK(err <= 1e-5f * scale);
  }
}
}  // namespace

TEST_CASE("device lattice: the flat, gathered filter of a batch equals each image's permutohedral filter") {
  const index_t h = 23, w = 31, n = h * w, k = 3;
  const rgb_image im0 = crf_test::disc_image(h, w, 1), im1 = crf_test::disc_image(h, w, 2, 30.0);
  for (const bool appearance : {false, true}) {
    CAPTURE(appearance);
    std::vector<crf::permutohedral> host;
    for (const rgb_image* im : {&im0, &im1})
      host.emplace_back(appearance ? crf::appearance_features(crf::rgb_guide(*im), 10.0f, 13.0f)
                                   : crf::position_features(h, w, 3.0f));
    crf::device::flat_lattice flat;
    for (const auto& f : host) flat.append(f);
    CHECK(flat.n == 2 * n);
    CHECK(flat.m == host[0].vertices() + host[1].vertices());
    CHECK(flat.off.back() == static_cast<std::int32_t>(2 * n * (flat.dp1)));

    wsss::rng g(5);
    const tensor x = random_uniform({2, k, n}, g, -1.0, 2.0);  // per image L x N
    std::vector<float> rows(static_cast<std::size_t>(2 * n * k));
    for (index_t i = 0; i < 2; ++i)
      for (index_t c = 0; c < k; ++c)
        for (index_t p = 0; p < n; ++p) rows[static_cast<std::size_t>((i * n + p) * k + c)] = x[(i * k + c) * n + p];
    // The flat lattice uploaded, and the lattice built on the device from the batch's features
    // (F and F^T, both against the host filter).
    crf::device::lattice<thrust_omp_t> uploaded, built;
    uploaded.upload(thrust_omp, flat, k);
    const tensor f0 = host[0].dims() == 2 ? crf::position_features(h, w, 3.0f)
                                          : crf::appearance_features(crf::rgb_guide(im0), 10.0f, 13.0f);
    const tensor f1 = appearance ? crf::appearance_features(crf::rgb_guide(im1), 10.0f, 13.0f) : f0;
    tensor both = tensor::uninitialized({f0.dim(0), 2 * n});
    for (index_t r = 0; r < f0.dim(0); ++r) {
      std::copy(f0.data() + r * n, f0.data() + (r + 1) * n, both.data() + r * 2 * n);
      std::copy(f1.data() + r * n, f1.data() + (r + 1) * n, both.data() + r * 2 * n + n);
    }
    crf::device::build_detail::scratch<thrust_omp_t, 2> scratch;
    crf::device::build_lattice(thrust_omp, built, scratch, both, n, k, crf::normalization::symmetric);
    CHECK(built.m == flat.m);  // the same vertices, numbered otherwise
    uploaded.upload_transpose(thrust_omp, flat);
    const auto dq = backend::to_device(thrust_omp, std::span<const float>(rows));
    for (const bool transpose : {false, true})
      for (auto* l : {&uploaded, &built}) {
        CAPTURE(transpose);
        CAPTURE(l == &built);
        backend::device_array<float, thrust_omp_t> out(rows.size());
        crf::device::steps<thrust_omp_t>::slice(thrust_omp, *l, l->slice_weights(transpose),
                                                l->filter(thrust_omp, dq, transpose), 1.5f, out);
        check_against(host, x, backend::to_host(thrust_omp, out), transpose);
      }
  }
}

TEST_CASE("device lattice: F^T is the adjoint of F (<F x, y> = <x, F^T y>) on a device-built lattice") {
  const index_t h = 17, w = 21, n = h * w, k = 2;
  const tensor f = crf::appearance_features(crf::rgb_guide(crf_test::disc_image(h, w, 9)), 6.0f, 13.0f);
  crf::device::lattice<thrust_omp_t> l;
  crf::device::build_detail::scratch<thrust_omp_t, 2> scratch;
  crf::device::build_lattice(thrust_omp, l, scratch, f, n, k, crf::normalization::symmetric);
  wsss::rng g(3);
  const tensor x = random_uniform({n * k}, g, -1.0, 1.0), y = random_uniform({n * k}, g, -1.0, 1.0);
  auto apply = [&](const tensor& in, bool transpose) {
    const auto d = backend::to_device(thrust_omp, in.span());
    backend::device_array<float, thrust_omp_t> out(static_cast<std::size_t>(n * k));
    crf::device::steps<thrust_omp_t>::slice(thrust_omp, l, l.slice_weights(transpose), l.filter(thrust_omp, d, transpose),
                                            1.0f, out);
    return backend::to_host(thrust_omp, out);
  };
  const std::vector<float> fx = apply(x, false), fty = apply(y, true);
  double a = 0, b = 0;
  for (index_t i = 0; i < n * k; ++i) {
    a += static_cast<double>(fx[static_cast<std::size_t>(i)]) * y[i];
    b += static_cast<double>(x[i]) * fty[static_cast<std::size_t>(i)];
  }
  CHECK(a == doctest::Approx(b).epsilon(1e-5));
}

TEST_CASE("device lattice: the device build refuses features beyond the int16 keys as the host build does") {
  tensor f = crf::position_features(4, 5, 1.0f);
  f[3] = 1e9f;
  crf::device::lattice<thrust_omp_t> l;
  crf::device::build_detail::scratch<thrust_omp_t, 1> scratch;
  CHECK_THROWS_WITH_AS(crf::device::build_lattice(thrust_omp, l, scratch, f, 20, 1, crf::normalization::symmetric),
                       doctest::Contains("int16 keys"), value_error);
}

TEST_CASE("device_mean_field: the same Q as mean_field<> (labels identical), batched, with clamps") {
  // Measured 2.4e-7 (4.2e-7 clamped) with gcc -O3, 4.7e-6 with clang -O1 (CI's sanitizer
  // build): only the sums' rounding differs from the host engine's.
  device_crf_test::check_against_host(exec<thrust_omp_t>{}, 1e-5f);
}

TEST_CASE("device_mean_field: host launchers give the same bits, the device build agrees, labels move off the unary argmax") {
  const index_t k = 4, h = 29, w = 33;
  const rgb_image im = crf_test::disc_image(h, w, 8, 20.0);
  const tensor u = disc_unary(1, k, h, w, 9).reshaped({k, h, w});
  crf::mean_field_config cfg;
  cfg.kernels.appearance.sxy = 15.0f;
  const tensor q_thrust = crf::device_mean_field<thrust_omp_t>(cfg).infer(u, im);
  {
    // example-begin device-crf
    // u: K x H x W unary energies of the rgb_image im; Tag: thrust_omp_t (the CUDA bodies on
    // the CPU), cuda_t (a .cu file with wsss/cuda.hpp), opencl_t (wsss/opencl.hpp), omp_t
    const crf::device_mean_field<thrust_omp_t> mf(cfg);
    const exec<thrust_omp_t> ex;
    auto pl = mf.prepare(ex, images_only(std::span<const rgb_image>(&im, 1)), shape{1, k, h, w});
    tensor q;
    mf.run(ex, pl, u, q);                                        // Q: one upload, one download
    const std::vector<label_map> labels = mf.labels(ex, pl, u);  // argmax: a byte per pixel down
    // example-end
    CHECK(same_bits(q, q_thrust));
    const auto want = labels_of(q.reshaped({1, k, h, w}));
    CHECK(std::equal(want.begin(), want.end(), labels[0].data()));
  }
  // The host launchers share the host-built lattice: the same bits. Thrust builds its own on
  // the device (other vertex numbers, normalisers summed in another order): 1e-6 of it.
  const tensor q_cpu = crf::device_mean_field<cpu_t>(cfg).infer(u, im);
  CHECK(same_bits(crf::device_mean_field<omp_t>(cfg).infer(u, im), q_cpu));
  CHECK(max_abs_diff(q_cpu, q_thrust) < 1e-6f);
  cfg.iterations = 0;
  const tensor q0 = crf::device_mean_field<thrust_omp_t>(cfg).infer(u, im);
  // T = 0 is softmax(-U) with the host's exp (the host sums its row in vector lanes: 1 ulp).
  CHECK(max_abs_diff(q0, crf::mean_field<>(cfg).infer(u, im)) <= 2.5e-7f);
  const auto l0 = labels_of(q0.reshaped({1, k, h, w})), l10 = labels_of(q_thrust.reshaped({1, k, h, w}));
  index_t moved = 0;
  for (std::size_t i = 0; i < l0.size(); ++i) moved += l0[i] != l10[i];
  CHECK(moved > 20);
}

TEST_CASE("device_mean_field: named errors for wrong shapes, values and unprepared plans") {
  const index_t k = 3, h = 12, w = 14;
  const rgb_image im = crf_test::disc_image(h, w, 12);
  const crf::device_mean_field<thrust_omp_t> dev;
  exec<thrust_omp_t> ex;
  const batch one = images_only(std::span<const rgb_image>(&im, 1));
  crf::device_mean_field<thrust_omp_t>::plan fresh;
  tensor q;
  CHECK_THROWS_WITH_AS(dev.run(ex, fresh, crf_test::random_unary(1, k, h, w, 1), q), doctest::Contains("never prepared"),
                       value_error);
  CHECK_THROWS_WITH_AS(dev.prepare(ex, one, shape{1, k, h + 1, w}), doctest::Contains("but the unary is"), shape_error);
  CHECK_THROWS_WITH_AS(dev.prepare(ex, one, shape{2, k, h, w}), doctest::Contains("images were given"), shape_error);
  CHECK_THROWS_AS(dev.prepare(ex, one, shape{k, h, w}), shape_error);
  auto pl = dev.prepare(ex, one, shape{1, k, h, w});
  CHECK_THROWS_WITH_AS(dev.run(ex, pl, crf_test::random_unary(1, k + 1, h, w, 1), q),
                       doctest::Contains("prepared for"), shape_error);
  tensor bad = crf_test::random_unary(1, k, h, w, 2);
  bad[17] = std::nanf("");
  CHECK_THROWS_AS(dev.run(ex, pl, bad, q), value_error);
  std::vector<label_map> clamps{label_map(h, w, 255)};
  clamps[0][3] = static_cast<std::uint8_t>(k);
  CHECK_THROWS_WITH_AS(dev.prepare(ex, batch{.images = one.images, .labels = clamps}, shape{1, k, h, w}),
                       doctest::Contains("is not < K"), value_error);
  auto wide = dev.prepare(ex, one, shape{1, 256, h, w});
  CHECK_THROWS_WITH_AS((void)dev.labels(ex, wide, crf_test::random_unary(1, 256, h, w, 3)), doctest::Contains("K <= 255"),
                       value_error);
  static_assert(supports<crf::device_mean_field<thrust_omp_t>, thrust_omp_t>::value);
}

TEST_CASE("device_mean_field on OpenCL (PoCL): the same Q and labels as the host, the same transfers") {
  // Measured 6.1e-6: PoCL's division and exp round differently from the C++ bodies.
  device_crf_test::check_against_host(exec<opencl_t>{backend::opencl::default_queue()}, 1e-5f);
}

TEST_CASE("device lattice on OpenCL: the filter equals the Thrust path's") {
  const opencl_t cl = backend::opencl::default_queue();
  const index_t h = 19, w = 26, n = h * w, k = 4;
  const crf::permutohedral f(crf::appearance_features(crf::rgb_guide(crf_test::disc_image(h, w, 6)), 8.0f, 13.0f));
  crf::device::flat_lattice flat;
  flat.append(f);
  wsss::rng g(8);
  const tensor x = random_uniform({n * k}, g, -1.0, 1.0);
  crf::device::lattice<thrust_omp_t> host_l;
  host_l.upload(thrust_omp, flat, k);
  const auto hq = backend::to_device(thrust_omp, x.span());
  backend::device_array<float, thrust_omp_t> hout(static_cast<std::size_t>(n * k));
  crf::device::steps<thrust_omp_t>::slice(thrust_omp, host_l, host_l.slice_w, host_l.filter(thrust_omp, hq), 0.5f, hout);
  crf::device::lattice<opencl_t> cl_l;
  cl_l.upload(cl, flat, k);
  const auto cq = backend::to_device(cl, x.span());
  auto cout = backend::memory<opencl_t>::make<float>(cl, static_cast<std::size_t>(n * k));
  crf::device::steps<opencl_t>::slice(cl, cl_l, cl_l.slice_w, cl_l.filter(cl, cq), 0.5f, cout);
  const std::vector<float> a = backend::to_host(thrust_omp, hout), b = backend::to_host(cl, cout);
  float err = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  CHECK(scale > 0.05f);
  CHECK(err <= 1e-6f * scale);
}

TEST_CASE("device_mean_field / device_crf_rnn: backward by finite differences (unaries, kernel weights and a "
          "non-symmetric mu, clamped pixels)") {
  const std::vector<rgb_image> imgs{crf_test::disc_image(7, 8, 3, 30.0)};
  std::vector<label_map> clamps(1, label_map(7, 8, ignore_label));
  clamps[0](0, 0) = 1;
  clamps[0](3, 4) = 0;
  crf::mean_field_config cfg;
  cfg.kernels.spatial_scale = 10.0f;
  cfg.iterations = 3;
  const crf::device_mean_field<thrust_omp_t> dev(cfg);
  auto pl = dev.prepare(exec<thrust_omp_t>{}, batch{.images = imgs, .labels = clamps}, shape{1, 3, 7, 8});
  const crf::device_mean_field_op<thrust_omp_t> op{&dev, &pl};
  tensor w({2});
  w[0] = 1.0f;
  w[1] = 2.0f;
  ad::grad_check_options opt;
  opt.eps = 3e-3;
  const auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) { return ad::apply(t, op, x[0], x[1]); },
                                {crf_test::random_unary(1, 3, 7, 8, 5), w}, opt);
  CHECK_MESSAGE(r.ok, r.log);
  // The same op with a learned compatibility (device_crf_rnn's record): inputs U, mu, w.
  rng g(4);
  tensor mu = random_uniform({3, 3}, g, -0.5, 0.5);
  for (index_t l = 0; l < 3; ++l) mu(l, l) -= 1.0f;
  const auto learned = ad::grad_check(
      [&](ad::tape& t, std::span<const ad::var> x) { return ad::apply(t, op, x[0], x[1], x[2]); },
      {crf_test::random_unary(1, 3, 7, 8, 5), mu, w}, opt);
  CHECK_MESSAGE(learned.ok, learned.log);
}

TEST_CASE("device_mean_field: record's gradients equal mean_field<>'s (Potts) on a batch with clamps") {
  // Measured 6.0e-6 of max |g_U| 1.13 with gcc -O3, 3.3e-5 with clang -O1: six iterations
  // of mean field amplify the forward pass's last-bit differences.
  device_crf_test::check_gradients_against_host(exec<thrust_omp_t>{}, 1e-4f);
}

TEST_CASE("losses::constrain with device_mean_field in its CRF slot equals the host engine's (value and gradient)") {
  const std::vector<rgb_image> imgs{crf_test::disc_image(24, 20, 1), crf_test::disc_image(24, 20, 2)};
  const tensor z = crf_test::random_unary(2, 3, 6, 5, 11, 4.0);
  wsss::rng g(5);
  tensor p(z.shape());
  for (auto& v : p) v = static_cast<float>(g.uniform(0.05, 1.0));
  for (const bool through : {false, true}) {
    CAPTURE(through);
    auto value_and_grad = [&](auto loss, auto ex) {
      auto pl = loss.prepare(ex, images_only(imgs), z.shape());
      ad::tape t;
      const ad::var x = t.leaf(z, true), y = t.leaf(p, true);
      const ad::var l = loss.record(t, pl, x, y);
      t.backward(l);
      return std::make_tuple(l.value()[0], through ? *t.grad(x) : tensor(), *t.grad(y));
    };
    const auto host = value_and_grad(losses::constrain<>({.through_crf = through}), exec<>{});
    auto agrees = [&](const auto& dev) {
      CHECK(std::get<0>(dev) == doctest::Approx(std::get<0>(host)).epsilon(1e-5));
      CHECK(max_abs_diff(std::get<2>(dev), std::get<2>(host)) < 1e-5f);
      if (through) CHECK(max_abs_diff(std::get<1>(dev), std::get<1>(host)) < 1e-5f);
    };
    agrees(value_and_grad(losses::constrain<crf::device_mean_field<cpu_t>>({.through_crf = through}), exec<cpu_t>{}));
    // On OpenCL (PoCL) too: the loss trains with the CRF's forward and backward on the device.
    agrees(value_and_grad(losses::constrain<crf::device_mean_field<opencl_t>>({.through_crf = through}),
                          exec<opencl_t>{backend::opencl::default_queue()}));
  }
}

TEST_CASE("device_mean_field on OpenCL (PoCL): record's gradients equal mean_field<>'s (Potts) on a batch with clamps") {
  // The OpenCL C twins of the backward kernels; the same bound as Thrust's above.
  device_crf_test::check_gradients_against_host(exec<opencl_t>{backend::opencl::default_queue()}, 1e-4f);
}

TEST_CASE("device_crf_rnn: Q and every gradient equal crf_rnn<>'s (thrust_omp, OpenCL on PoCL), named errors") {
  device_crf_test::check_crf_rnn_against_host(exec<thrust_omp_t>{}, 1e-4f);
  device_crf_test::check_crf_rnn_against_host(exec<opencl_t>{backend::opencl::default_queue()}, 1e-4f);
  {
    const std::vector<rgb_image> images{crf_test::disc_image(12, 14, 2)};
    const tensor z = crf_test::random_unary(1, 5, 12, 14, 3);  // a network's logits, 1 x K x H x W
    // example-begin crf-rnn-device
    const exec<opencl_t> ex{backend::opencl::default_queue()};    // or exec<cuda_t>, exec<thrust_omp_t>, ...
    crf::device_crf_rnn<opencl_t> crf({.iterations = 5, .labels = 5});  // crf_rnn<>'s config and parameters
    auto pl = crf.prepare(ex, images_only(images), z.shape());
    ad::tape t;
    const ad::var q = crf.record(t, pl, ad::scale(t.leaf(z, true), -1.0f));  // U = -z; Q_T on the device
    t.backward(ad::sum(ad::mul(q, q)));  // backward there too: into z, crf.compat.grad, crf.kernel_weights.grad
    // example-end
    CHECK(crf.compat.grad.numel() == 25);
    double g = 0;
    for (const float v : crf.compat.grad) g += std::abs(v);
    CHECK(g > 0);
  }
  crf::device_crf_rnn<thrust_omp_t> layer({.labels = 3});
  CHECK(layer.compat.name == "crf.compat");
  CHECK(layer.compat.value(1, 1) == -1.0f);  // Potts init, as crf_rnn<>
  const std::vector<rgb_image> imgs{crf_test::disc_image(6, 7, 8)};
  auto pl = layer.prepare(exec<thrust_omp_t>{}, images_only(imgs), shape{1, 4, 6, 7});  // 4 labels, mu 3 x 3
  tensor q;
  CHECK_THROWS_WITH_AS(layer.run(exec<thrust_omp_t>{}, pl, crf_test::random_unary(1, 4, 6, 7, 2), q),
                       doctest::Contains("compatibility mu"), shape_error);
  CHECK_THROWS_AS(crf::device_crf_rnn<thrust_omp_t>({.labels = 0}), value_error);
  static_assert(supports<crf::device_crf_rnn<opencl_t>, opencl_t>::value);
}
