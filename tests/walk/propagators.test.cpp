// SPDX-License-Identifier: MIT
// tests/walk/propagators.test.cpp — transition (eq. 11) and propagators (eq. 12) against dense oracles and closed forms
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

// thrust_omp runs where the tests link wsss::thrust_omp (Thrust found, THRUST_DEVICE_SYSTEM set).
#if __has_include(<thrust/for_each.h>) && defined(THRUST_DEVICE_SYSTEM)
#define WSSS_TEST_THRUST 1
#include <wsss/backend/thrust/for_each_index.hpp>
#else
#define WSSS_TEST_THRUST 0
#endif
#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/walk.hpp>

using namespace wsss;
using dmat = std::vector<std::vector<double>>;

namespace {
const exec<cpu_t> host{};  // the serial backend: the oracle tests' reference runs
}  // namespace

namespace {

// A radius graph weighted by the affinities of random features (scale sets how peaked they are).
graph::csr_graph random_graph(index_t h, index_t w, double gamma, rng& g, double scale = 1.0) {
  tensor f = random_normal({6, h, w}, g, 0.0, scale);
  return graph::build(graph::radius{{gamma}}, f.shape(), f);
}

// CAMs with every channel normalised to max 1 (as the walk's input is).
tensor random_cams(index_t c, index_t h, index_t w, rng& g) {
  tensor cam = random_uniform({c, h, w}, g);
  for (index_t k = 0; k < c; ++k) {
    float mx = 0;
    for (index_t i = 0; i < h * w; ++i) mx = std::max(mx, cam[k * h * w + i]);
    for (index_t i = 0; i < h * w; ++i) cam[k * h * w + i] /= mx;
  }
  return cam;
}

// Naive dense A = W^beta + I (double) built from the edge list.
dmat dense_affinity(const graph::csr_graph& gr, double beta) {
  const index_t n = gr.nodes();
  dmat a(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(n), 0.0));
  for (index_t i = 0; i < n; ++i) {
    a[i][i] = 1.0;
    for (index_t k = gr.row_ptr[i]; k < gr.row_ptr[i + 1]; ++k)
      a[i][gr.col[k]] = gr.weighted() ? std::pow(double(gr.weight[k]), beta) : 1.0;
  }
  return a;
}

std::vector<double> degrees(const dmat& a) {
  std::vector<double> d(a.size(), 0.0);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (double v : a[i]) d[i] += v;
  return d;
}

// Oracle: t single steps of the walk in double, y_i = sum_j A_ij x_j / d_i (average) or
// sum_j A_ij x_j / d_j (diffuse); independent of squaring and of the CSR operator.
tensor oracle(const graph::csr_graph& gr, const tensor& cam, double beta, index_t t, walk::orientation mode) {
  const dmat a = dense_affinity(gr, beta);
  const auto d = degrees(a);
  const index_t n = gr.nodes(), c = cam.dim(0);
  tensor out(cam.shape());
  for (index_t k = 0; k < c; ++k) {
    std::vector<double> x(static_cast<std::size_t>(n)), y(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) x[i] = cam[k * n + i];
    for (index_t s = 0; s < t; ++s) {
      for (index_t i = 0; i < n; ++i) {
        double acc = 0;
        for (index_t j = 0; j < n; ++j) acc += a[i][j] * x[j] / (mode == walk::orientation::average ? d[i] : d[j]);
        y[i] = acc;
      }
      std::swap(x, y);
    }
    for (index_t i = 0; i < n; ++i) out[k * n + i] = static_cast<float>(x[i]);
  }
  return out;
}

double max_abs_diff(const tensor& a, const tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

}  // namespace

TEST_CASE("transition is D^-1 A (rows stochastic) or A D^-1 (columns stochastic) with unit diagonal") {
  rng g(1);
  const auto gr = random_graph(5, 7, 2.5, g);
  const dmat a = dense_affinity(gr, 8.0);
  const auto d = degrees(a);
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    const auto T = walk::make_transition(gr, {8.0f, mode});
    const index_t n = T.nodes();
    std::vector<double> rows(static_cast<std::size_t>(n), 0.0), cols(static_cast<std::size_t>(n), 0.0);
    index_t stored = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t k = T.row_ptr[i]; k < T.row_ptr[i + 1]; ++k, ++stored) {
        const index_t j = T.col[k];
        const double want = a[i][j] / (mode == walk::orientation::average ? d[i] : d[j]);
        CHECK(T.val[k] == doctest::Approx(want).epsilon(1e-6));
        rows[i] += T.val[k];
        cols[j] += T.val[k];
      }
    CHECK(stored == gr.edges() + n);  // every edge plus the diagonal
    for (index_t i = 0; i < n; ++i) {
      CHECK(T.degree[i] == doctest::Approx(d[i]).epsilon(1e-12));
      CHECK((mode == walk::orientation::average ? rows[i] : cols[i]) == doctest::Approx(1.0).epsilon(1e-6));
    }
  }
}

TEST_CASE("dense_power, sparse_power and chebyshev equal the step-by-step oracle") {
  rng g(2);
  const auto gr = random_graph(6, 7, 3.0, g, 0.3);
  const tensor cam = random_cams(3, 6, 7, g);
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    const auto T = walk::make_transition(gr, {8.0f, mode});
    for (index_t t : {1, 16, 256}) {
      INFO("t " << t << " mode " << int(mode));
      const tensor want = oracle(gr, cam, 8.0, t, mode);
      CHECK(max_abs_diff(walk::propagate(walk::dense_power{{t}}, T, cam, host), want) < 1e-5);
      CHECK(max_abs_diff(walk::propagate(walk::sparse_power{{t}}, T, cam, host), want) < 1e-5);
      CHECK(max_abs_diff(walk::propagate(walk::chebyshev{{t, 1e-6}}, T, cam, host), want) < 1e-5);
    }
  }
}

TEST_CASE("dense, sparse and chebyshev agree (<= 1e-4) on random graphs at the reference's settings") {
  for (std::uint64_t seed : {11u, 12u, 13u}) {
    rng g(seed);
    const index_t h = 10 + static_cast<index_t>(g.below(8)), w = 10 + static_cast<index_t>(g.below(8));
    INFO("seed " << seed << " grid " << h << "x" << w);
    const auto gr = random_graph(h, w, 5.0, g, 0.05 + 0.5 * g.uniform());
    const tensor cam = random_cams(5, h, w, g);
    for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
      const auto T = walk::make_transition(gr, {8.0f, mode});
      const tensor dense = walk::propagate(walk::dense_power{}, T, cam, host);
      CHECK(max_abs_diff(dense, walk::propagate(walk::sparse_power{}, T, cam, host)) <= 1e-4);
      const auto cheb = walk::chebyshev{}.propagate_with_bound(T, cam, host);
      CHECK(max_abs_diff(dense, cheb.out) <= 1e-4);
      CHECK(cheb.degree < 256);
    }
  }
}

TEST_CASE("propagators agree on a realistic feature map and keep scores inside their regions") {
  // A 24 x 24 map with three regions (left band, disc, rest); features are region codes plus
  // noise, as a trained AffinityNet's would be; one CAM blob per region.
  rng g(5);
  const index_t h = 24, w = 24, n = h * w;
  std::vector<int> region(static_cast<std::size_t>(n));
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      region[y * w + x] = x < 8 ? 0 : ((y - 12) * (y - 12) + (x - 16) * (x - 16) < 30 ? 1 : 2);
  tensor f({16, h, w});
  for (index_t c = 0; c < 16; ++c)
    for (index_t i = 0; i < n; ++i) f[c * n + i] = (c % 3 == region[i] ? 8.0f : 0.0f) + 0.3f * float(g.normal());
  tensor cam({3, h, w});
  const index_t seeds[3] = {12 * w + 3, 12 * w + 16, 2 * w + 21};
  for (index_t k = 0; k < 3; ++k)
    for (index_t i = 0; i < n; ++i) {
      const double dy = double(i / w - seeds[k] / w), dx = double(i % w - seeds[k] % w);
      cam[k * n + i] = static_cast<float>(std::exp(-(dy * dy + dx * dx) / 8.0));
    }
  const auto gr = graph::build(graph::radius{}, f.shape(), f);
  const auto T = walk::make_transition(gr);
  const tensor dense = walk::propagate(walk::dense_power{}, T, cam, host);
  CHECK(max_abs_diff(dense, walk::propagate(walk::sparse_power{}, T, cam, host)) <= 1e-4);
  CHECK(max_abs_diff(dense, walk::propagate(walk::chebyshev{}, T, cam, host)) <= 1e-4);
  // Semantic propagation: after the walk, each class wins (argmax) on most of its region.
  const label_map l = argmax_labels(dense);
  for (int k = 0; k < 3; ++k) {
    index_t hit = 0, size = 0;
    for (index_t i = 0; i < n; ++i)
      if (region[i] == k) ++size, hit += l[i] == k;
    CHECK(double(hit) / double(size) > 0.9);
  }
}

TEST_CASE("t -> infinity reaches the stationary closed form on a connected graph") {
  // average: P^inf v = 1 (d^T v) / (1^T d); diffuse: Q^inf v = d (1^T v) / (1^T d) (docs/walk.md).
  rng g(7);
  const auto gr = graph::build(graph::radius{{2.0}}, {5, 6});  // unit weights: fast mixing
  const tensor cam = random_cams(2, 5, 6, g);
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    const auto T = walk::make_transition(gr, {8.0f, mode});
    const index_t n = T.nodes();
    double sd = 0;
    for (double d : T.degree) sd += d;
    tensor want(cam.shape());
    for (index_t k = 0; k < 2; ++k) {
      double dv = 0, sv = 0;
      for (index_t i = 0; i < n; ++i) dv += T.degree[i] * cam[k * n + i], sv += cam[k * n + i];
      for (index_t i = 0; i < n; ++i)
        want[k * n + i] = static_cast<float>(mode == walk::orientation::average ? dv / sd : T.degree[i] * sv / sd);
    }
    INFO("mode " << int(mode));
    CHECK(max_abs_diff(walk::propagate(walk::dense_power{{index_t{1} << 20}}, T, cam, host), want) < 1e-5);
    CHECK(max_abs_diff(walk::propagate(walk::sparse_power{{2000}}, T, cam, host), want) < 1e-5);
    CHECK(max_abs_diff(walk::propagate(walk::chebyshev{{4096, 1e-6}}, T, cam, host), want) < 1e-5);
  }
}

TEST_CASE("large t loses no mass and does not underflow") {
  rng g(8);
  const auto gr = random_graph(8, 9, 3.0, g, 0.2);
  const tensor cam = random_cams(3, 8, 9, g);
  const index_t n = 72;
  for (auto mode : {walk::orientation::average, walk::orientation::diffuse}) {
    const auto T = walk::make_transition(gr, {8.0f, mode});
    // Conserved: sum_i v_i (diffuse, columns sum to 1) or sum_i d_i v_i (average, d^T P = d^T).
    auto mass = [&](const tensor& v, index_t k) {
      double s = 0;
      for (index_t i = 0; i < n; ++i) s += (mode == walk::orientation::diffuse ? 1.0 : T.degree[i]) * v[k * n + i];
      return s;
    };
    for (const tensor& out : {walk::propagate(walk::sparse_power{{8192}}, T, cam, host),
                              walk::propagate(walk::dense_power{{index_t{1} << 16}}, T, cam, host),
                              walk::propagate(walk::chebyshev{{8192}}, T, cam, host)}) {
      for (index_t k = 0; k < 3; ++k) {
        CHECK(mass(out, k) == doctest::Approx(mass(cam, k)).epsilon(1e-4));
        double mn = 1e30, mx = 0;
        for (index_t i = 0; i < n; ++i) mn = std::min(mn, double(out[k * n + i])), mx = std::max(mx, double(out[k * n + i]));
        CHECK(mn > 1e-3);  // no underflow towards 0 (the limit is far from 0)
        if (mode == walk::orientation::average) CHECK(mx <= 1.0 + 1e-5);  // convex combinations of scores
      }
    }
  }
}

TEST_CASE("all-zero channels stay exactly zero and the backends agree bitwise") {
  rng g(9);
  const auto gr = random_graph(9, 11, 5.0, g, 0.3);
  tensor cam = random_cams(21, 9, 11, g);
  for (index_t k = 2; k < 21; k += 2)
    for (index_t i = 0; i < 99; ++i) cam[k * 99 + i] = 0.0f;  // absent classes
  const auto T = walk::make_transition(gr);
  const walk::sparse_power sp{{64}};
  const tensor a = walk::propagate(sp, T, cam, host), b = walk::propagate(sp, T, cam, exec<omp_t>{});
  CHECK(max_abs_diff(a, b) == 0.0);
  const walk::chebyshev ch{{64}};
#if WSSS_TEST_THRUST
  const tensor c = walk::propagate(sp, T, cam, exec<thrust_omp_t>{});
  CHECK(max_abs_diff(a, c) == 0.0);
  CHECK(max_abs_diff(walk::propagate(ch, T, cam, host), walk::propagate(ch, T, cam, exec<thrust_omp_t>{})) == 0.0);
#endif
  for (index_t k = 2; k < 21; k += 2)
    for (index_t i = 0; i < 99; ++i) CHECK(a[k * 99 + i] == 0.0f);
  CHECK(max_abs_diff(a, walk::propagate(walk::dense_power{{64}}, T, cam, host)) <= 1e-4);
}

TEST_CASE("chebyshev coefficients reproduce x^t and shrink the step count") {
  for (double a : {-1.0, -0.5, 0.2}) {
    const auto c = walk::chebyshev_power_coefficients(40, a);
    for (double x : {a, 0.5 * (a + 1), 0.97, 1.0}) {
      const double u = (2 * x - 1 - a) / (1 - a);
      double s = 0;
      for (std::size_t k = 0; k < c.size(); ++k) s += c[k] * std::cos(double(k) * std::acos(std::clamp(u, -1.0, 1.0)));
      CHECK(s == doctest::Approx(std::pow(x, 40.0)).epsilon(1e-9));
    }
  }
  rng g(10);
  {
    // The a-priori bound holds against the float64 oracle; loosening tol lowers the degree.
    const auto gr = random_graph(9, 10, 3.0, g, 0.2);
    const tensor cam = random_cams(2, 9, 10, g);
    const auto T = walk::make_transition(gr);
    const tensor want = oracle(gr, cam, 8.0, 256, walk::orientation::average);
    index_t last = 257;
    for (double tol : {1e-4, 1e-3, 1e-2, 1e-1}) {
      const auto r = walk::chebyshev{{256, tol}}.propagate_with_bound(T, cam, host);
      INFO("tol " << tol << " degree " << r.degree << " bound " << r.bound);
      CHECK(r.bound <= tol);
      CHECK(max_abs_diff(r.out, want) <= r.bound + 2e-6);
      CHECK(r.degree < last);
      last = r.degree;
    }
  }
  const auto gr = random_graph(20, 20, 5.0, g, 0.3);
  const auto T = walk::make_transition(gr);
  const auto r = walk::chebyshev{}.propagate_with_bound(T, random_cams(4, 20, 20, g), host);
  CHECK(r.degree < 128);  // fewer than half of the 256 sparse products
  CHECK(r.bound <= 1e-5);
}

TEST_CASE("a graph whose affinities vanish leaves the CAMs unchanged (S = I)") {
  rng g(13);
  auto gr = graph::build(graph::radius{{2.0}}, {6, 7});
  gr.weight.assign(gr.col.size(), 0.0f);
  const auto T = walk::make_transition(gr);
  const tensor cam = random_cams(3, 6, 7, g);
  CHECK(max_abs_diff(walk::propagate(walk::sparse_power{}, T, cam, host), cam) < 1e-6);
  CHECK(max_abs_diff(walk::propagate(walk::chebyshev{}, T, cam, host), cam) < 1e-5);
  CHECK(max_abs_diff(walk::propagate(walk::dense_power{}, T, cam, host), cam) < 1e-6);
}

TEST_CASE("bad walk input raises named exceptions") {
  rng g(12);
  const auto gr = random_graph(4, 5, 2.0, g);
  const auto T = walk::make_transition(gr);
  CHECK_THROWS_WITH_AS(walk::propagate(walk::sparse_power{}, T, tensor({3, 5, 4}), host),
                       doctest::Contains("[wsss.shape] walk::sparse_power"), wsss::shape_error);
  CHECK_THROWS_WITH_AS(walk::propagate(walk::dense_power{}, T, tensor({3, 21}), host),
                       doctest::Contains("[wsss.shape] walk::dense_power"), wsss::shape_error);
  tensor bad({2, 4, 5});
  bad[3] = NAN;
  CHECK_THROWS_WITH_AS(walk::propagate(walk::chebyshev{}, T, bad, host), doctest::Contains("[wsss.value] walk::chebyshev"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(walk::propagate(walk::dense_power{{100}}, T, tensor({2, 4, 5}), host),
                       doctest::Contains("power of two"), wsss::value_error);
  CHECK_THROWS_WITH_AS(walk::propagate(walk::sparse_power{{-1}}, T, tensor({2, 4, 5}), host),
                       doctest::Contains("[wsss.value] walk::sparse_power: t must be >= 0, got -1"), wsss::value_error);
  CHECK_THROWS_WITH_AS(walk::propagate(walk::chebyshev{{-1}}, T, tensor({2, 4, 5}), host),
                       doctest::Contains("[wsss.value] walk::chebyshev: t must be >= 0, got -1"), wsss::value_error);
  CHECK_THROWS_WITH_AS(walk::propagate(walk::chebyshev{{.t = 16, .tol = 0.0}}, T, tensor({2, 4, 5}), host),
                       doctest::Contains("[wsss.value] walk::chebyshev: tol must be > 0"), wsss::value_error);
  auto nonfinite = gr;
  nonfinite.weight[1] = INFINITY;
  CHECK_THROWS_WITH_AS(walk::make_transition(nonfinite), doctest::Contains("non-finite affinity"), wsss::value_error);
  auto asym = gr;
  asym.weight[0] *= 0.5f;
  CHECK_THROWS_WITH_AS(walk::make_transition(asym), doctest::Contains("symmetric"), wsss::value_error);
  CHECK_THROWS_WITH_AS(walk::make_transition(gr, {0.0f}), doctest::Contains("[wsss.value] walk::make_transition"),
                       wsss::value_error);
}
