// SPDX-License-Identifier: MIT
// tests/crf/contract.test.cpp — every CrfEngine model through the public contract checker
// (wsss/testing/crf.hpp) on cpu and omp, the same bits on cpu, omp and thrust_omp (the
// permutohedral filter, every engine, Bbox-Seg), and the checker against a broken engine
#include <doctest/doctest.h>

#include <tuple>
#include <type_traits>
#include <vector>

#include "support.hpp"
#include "wsss/crf.hpp"
#include "wsss/testing/crf.hpp"

// thrust_omp runs where the tests link wsss::thrust_omp (Thrust found, THRUST_DEVICE_SYSTEM set).
#if __has_include(<thrust/for_each.h>) && defined(THRUST_DEVICE_SYSTEM)
#include "wsss/backend/thrust/for_each_index.hpp"
#define WSSS_TEST_THRUST 1
#endif

using namespace wsss;

namespace {

/// Every CrfEngine model of the library (every filter; Potts and learned compatibility).
using all_engines = std::tuple<crf::mean_field<crf::permutohedral>, crf::mean_field<crf::exact_filter>,
                               crf::mean_field<crf::permutohedral, crf::learned>, crf::crf_rnn<crf::permutohedral>,
                               crf::crf_rnn<crf::exact_filter>>;

/// An engine for the checker's 9 x 11 images and 3 labels: spatial deviations / 10, 3 iterations.
template <class E>
E make_engine() {
  typename E::config c;
  c.kernels.spatial_scale = 10.0f;
  c.iterations = 3;
  if constexpr (requires { c.labels; }) {
    c.labels = 3;
    return E(c);
  } else if constexpr (std::is_same_v<E, crf::mean_field<crf::permutohedral, crf::learned>>) {
    return E(c, crf::learned::potts_init(3));
  } else {
    return E(c);
  }
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every CRF engine satisfies the contract checker", E, crf_engine_contract) {
  E e = make_engine<E>();
  const auto on_omp = testing::check_crf_engine(e);
  CHECK_MESSAGE(on_omp.ok, on_omp.log);
  const auto on_cpu = testing::check_crf_engine(e, {}, exec<cpu_t>{});
  CHECK_MESSAGE(on_cpu.ok, on_cpu.log);
#if WSSS_TEST_THRUST
  const auto parity = testing::check_crf_backends(e, {}, wsss::omp, wsss::thrust_omp);
#else
  const auto parity = testing::check_crf_backends(e, {}, wsss::omp);
#endif
  CHECK_MESSAGE(parity.ok, parity.log);
}
TEST_CASE_TEMPLATE_APPLY(crf_engine_contract, all_engines);

TEST_CASE("crf_rnn: parameters are named from the prefix and visited like a layer's") {
  crf::crf_rnn<> a({.labels = 4}), b({.labels = 4}, "head.crf");
  std::vector<std::string> names;
  b.visit_params([&](ad::parameter& p) { names.push_back(p.name); });
  CHECK(names == std::vector<std::string>{"head.crf.compat", "head.crf.kernel_weights"});
  CHECK(a.compat.name == "crf.compat");
  CHECK(a.kernel_weights.name == "crf.kernel_weights");
  CHECK(nn::count_params(a) == 4 * 4 + 2);
  CHECK(nn::collect_params(b).size() == 2);
  CHECK_THROWS_WITH_AS(crf::crf_rnn<>({.labels = 0}), doctest::Contains("[wsss.value] crf::crf_rnn"), wsss::value_error);
}

#if WSSS_TEST_THRUST
TEST_CASE("permutohedral: apply_add and its transpose give the same bits on cpu, omp and thrust_omp") {
  const rgb_image img = crf_test::disc_image(20, 23, 3);
  const index_t n = 20 * 23, ld = 24;
  rng g(4);
  const tensor in = random_uniform({n * ld}, g);
  auto apply = [&]<class Tag>(const Tag& tag, bool transpose) {
    crf::permutohedral f;
    f.init(tag, crf::appearance_features(crf::rgb_guide(img), 5.0f, 13.0f), crf::normalization::symmetric);
    tensor out({n * ld});
    f.apply_add(tag, in.data(), out.data(), ld, 0.7f, transpose);
    return out;
  };
  for (bool transpose : {false, true}) {
    const tensor ref = apply(wsss::cpu, transpose);
    CHECK(testing::crf_detail::same_bits(ref, apply(wsss::omp, transpose)));
    CHECK(testing::crf_detail::same_bits(ref, apply(wsss::thrust_omp, transpose)));
  }
}

TEST_CASE("bbox_seg gives the same labels on cpu, omp and thrust_omp") {
  const rgb_image img = crf_test::disc_image(30, 30, 9, 5.0);
  const std::vector<box> boxes{{6, 6, 24, 24, 1}};
  const label_map ref = crf::bbox_seg(img, boxes, 2, 0.2f, crf::mean_field<>{}, exec<cpu_t>{});
  CHECK(ref == crf::bbox_seg(img, boxes, 2, 0.2f, crf::mean_field<>{}, exec<omp_t>{}));
  CHECK(ref == crf::bbox_seg(img, boxes, 2, 0.2f, crf::mean_field<>{}, exec<thrust_omp_t>{}));
}
#endif

namespace {
// Breaks the contract: run adds into q instead of writing it.
struct adding_engine : crf::mean_field<> {
  using crf::mean_field<>::mean_field;
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& unary, tensor& q) const {
    tensor fresh;
    crf::mean_field<>::run(ex, pl, unary, fresh);
    if (q.shape() != fresh.shape()) q = tensor(fresh.shape());
    for (index_t i = 0; i < q.numel(); ++i) q[i] += fresh[i];
  }
};
}  // namespace

TEST_CASE("the CRF contract checker catches an engine that adds into q") {
  crf::mean_field_config c;
  c.kernels.spatial_scale = 10.0f;
  c.iterations = 2;
  adding_engine e(c);
  const auto r = testing::check_crf_engine(e);
  CHECK_FALSE(r.ok);
  CHECK(r.log.find("adds into q") != std::string::npos);
}

TEST_CASE("the one-call infer: K x H x W in, K x H x W out, the batch form's numbers, a workspace keeps the plan") {
  const rgb_image img = crf_test::disc_image(12, 14, 5);
  const tensor u = crf_test::random_unary(1, 4, 12, 14, 6);
  const crf::mean_field<> mf;
  const tensor q4 = mf.infer(u, images_only(std::span<const rgb_image>(&img, 1)));
  const tensor q3 = mf.infer(u.reshaped({4, 12, 14}), img);
  REQUIRE(q3.shape() == shape{4, 12, 14});
  CHECK(testing::crf_detail::same_bits(q3.reshaped(q4.shape()), q4));
  workspace ws;
  CHECK(testing::crf_detail::same_bits(mf.infer(u, img, on(omp, ws)), q4));
  CHECK(ws.size() == 1);
  CHECK(testing::crf_detail::same_bits(mf.infer(u, img, on(omp, ws)), q4));
  CHECK(ws.size() == 1);
  CHECK_THROWS_WITH_AS(mf.infer(tensor({2, 4, 12, 14}), img), doctest::Contains("[wsss.shape] crf::mean_field: unary must be K x H x W"),
                       shape_error);
}
