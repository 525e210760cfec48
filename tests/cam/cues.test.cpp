// SPDX-License-Identifier: MIT
// tests/cam/cues.test.cpp — SEC's localisation cues: foreground cues, gradient saliency with its
// reflected median, background cues, their combination and resampling, against naive loops
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <wsss/cam/cues.hpp>
#include <wsss/core.hpp>
#include <wsss/io/label_png.hpp>

#include "io/temp_dir.hpp"

using namespace wsss;

namespace {

// Foreground cues pixel by pixel in float64: among the tagged classes with a positive maximum
// whose normalised heat h_c / max h_c exceeds the threshold, the one with the largest ratio
// (the lowest class id on an exact tie); 255 where none qualifies.
label_map naive_foreground(const tensor& heat, const tag_set& tags, double threshold) {
  const index_t K = heat.dim(0), h = heat.dim(1), w = heat.dim(2);
  std::vector<double> mx(static_cast<std::size_t>(K), -std::numeric_limits<double>::infinity());
  for (index_t k = 0; k < K; ++k)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) mx[static_cast<std::size_t>(k)] = std::max(mx[static_cast<std::size_t>(k)], static_cast<double>(heat(k, y, x)));
  label_map out(h, w, 255);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      double best = -1;
      for (int c = 1; c <= K; ++c) {
        if (std::find(tags.begin(), tags.end(), c) == tags.end()) continue;
        const double m = mx[static_cast<std::size_t>(c - 1)];
        if (!(m > 0)) continue;
        const double r = static_cast<double>(heat(c - 1, y, x)) / m;
        if (r > threshold && r > best) {
          best = r;
          out(y, x) = static_cast<std::uint8_t>(c);
        }
      }
    }
  return out;
}

// scipy.ndimage 'reflect' (d c b a | a b c d | d c b a): the extension is periodic with period
// 2 len, mirrored in its second half.
index_t reflect_index(index_t i, index_t len) {
  index_t m = i % (2 * len);
  if (m < 0) m += 2 * len;
  return m < len ? m : 2 * len - 1 - m;
}

// max_c |g_c|, then the side x side median (full sort of each window, middle element).
tensor naive_saliency(const tensor& g, int side) {
  const index_t C = g.dim(0), h = g.dim(1), w = g.dim(2), r = side / 2;
  tensor mx({h, w});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      float m = 0;
      for (index_t c = 0; c < C; ++c) m = std::max(m, std::fabs(g(c, y, x)));
      mx(y, x) = m;
    }
  tensor out({h, w});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      std::vector<float> win;
      for (index_t dy = -r; dy <= r; ++dy)
        for (index_t dx = -r; dx <= r; ++dx) win.push_back(mx(reflect_index(y + dy, h), reflect_index(x + dx, w)));
      std::sort(win.begin(), win.end());
      out(y, x) = win[win.size() / 2];
    }
  return out;
}

// Background cues by rank: u is a cue iff at most k = int(fraction n) pixels have saliency <= s_u,
// which is the same as s_u < (the k-th smallest value, 0-based).
std::vector<bool> naive_background(const tensor& s, float fraction) {
  const index_t n = s.numel();
  const auto k = static_cast<index_t>(static_cast<double>(fraction) * static_cast<double>(n));
  std::vector<bool> out(static_cast<std::size_t>(n));
  for (index_t u = 0; u < n; ++u) {
    index_t le = 0;
    for (index_t v = 0; v < n; ++v) le += s[v] <= s[u] ? 1 : 0;
    out[static_cast<std::size_t>(u)] = k >= n || le <= k;
  }
  return out;
}

index_t count_true(const std::vector<bool>& b) { return static_cast<index_t>(std::count(b.begin(), b.end(), true)); }

label_map random_labels(index_t h, index_t w, rng& g) {
  label_map m(h, w);
  for (index_t u = 0; u < m.pixels(); ++u) {
    const auto r = g.below(8);
    m[u] = r == 7 ? ignore_label : static_cast<std::uint8_t>(r);
  }
  return m;
}

// Nearest-neighbour sampling by pixel centres in float64: source row floor((y + 1/2) H / h).
label_map naive_resample(const label_map& m, index_t h, index_t w) {
  label_map out(h, w);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      out(y, x) = m(static_cast<index_t>(std::floor((static_cast<double>(y) + 0.5) * static_cast<double>(m.height()) / static_cast<double>(h))),
                    static_cast<index_t>(std::floor((static_cast<double>(x) + 0.5) * static_cast<double>(m.width()) / static_cast<double>(w))));
  return out;
}

}  // namespace

TEST_CASE("cam::foreground_cues matches a naive loop over pixels and classes") {
  rng g(11);
  const tensor heat = random_normal({4, 7, 9}, g);  // classes 1..4, both signs
  for (const tag_set& tags : {tag_set{1, 3}, tag_set{2}, tag_set{1, 2, 3, 4}, tag_set{}}) {
    for (float thr : {0.0f, 0.2f, 0.5f, 0.9f}) {
      CAPTURE(thr);
      CAPTURE(tags.size());
      const label_map got = cam::foreground_cues(heat, tags, thr);
      REQUIRE(got.height() == 7);
      REQUIRE(got.width() == 9);
      CHECK(got == naive_foreground(heat, tags, thr));
      // Only tagged classes appear (and never background 0).
      for (int c : got.present()) CHECK(std::find(tags.begin(), tags.end(), c) != tags.end());
    }
  }
  // Each class's own arg max has ratio 1 > threshold, so with distinct random maxima every class keeps cues.
  const label_map all = cam::foreground_cues(heat, {1, 2, 3, 4}, 0.2f);
  for (int c = 1; c <= 4; ++c) {
    CAPTURE(c);
    CHECK(std::count(all.data(), all.data() + all.pixels(), static_cast<std::uint8_t>(c)) > 0);
  }
  // An empty tag set gives no cue at all.
  const label_map none = cam::foreground_cues(heat, {}, 0.2f);
  CHECK(none == label_map(7, 9, ignore_label));
}

TEST_CASE("cam::foreground_cues overlap rule: the largest h_c / max h_c wins, not the largest h_c") {
  tensor heat({2, 1, 3});
  // Class 1 (max 10): pixel 0 at 0.6 of its max, pixel 1 at 1.0, pixel 2 at 0.1.
  heat(0, 0, 0) = 6.0f;
  heat(0, 0, 1) = 10.0f;
  heat(0, 0, 2) = 1.0f;
  // Class 2 (max 1): pixel 0 at 0.9 of its max, pixel 1 at 0.5, pixel 2 at 1.0.
  heat(1, 0, 0) = 0.9f;
  heat(1, 0, 1) = 0.5f;
  heat(1, 0, 2) = 1.0f;
  const label_map got = cam::foreground_cues(heat, {1, 2}, 0.2f);
  CHECK(got(0, 0) == 2);  // 0.9 > 0.6 although 0.9 < 6
  CHECK(got(0, 1) == 1);  // 1.0 > 0.5
  CHECK(got(0, 2) == 2);  // class 1 at 0.1 is below the threshold anyway
  // Without class 2 among the tags, class 1 keeps every pixel above 0.2 of its max.
  const label_map only1 = cam::foreground_cues(heat, {1}, 0.2f);
  CHECK(only1(0, 0) == 1);
  CHECK(only1(0, 1) == 1);
  CHECK(only1(0, 2) == ignore_label);
  // The threshold is strict: exactly 0.6 of the max is not above 0.6.
  const label_map strict = cam::foreground_cues(heat, {1}, 0.6f);
  CHECK(strict(0, 0) == ignore_label);
  CHECK(strict(0, 1) == 1);
}

TEST_CASE("cam::foreground_cues: a class whose max is <= 0 gets no cues, bad input throws") {
  tensor heat({3, 2, 2});
  for (index_t u = 0; u < 4; ++u) {
    heat[u] = -1.0f - static_cast<float>(u);        // class 1: all negative
    heat[4 + u] = 0.0f;                             // class 2: all zero
    heat[8 + u] = static_cast<float>(u) - 1.0f;     // class 3: -1, 0, 1, 2
  }
  const label_map got = cam::foreground_cues(heat, {1, 2, 3}, 0.2f);
  // Only class 3 has cues: 1 / 2 = 0.5 and 2 / 2 = 1 exceed 0.2; 0 and -1 do not.
  CHECK(got[0] == ignore_label);
  CHECK(got[1] == ignore_label);
  CHECK(got[2] == 3);
  CHECK(got[3] == 3);
  CHECK(cam::foreground_cues(heat, {1, 2}, 0.0f) == label_map(2, 2, ignore_label));

  CHECK_THROWS_AS(cam::foreground_cues(tensor({2, 4}), {1}, 0.2f), shape_error);
  CHECK_THROWS_AS(cam::foreground_cues(tensor({1, 3, 2, 4}), {1}, 0.2f), shape_error);
  CHECK_THROWS_AS(cam::foreground_cues(heat, {0}, 0.2f), value_error);     // background is no heat channel
  CHECK_THROWS_AS(cam::foreground_cues(heat, {4}, 0.2f), value_error);     // K = 3 maps: classes 1..3
  CHECK_THROWS_AS(cam::foreground_cues(heat, {3, 1}, 0.2f), value_error);  // unsorted
  CHECK_THROWS_AS(cam::foreground_cues(heat, {2, 2}, 0.2f), value_error);  // repeated
  tensor inf = heat;
  inf(2, 1, 1) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(cam::foreground_cues(inf, {3}, 0.2f), value_error);
  CHECK_NOTHROW(cam::foreground_cues(inf, {1, 2}, 0.2f));  // class 3 not asked for
}

TEST_CASE("cam::saliency is max_c |g_c| then a reflected side x side median (scipy's default)") {
  rng g(12);
  // Sizes smaller than the window too, so the reflection wraps more than once.
  for (const shape& s : {shape{3, 6, 8}, shape{1, 5, 5}, shape{2, 2, 3}, shape{4, 1, 7}, shape{2, 1, 1}}) {
    const tensor grad = random_normal(s, g);
    for (int side : {1, 3, 5, 7}) {
      CAPTURE(side);
      CAPTURE(s[1]);
      CAPTURE(s[2]);
      const tensor got = cam::saliency(grad, side);
      REQUIRE(got.shape() == shape{s[1], s[2]});
      const tensor want = naive_saliency(grad, side);
      int bad = 0;
      for (index_t i = 0; i < got.numel(); ++i) bad += got[i] == want[i] ? 0 : 1;  // a median selects, so exact
      CHECK(bad == 0);
    }
  }
  // side 1 is the plain max |g|; default side is 3.
  const tensor grad = random_normal({3, 4, 5}, g);
  const tensor plain = cam::saliency(grad, 1);
  for (index_t y = 0; y < 4; ++y)
    for (index_t x = 0; x < 5; ++x)
      CHECK(plain(y, x) == std::max({std::fabs(grad(0, y, x)), std::fabs(grad(1, y, x)), std::fabs(grad(2, y, x))}));
  const tensor def = cam::saliency(grad), three = cam::saliency(grad, 3);
  CHECK(std::equal(def.begin(), def.end(), three.begin(), three.end()));
}

TEST_CASE("cam::saliency closed forms: reflected edges, an isolated spike removed, bad input") {
  // 1 x 3 row [1 2 3] (sign ignored), 3 x 3 median with reflection: rows repeat (1 row reflects
  // onto itself); at x = 0 the columns are [1 1 2] -> median 1; x = 1: [1 2 3] -> 2; x = 2: [2 3 3] -> 3.
  const tensor row = tensor::from({1, 1, 3}, std::vector<float>{-1, 2, -3});
  const tensor s = cam::saliency(row, 3);
  CHECK(s[0] == 1.0f);
  CHECK(s[1] == 2.0f);
  CHECK(s[2] == 3.0f);
  // A single bright pixel in a flat map is removed by the median.
  tensor spike({2, 5, 5}, 0.25f);
  spike(1, 2, 2) = -9.0f;
  const tensor flat = cam::saliency(spike, 3);
  for (index_t i = 0; i < flat.numel(); ++i) CHECK(flat[i] == 0.25f);
  CHECK(cam::saliency(spike, 1)(2, 2) == 9.0f);
  // Errors.
  CHECK_THROWS_AS(cam::saliency(tensor({4, 4}), 3), shape_error);
  CHECK_THROWS_AS(cam::saliency(tensor({1, 4, 4}), 2), value_error);
  CHECK_THROWS_AS(cam::saliency(tensor({1, 4, 4}), 0), value_error);
  CHECK_THROWS_AS(cam::saliency(tensor({1, 4, 4}), -3), value_error);
}

TEST_CASE("cam::background_cues: pixels strictly below the value at rank int(fraction n)") {
  rng g(13);
  SUBCASE("distinct values: exactly int(fraction n) cues, the least salient ones") {
    const tensor s = random_uniform({7, 9}, g);
    for (float f : {0.1f, 0.25f, 0.5f, 0.9f}) {
      CAPTURE(f);
      const std::vector<bool> got = cam::background_cues(s, f);
      REQUIRE(got.size() == 63u);
      CHECK(got == naive_background(s, f));
      const auto k = static_cast<index_t>(f * 63.0f);
      CHECK(count_true(got) == k);
      // Every cue is less salient than every non-cue.
      float max_in = -1, min_out = 2;
      for (index_t u = 0; u < 63; ++u)
        if (got[static_cast<std::size_t>(u)]) max_in = std::max(max_in, s[u]);
        else min_out = std::min(min_out, s[u]);
      CHECK(max_in < min_out);
    }
  }
  SUBCASE("ties: never more than int(fraction n), fewer when the cut value repeats") {
    tensor s({6, 8});
    for (index_t u = 0; u < 48; ++u) s[u] = static_cast<float>(g.below(5));  // 5 levels, many ties
    for (float f : {0.05f, 0.1f, 0.3f, 0.5f, 0.75f}) {
      CAPTURE(f);
      const std::vector<bool> got = cam::background_cues(s, f);
      CHECK(got == naive_background(s, f));
      CHECK(count_true(got) <= static_cast<index_t>(f * 48.0f));
    }
    // Closed form: 3 zeros then ones; k = int(0.5 * 8) = 4 lands on a 1: only the zeros are cues.
    const tensor t = tensor::from({2, 4}, std::vector<float>{1, 0, 1, 1, 0, 1, 0, 1});
    const std::vector<bool> want{false, true, false, false, true, false, true, false};
    CHECK(cam::background_cues(t, 0.5f) == want);
    // k = int(0.25 * 8) = 2 lands on a 0: nothing is strictly below it.
    CHECK(count_true(cam::background_cues(t, 0.25f)) == 0);
  }
  SUBCASE("a constant map has no cues; fraction 0 none; fraction 1 all") {
    const tensor c({5, 5}, 0.5f);
    for (float f : {0.0f, 0.1f, 0.5f, 0.99f}) CHECK(count_true(cam::background_cues(c, f)) == 0);
    const tensor s = random_uniform({4, 6}, g);
    CHECK(count_true(cam::background_cues(s, 0.0f)) == 0);
    CHECK(count_true(cam::background_cues(s, 0.04f)) == 0);  // int(0.96) = 0
    CHECK(count_true(cam::background_cues(s, 1.0f)) == 24);
    CHECK_THROWS_AS(cam::background_cues(tensor({1, 4, 4}), 0.1f), shape_error);
  }
}

TEST_CASE("cam::combine_cues: foreground wins, background 0 where only background, 255 elsewhere") {
  rng g(14);
  label_map fg(5, 6, ignore_label);
  std::vector<bool> bg(30);
  for (index_t u = 0; u < 30; ++u) {
    if (g.uniform() < 0.4) fg[u] = static_cast<std::uint8_t>(1 + g.below(5));
    bg[static_cast<std::size_t>(u)] = g.uniform() < 0.5;
  }
  const label_map got = cam::combine_cues(fg, bg);
  int both = 0;
  for (index_t u = 0; u < 30; ++u) {
    CAPTURE(u);
    const bool b = bg[static_cast<std::size_t>(u)];
    if (fg[u] != ignore_label) {
      CHECK(got[u] == fg[u]);
      both += b ? 1 : 0;
    } else {
      CHECK(got[u] == (b ? 0 : ignore_label));
    }
  }
  CHECK(both > 0);  // the data does exercise the overlap
  // From real parts: foreground cues of a heat map and the background cues of a saliency map.
  const tensor heat = random_normal({3, 5, 6}, g);
  const tensor sal = cam::saliency(random_normal({3, 5, 6}, g), 3);
  const label_map f2 = cam::foreground_cues(heat, {1, 3}, 0.2f);
  const std::vector<bool> b2 = cam::background_cues(sal, 0.3f);
  const label_map c2 = cam::combine_cues(f2, b2);
  for (index_t u = 0; u < 30; ++u)
    CHECK(c2[u] == (f2[u] != ignore_label ? f2[u] : b2[static_cast<std::size_t>(u)] ? std::uint8_t{0} : ignore_label));
  CHECK_THROWS_AS(cam::combine_cues(fg, std::vector<bool>(29)), shape_error);
}

TEST_CASE("resample_labels resamples by nearest pixel centre, the same size is returned as is") {
  rng g(15);
  const label_map m = random_labels(5, 7, g);
  CHECK(resample_labels(m, 5, 7) == m);
  // A 2x (and 3x) nearest-neighbour upsample goes back down to the original exactly.
  for (index_t f : {2, 3}) {
    CAPTURE(f);
    label_map up(5 * f, 7 * f);
    for (index_t y = 0; y < 5 * f; ++y)
      for (index_t x = 0; x < 7 * f; ++x) up(y, x) = m(y / f, x / f);
    CHECK(resample_labels(up, 5, 7) == m);
    CHECK(resample_labels(m, 5 * f, 7 * f) == up);  // and upsampling by the same rule gives it
  }
  // Arbitrary sizes against the float64 pixel-centre rule.
  for (const auto& hw : {std::pair<index_t, index_t>{3, 4}, {4, 9}, {11, 2}, {1, 1}, {5, 8}, {10, 13}}) {
    CAPTURE(hw.first);
    CAPTURE(hw.second);
    CHECK(resample_labels(m, hw.first, hw.second) == naive_resample(m, hw.first, hw.second));
  }
  CHECK_THROWS_AS(resample_labels(label_map(), 3, 3), shape_error);
  CHECK_THROWS_AS(resample_labels(m, 0, 3), shape_error);
  CHECK_THROWS_AS(resample_labels(m, 3, -1), shape_error);
}

TEST_CASE("cam cues round-trip through a label PNG and resample to the score map") {
  rng g(16);
  const tensor heat = random_normal({4, 12, 10}, g);
  const label_map fg = cam::foreground_cues(heat, {2, 4}, 0.2f);
  const label_map cues = cam::combine_cues(fg, cam::background_cues(cam::saliency(random_normal({3, 12, 10}, g)), 0.2f));
  // The map holds foreground, background and no-cue pixels.
  const std::vector<int> present = cues.present();
  CHECK(present.size() >= 2);
  CHECK(present.front() == 0);
  CHECK(std::count(cues.data(), cues.data() + cues.pixels(), ignore_label) > 0);
  wsss_test::temp_dir dir;
  io::write_label_png(dir / "cues.png", cues);
  const label_map back = io::read_label_png(dir / "cues.png");
  CHECK(back == cues);
  CHECK(resample_labels(back, 6, 5) == resample_labels(cues, 6, 5));
  CHECK(resample_labels(back, 6, 5) == naive_resample(cues, 6, 5));
}

TEST_CASE("cam::cue_config validates SEC's numbers") {
  const cam::cue_config def;
  CHECK(def.fg_threshold == 0.2f);
  CHECK(def.bg_fraction == 0.1f);
  CHECK(def.median == 3);
  CHECK_NOTHROW(def.validate("test"));
  const cam::cue_config edges{.fg_threshold = 0.0f, .bg_fraction = 1.0f, .median = 1};
  CHECK_NOTHROW(edges.validate("test"));
  CHECK_THROWS_AS(cam::cue_config{.fg_threshold = 1.0f}.validate("test"), value_error);
  CHECK_THROWS_AS(cam::cue_config{.fg_threshold = -0.1f}.validate("test"), value_error);
  CHECK_THROWS_AS(cam::cue_config{.fg_threshold = NAN}.validate("test"), value_error);
  CHECK_THROWS_AS(cam::cue_config{.bg_fraction = 1.5f}.validate("test"), value_error);
  CHECK_THROWS_AS(cam::cue_config{.bg_fraction = -0.5f}.validate("test"), value_error);
  CHECK_THROWS_AS(cam::cue_config{.median = 4}.validate("test"), value_error);
  CHECK_THROWS_AS(cam::cue_config{.median = 0}.validate("test"), value_error);
}
