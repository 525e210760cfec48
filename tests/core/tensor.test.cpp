// SPDX-License-Identifier: MIT
// tests/core/tensor.test.cpp — tensor, shape, views, errors, random numbers
#include <doctest/doctest.h>

#include <wsss/core.hpp>

using namespace wsss;

TEST_CASE("shape reports rank, extents and element count") {
  shape s{2, 3, 5, 7};
  CHECK(s.rank() == 4);
  CHECK(s.numel() == 210);
  CHECK(s.dim(-1) == 7);
  CHECK(s.str() == "2x3x5x7");
  CHECK(shape{}.str() == "scalar");
  CHECK_THROWS_WITH_AS(s.dim(4), doctest::Contains("[wsss.shape] shape: axis 4 out of range"), shape_error);
  CHECK_THROWS_AS((shape{1, 2, 3, 4, 5, 6, 7, 8, 9}), shape_error);
  CHECK_THROWS_WITH_AS((shape{2, -1}), doctest::Contains("negative extent -1"), shape_error);
}

TEST_CASE("tensor has value semantics, zero init and row-major indexing") {
  tensor a({2, 3, 4});
  CHECK(a.numel() == 24);
  for (float v : a) CHECK(v == 0.0f);
  for (index_t i = 0; i < a.numel(); ++i) a[i] = static_cast<float>(i);
  CHECK(a(1, 2, 3) == 23.0f);
  CHECK(a(0, 1, 0) == 4.0f);
  tensor b = a;  // deep copy
  b[0] = 100.0f;
  CHECK(a[0] == 0.0f);
  tensor c = std::move(b);
  CHECK(c[0] == 100.0f);
  CHECK(b.numel() == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(c.data()) % 64 == 0);
}

TEST_CASE("reshape keeps the data and rejects a different element count") {
  tensor a({2, 6}, 1.0f);
  a.reshape({3, 4});
  CHECK(a.shape() == shape{3, 4});
  CHECK_THROWS_WITH_AS(a.reshape({5, 5}), doctest::Contains("cannot view 3x4 as 5x5"), shape_error);
  CHECK_THROWS_WITH_AS(tensor::from({2, 2}, std::vector<float>{1, 2, 3}), doctest::Contains("needs 4 values, got 3"),
                       shape_error);
}

TEST_CASE("Eigen views alias the tensor storage") {
  tensor a({2, 3});
  auto m = as_matrix(a);
  m(1, 2) = 5.0f;
  CHECK(a[5] == 5.0f);
  CHECK(m.rows() == 2);
  CHECK(m.cols() == 3);
  as_array(a) += 1.0f;
  CHECK(a[0] == 1.0f);
  CHECK(a[5] == 6.0f);
  CHECK_THROWS_AS(as_matrix(a, 4, 2), shape_error);
}

TEST_CASE("shape and finiteness checks name the component and the values") {
  tensor a({2, 3});
  CHECK_THROWS_WITH_AS(expect_shape(a, {3, 2}, "pool::gap", "scores"),
                       doctest::Contains("[wsss.shape] pool::gap: scores must be 3x2, got 2x3"), shape_error);
  CHECK_THROWS_WITH_AS(expect_rank(a, 4, "pool::gwrp", "scores", "NxCxHxW"),
                       doctest::Contains("scores must be rank 4 (NxCxHxW), got rank 2 (2x3)"), shape_error);
  a[4] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(expect_finite(a, "crf", "unary"), doctest::Contains("at flat index 4"), value_error);
  CHECK_NOTHROW(expect_shape(a, {2, 3}, "x", "y"));
}

TEST_CASE("io_error carries the path, every error derives from wsss::error") {
  try {
    throw_io("io::png", "/tmp/x.png", "truncated file");
  } catch (const io_error& e) {
    CHECK(e.path() == std::filesystem::path("/tmp/x.png"));
    CHECK(std::string(e.what()) == "[wsss.io] io::png: truncated file (/tmp/x.png)");
  }
  CHECK_THROWS_AS(throw_value("c", "v"), error);
  CHECK_THROWS_AS(throw_shape("c", "v"), error);
}

TEST_CASE("rng is deterministic per seed and its distributions have the right moments") {
  rng a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  rng g(1);
  const int n = 200000;
  double s = 0, s2 = 0, u = 0;
  for (int i = 0; i < n; ++i) {
    const double x = g.normal();
    s += x;
    s2 += x * x;
    u += g.uniform();
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1.0) < 0.02);
  CHECK(std::abs(u / n - 0.5) < 0.005);
  tensor t = random_uniform({1000}, g, 2.0, 3.0);
  for (float v : t) {
    CHECK(v >= 2.0f);
    CHECK(v < 3.0f);
  }
}

TEST_CASE("argmax_labels picks the first maximum along the class axis") {
  tensor s({3, 1, 2});
  // pixel 0: class 1 wins; pixel 1: tie between 0 and 2 -> 0
  s(0, 0, 0) = 0.1f; s(1, 0, 0) = 0.7f; s(2, 0, 0) = 0.2f;
  s(0, 0, 1) = 0.5f; s(1, 0, 1) = 0.0f; s(2, 0, 1) = 0.5f;
  label_map l = argmax_labels(s);
  CHECK(l(0, 0) == 1);
  CHECK(l(0, 1) == 0);
  CHECK_THROWS_AS(argmax_labels(tensor({2, 2})), shape_error);
  label_map m(2, 2, 3);
  m(0, 0) = ignore_label;
  m(1, 1) = 0;
  CHECK(m.present() == std::vector<int>{0, 3});
}
