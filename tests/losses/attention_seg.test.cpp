// Eq. 15 (attention paper): the value against a naive double evaluation, its gradient by finite
// differences, the clamp, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/core/random.hpp"
#include "wsss/losses/attention_seg.hpp"

using namespace wsss;

namespace {

struct inputs {
  tensor q, a, present;
};

inputs make(std::uint64_t seed) {
  rng g(seed);
  inputs in{tensor({2, 3, 4, 5}), tensor({2, 3, 4, 5}), tensor({2, 3})};
  for (index_t i = 0; i < in.q.numel(); ++i) {
    in.q[i] = static_cast<float>(g.uniform(0.05, 0.95));
    in.a[i] = static_cast<float>(g.uniform());
  }
  in.present[0] = 1, in.present[2] = 1;                   // image 0: classes 0 and 2
  in.present[3] = 1, in.present[4] = 1, in.present[5] = 1;  // image 1: all three
  return in;
}

}  // namespace

TEST_CASE("eq. 15 equals a naive evaluation: per image 1/(N |Y|) over present classes, batch mean") {
  const inputs in = make(1);
  ad::tape t;
  const ad::var l = losses::attention_segmentation(t, t.leaf(in.q), std::make_shared<tensor>(in.a),
                                                   std::make_shared<tensor>(in.present));
  double want = 0;
  const int counts[2] = {2, 3};
  for (int n = 0; n < 2; ++n)
    for (int y = 0; y < 3; ++y) {
      if (in.present[n * 3 + y] == 0.0f) continue;
      for (int i = 0; i < 20; ++i) {
        const double q = in.q[(n * 3 + y) * 20 + i], a = in.a[(n * 3 + y) * 20 + i];
        want -= (a * std::log(q) + (1 - a) * std::log(1 - q)) / (20.0 * counts[n]);
      }
    }
  CHECK(l.value()[0] == doctest::Approx(want / 2).epsilon(1e-5));
}

TEST_CASE("eq. 15's gradient matches finite differences, and is zero where p^S is clamped") {
  const inputs in = make(2);
  const auto a = std::make_shared<tensor>(in.a), present = std::make_shared<tensor>(in.present);
  const auto r = ad::grad_check(
      [&](ad::tape& t, std::span<const ad::var> v) { return losses::attention_segmentation(t, v[0], a, present); }, {in.q},
      {.eps = 1e-3, .max_coords = 120});
  CHECK_MESSAGE(r.ok, r.log);
  CHECK(r.checked > 60);
  tensor q = in.q;
  q[0] = 0.0f;  // clamped at eps: a finite loss and no gradient there
  ad::tape t;
  const ad::var v = t.leaf(q, true);
  const ad::var l = losses::attention_segmentation(t, v, a, present, 1e-4f);
  CHECK(std::isfinite(l.value()[0]));
  t.backward(l);
  CHECK((*t.grad(v))[0] == 0.0f);
  CHECK((*t.grad(v))[40] != 0.0f);
  CHECK((*t.grad(v))[1 * 20] == 0.0f);  // class 1 of image 0 is absent
}

TEST_CASE("eq. 15 refuses mismatched shapes, maps outside [0, 1] and a bad eps") {
  const inputs in = make(3);
  ad::tape t;
  const ad::var q = t.leaf(in.q);
  CHECK_THROWS_AS((void)losses::attention_segmentation(t, q, std::make_shared<tensor>(shape{2, 3, 4, 4}), std::make_shared<tensor>(in.present)),
                  shape_error);
  CHECK_THROWS_AS((void)losses::attention_segmentation(t, q, std::make_shared<tensor>(in.a), std::make_shared<tensor>(shape{2, 2})),
                  shape_error);
  tensor bad = in.a;
  bad[5] = 1.5f;
  CHECK_THROWS_AS((void)losses::attention_segmentation(t, q, std::make_shared<tensor>(bad), std::make_shared<tensor>(in.present)),
                  value_error);
  CHECK_THROWS_AS((void)losses::attention_segmentation(t, q, std::make_shared<tensor>(in.a), std::make_shared<tensor>(in.present), 0.0f),
                  value_error);
}
