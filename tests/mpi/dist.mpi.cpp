// SPDX-License-Identifier: MIT
// tests/mpi — dist::mpi_group and data-parallel training over real MPI ranks (ctest runs this
// program under `mpirun -np 2`); tests/mpi/cli.sh runs `wsss label` and `wsss run` the same way.
#include <doctest/doctest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "mpi/world.hpp"
#include "support/tiny_training.hpp"
#include "wsss/dist/data_parallel.hpp"
#include "wsss/methods/run.hpp"

using namespace wsss;
using wsss_test::world;

TEST_CASE("mpi: two ranks, and sums of every type equal on both") {
  const auto& g = world();
  REQUIRE(g.size() == 2);
  CHECK(g.describe() == (g.rank() == 0 ? "MPI, rank 0 of 2" : "MPI, rank 1 of 2"));
  const auto r = static_cast<float>(g.rank());
  std::vector<float> f{1.0f + r, 0.25f * r};
  g.sum(std::span<float>(f));
  CHECK(f == std::vector<float>{3.0f, 0.25f});
  std::vector<double> d{1e-300, static_cast<double>(g.rank())};
  g.sum(std::span<double>(d));
  CHECK(d == std::vector<double>{2e-300, 1.0});
  std::vector<std::int64_t> i{std::int64_t{1} << 40, g.rank()};
  g.sum(std::span<std::int64_t>(i));
  CHECK(i == std::vector<std::int64_t>{std::int64_t{1} << 41, 1});
  std::vector<double> m{static_cast<double>(g.rank()), -static_cast<double>(g.rank())};
  g.max(std::span<double>(m));
  CHECK(m == std::vector<double>{1.0, 0.0});
  CHECK(g.any(g.rank() == 1));
  CHECK_FALSE(g.any(false));
  g.barrier();
}

TEST_CASE("mpi: gradients summed in buckets, a large tensor on its own") {
  const auto& g = world();
  // Small tensors (< pack_floats) share a bucket until the next would overflow it (the 5
  // spills into a second bucket); tensors of pack_floats and more go on their own; a frozen
  // one is left alone and an untouched one becomes zeros.
  const auto small = static_cast<index_t>(dist::pack_floats);
  static_assert(4 * dist::pack_floats <= dist::bucket_floats, "four small tensors fill one bucket");
  const std::vector<index_t> sizes{3, small - 1, small - 1, small - 1, small - 1, small, 5, small + 7, 4, 6};
  const std::size_t frozen = 8, untouched = 9;
  std::vector<ad::parameter> ps;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    ps.emplace_back(std::string(1, static_cast<char>('a' + k)), tensor({sizes[k]}));
    if (k == untouched) continue;  // no gradient reached it
    ps.back().grad = tensor({sizes[k]});
    for (index_t i = 0; i < sizes[k]; ++i)
      ps.back().grad.data()[i] = static_cast<float>((i % 97) + 1000 * static_cast<index_t>(k)) * (g.rank() == 0 ? 1.0f : -0.5f);
  }
  ps[frozen].trainable = false;
  std::vector<ad::parameter*> ptrs;
  for (auto& p : ps) ptrs.push_back(&p);
  std::vector<float> bucket;
  dist::sum_gradients(g, ptrs, bucket);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    CAPTURE(k);
    REQUIRE(ps[k].grad.numel() == sizes[k]);
    bool ok = true;
    for (index_t i = 0; i < sizes[k]; ++i) {
      const float one = static_cast<float>((i % 97) + 1000 * static_cast<index_t>(k));
      const float want = k == untouched ? 0.0f : k == frozen ? one * (g.rank() == 0 ? 1.0f : -0.5f) : one * 0.5f;
      ok = ok && ps[k].grad.data()[i] == want;
    }
    CHECK(ok);
  }
}

TEST_CASE("mpi: two ranks with batch B train the network one process trains with batch 2B") {
  const auto& g = world();
  const auto dir = wsss_test::shared_dir("training");
  // The one-process reference, on each rank in its own folder.
  auto one = wsss_test::train_tiny(dist::local(), dir / (g.rank() == 0 ? "one0" : "one1"), 10, 4, false);
  for (bool sync : {true, false}) {
    CAPTURE(sync);
    auto net = wsss_test::train_tiny(g, dir / (sync ? "sync" : "per_rank"), 10, 4, sync);
    // Every rank holds the same network: w + w == 2w exactly, element by element.
    const auto state = nn::state_dict(net);
    std::vector<float> mine;
    for (const auto& [name, t] : state) mine.insert(mine.end(), t.data(), t.data() + t.numel());
    std::vector<float> both(mine);
    g.sum(std::span<float>(both));
    bool same = true;
    for (std::size_t i = 0; i < mine.size(); ++i) same = same && both[i] == 2.0f * mine[i];
    CHECK(same);
    const float diff = wsss_test::max_weight_difference(one, net);
    INFO("max |w_1 - w_2| = ", diff);
    if (sync) CHECK(diff < 2e-5f);
    else CHECK(diff > 1e-4f);
    g.barrier();
    CHECK(std::filesystem::exists(methods::weights_file(dir / (sync ? "sync" : "per_rank"))));
  }
}

TEST_CASE("mpi: a labelling stage gives every image to one rank, once") {
  const auto& g = world();
  std::vector<std::size_t> todo(23);
  std::iota(todo.begin(), todo.end(), std::size_t{0});
  std::vector<std::int64_t> seen(todo.size(), 0);
  methods::for_each_item("items", todo, todo.size(), {.quiet = true}, {}, g,
                         [&](std::size_t i, const exec<>&) { ++seen[i]; });
  std::int64_t mine = std::accumulate(seen.begin(), seen.end(), std::int64_t{0});
  g.sum(std::span<std::int64_t>(seen));
  CHECK(std::all_of(seen.begin(), seen.end(), [](std::int64_t v) { return v == 1; }));
  CHECK(mine == (g.rank() == 0 ? 12 : 11));
}
