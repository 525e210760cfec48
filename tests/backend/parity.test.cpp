// SPDX-License-Identifier: MIT
// tests/backend/parity.test.cpp — one kernel body through every launcher that runs here
#include <doctest/doctest.h>

#include <vector>

#include <wsss/backend/for_each_index.hpp>
#include <wsss/core/random.hpp>

namespace {
// A component template defined BEFORE the Thrust launcher header is included, as a library
// header included ahead of it would be: the launcher must still be found at instantiation.
template <class Tag, class K>
void component_launch(Tag tag, std::int64_t n, const K& k) {
  wsss::backend::for_each_index(tag, n, k);
}
}  // namespace

#include <wsss/backend/thrust/for_each_index.hpp>

namespace {

// A kernel with enough arithmetic that a wrong index mapping or a lost iteration shows.
struct saxpy_sin_kernel {
  float* y;
  const float* x;
  float a;
  WSSS_HD void operator()(std::int64_t i) const { y[i] = a * x[i] + static_cast<float>(i % 7) * 0.25f; }
};
static_assert(wsss::backend::IndexKernel<saxpy_sin_kernel>);

template <class Tag>
std::vector<float> run(Tag tag, const wsss::tensor& x) {
  std::vector<float> y(static_cast<std::size_t>(x.numel()), -1.0f);
  wsss::backend::for_each_index(tag, x.numel(), saxpy_sin_kernel{y.data(), x.data(), 1.5f});
  return y;
}

}  // namespace

TEST_CASE("cpu, omp and thrust_omp launchers compute the same result") {
  wsss::rng g(3);
  const wsss::tensor x = wsss::random_uniform({100003}, g, -2.0, 2.0);
  const auto ref = run(wsss::cpu, x);
  // The serial result against the closed form.
  for (std::int64_t i = 0; i < x.numel(); i += 997)
    CHECK(ref[static_cast<std::size_t>(i)] == 1.5f * x[i] + static_cast<float>(i % 7) * 0.25f);
  CHECK(run(wsss::omp, x) == ref);
  CHECK(run(wsss::thrust_omp, x) == ref);
}

TEST_CASE("launchers accept an empty range") {
  wsss::tensor x;
  CHECK(run(wsss::omp, x).empty());
  CHECK(run(wsss::thrust_omp, x).empty());
}

TEST_CASE("host backends fall back by inheritance") {
  static_assert(std::is_base_of_v<wsss::cpu_t, wsss::omp_t>);
  static_assert(std::is_base_of_v<wsss::omp_t, wsss::thrust_omp_t>);
  static_assert(wsss::supports<int, wsss::omp_t>::value);
  static_assert(wsss::backend::Backend<wsss::thrust_omp_t>);
  CHECK(wsss::backend::max_threads() >= 1);
}

TEST_CASE("a launcher is chosen at instantiation, whatever the include order") {
  wsss::rng g(4);
  const wsss::tensor x = wsss::random_uniform({1000}, g);
  std::vector<float> y(1000, -1.0f);
  component_launch(wsss::thrust_omp, x.numel(), saxpy_sin_kernel{y.data(), x.data(), 1.5f});
  CHECK(y == run(wsss::cpu, x));
  static_assert(std::is_empty_v<wsss::backend::launcher<wsss::thrust_omp_t>>);
}
