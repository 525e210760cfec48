// SPDX-License-Identifier: MIT
// tests/dist — data-parallel labelling and training on K ranks simulated by K threads
// (tests/support/thread_group.hpp); tests/mpi runs the same over real MPI ranks.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <vector>

#include "io/temp_dir.hpp"
#include "support/thread_group.hpp"
#include "support/tiny_training.hpp"
#include "wsss/autodiff.hpp"
#include "wsss/dist/group.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/methods/run.hpp"

using namespace wsss;
using wsss_test::thread_team;

TEST_CASE("dist: block and shard give every item to exactly one rank") {
  for (std::size_t n : {0u, 1u, 5u, 16u, 17u})
    for (int k : {1, 2, 3, 5}) {
      std::vector<int> seen_block(n, 0), seen_shard(n, 0);
      std::vector<std::size_t> items(n);
      for (std::size_t i = 0; i < n; ++i) items[i] = i;
      std::size_t largest = 0, smallest = n;
      for (int r = 0; r < k; ++r) {
        const auto [lo, hi] = dist::block(n, r, k);
        largest = std::max(largest, hi - lo);
        smallest = std::min(smallest, hi - lo);
        for (std::size_t i = lo; i < hi; ++i) ++seen_block[i];
        for (std::size_t i : dist::shard(std::span<const std::size_t>(items), r, k)) ++seen_shard[i];
      }
      CHECK(std::count(seen_block.begin(), seen_block.end(), 1) == static_cast<std::ptrdiff_t>(n));
      CHECK(std::count(seen_shard.begin(), seen_shard.end(), 1) == static_cast<std::ptrdiff_t>(n));
      CHECK(largest - smallest <= 1);
    }
  CHECK(dist::block(5, 0, 2) == std::pair<std::size_t, std::size_t>{0, 3});
  CHECK(dist::block(5, 1, 2) == std::pair<std::size_t, std::size_t>{3, 5});
  const std::vector<int> v{10, 11, 12, 13, 14};
  CHECK(dist::shard(std::span<const int>(v), 1, 2) == std::vector<int>{11, 13});
}

TEST_CASE("dist: the one-process group's collectives are the identity, the thread team's sum") {
  const dist::group& one = dist::local();
  std::vector<float> f{1.5f, -2.0f};
  one.sum(std::span<float>(f));
  CHECK(f == std::vector<float>{1.5f, -2.0f});
  CHECK(one.any(true));
  CHECK_FALSE(one.any(false));
  CHECK(one.root());

  thread_team team(3);
  std::vector<std::vector<double>> got(3);
  std::vector<int> anys(3);
  const auto errors = team.run([&](const dist::group& g) {
    std::vector<double> v{static_cast<double>(g.rank()), 1.0};
    g.sum(std::span<double>(v));
    got[static_cast<std::size_t>(g.rank())] = v;
    anys[static_cast<std::size_t>(g.rank())] = g.any(g.rank() == 2) ? 1 : 0;
    std::vector<double> m{static_cast<double>(g.rank()), -static_cast<double>(g.rank())};
    g.max(std::span<double>(m));
    if (m != std::vector<double>{2.0, 0.0}) throw std::runtime_error("max over the ranks");
  });
  for (int r = 0; r < 3; ++r) {
    CHECK_FALSE(errors[static_cast<std::size_t>(r)]);
    CHECK(got[static_cast<std::size_t>(r)] == std::vector<double>{3.0, 3.0});
    CHECK(anys[static_cast<std::size_t>(r)] == 1);
  }
}

// Synchronised batch norm over two ranks' halves of a batch equals batch norm of the whole
// batch: outputs, input gradients, the summed gamma/beta gradients and the running statistics.
TEST_CASE("dist: synchronised batch norm on two ranks equals one batch, forward and backward") {
  const index_t n = 4, c = 3, h = 5, w = 4;
  rng g(11);
  tensor x({n, c, h, w}), gy({n, c, h, w}), gamma({c}), beta({c});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(g.normal(0.5, 2.0));
  for (index_t i = 0; i < gy.numel(); ++i) gy.data()[i] = static_cast<float>(g.normal(0.0, 1.0));
  for (index_t k = 0; k < c; ++k) {
    gamma[k] = 0.5f + 0.3f * static_cast<float>(k);
    beta[k] = -0.2f * static_cast<float>(k);
  }
  struct result {
    tensor y, dx, dgamma, dbeta, mean, var;
  };
  // Runs batch norm on images [lo, hi) of x, with the tape's batch group set to `sync`.
  const auto run = [&](index_t lo, index_t hi, const dist::group* sync) {
    ad::tape t;
    t.set_batch_group(sync);
    result r{{}, {}, {}, {}, tensor({c}), tensor({c}, 1.0f)};
    const ad::var xs = t.leaf(ad::slice(t.leaf(x), 0, lo, hi - lo).value(), true);
    const ad::var ga = t.leaf(gamma, true), be = t.leaf(beta, true);
    const ad::var y = ad::batch_norm(xs, ga, be, r.mean, r.var, true, 0.1f, 1e-5f);
    tensor seed({hi - lo, c, h, w});
    std::copy_n(gy.data() + lo * c * h * w, seed.numel(), seed.data());
    t.backward(y, seed);
    r.y = y.value();
    r.dx = *t.grad(xs);
    r.dgamma = *t.grad(ga);
    r.dbeta = *t.grad(be);
    return r;
  };
  const result whole = run(0, n, nullptr);
  std::vector<result> halves(2);
  thread_team team(2);
  const auto errors = team.run([&](const dist::group& gr) {
    const index_t lo = gr.rank() == 0 ? 0 : 3;  // uneven halves: 3 + 1 images
    halves[static_cast<std::size_t>(gr.rank())] = run(lo, gr.rank() == 0 ? 3 : n, &gr);
  });
  REQUIRE_FALSE(errors[0]);
  REQUIRE_FALSE(errors[1]);
  const index_t per = c * h * w;
  float worst_y = 0, worst_dx = 0;
  for (int r = 0; r < 2; ++r) {
    const index_t lo = r == 0 ? 0 : 3;
    const result& part = halves[static_cast<std::size_t>(r)];
    for (index_t i = 0; i < part.y.numel(); ++i) {
      worst_y = std::max(worst_y, std::abs(part.y.data()[i] - whole.y.data()[lo * per + i]));
      worst_dx = std::max(worst_dx, std::abs(part.dx.data()[i] - whole.dx.data()[lo * per + i]));
    }
    for (index_t k = 0; k < c; ++k) {  // the running statistics are the whole batch's on every rank
      CHECK(part.mean[k] == doctest::Approx(whole.mean[k]).epsilon(1e-6));
      CHECK(part.var[k] == doctest::Approx(whole.var[k]).epsilon(1e-6));
    }
  }
  CHECK(worst_y < 1e-5f);
  CHECK(worst_dx < 1e-5f);
  for (index_t k = 0; k < c; ++k) {  // each rank's gamma/beta gradient is its part of the sum
    CHECK(halves[0].dgamma[k] + halves[1].dgamma[k] == doctest::Approx(whole.dgamma[k]).epsilon(1e-5));
    CHECK(halves[0].dbeta[k] + halves[1].dbeta[k] == doctest::Approx(whole.dbeta[k]).epsilon(1e-5));
  }
  // Without synchronisation the halves normalise by their own moments: a different output.
  const result alone = run(3, n, nullptr);
  float apart = 0;
  for (index_t i = 0; i < alone.y.numel(); ++i) apart = std::max(apart, std::abs(alone.y.data()[i] - whole.y.data()[3 * per + i]));
  CHECK(apart > 1e-2f);
}

TEST_CASE("dist: data-parallel training on two ranks equals one process with the whole batch") {
  wsss_test::temp_dir dir;
  // Batches of 4 over 10 examples: 4 + 4 + 2, so the last step splits 1 + 1.
  auto one = wsss_test::train_tiny(dist::local(), dir / "one", 10, 4, false);
  for (bool sync : {true, false}) {
    CAPTURE(sync);
    thread_team team(2);
    std::vector<wsss_test::tiny_net> nets(2, wsss_test::make_tiny_net());
    const auto folder = dir / (sync ? "sync" : "per_rank");
    const auto errors = team.run([&](const dist::group& g) {
      nets[static_cast<std::size_t>(g.rank())] = wsss_test::train_tiny(g, folder, 10, 4, sync);
    });
    REQUIRE_FALSE(errors[0]);
    REQUIRE_FALSE(errors[1]);
    // Every rank ends with the same network, and rank 0 alone wrote it.
    CHECK(wsss_test::max_weight_difference(nets[0], nets[1]) == 0.0f);
    CHECK(std::filesystem::exists(methods::weights_file(folder)));
    CHECK_FALSE(std::filesystem::exists(folder / "checkpoint.safetensors"));
    const float diff = wsss_test::max_weight_difference(one, nets[0]);
    INFO("max |w_1 - w_2| = ", diff);
    if (sync) CHECK(diff < 2e-5f);  // the same gradients up to float summation order
    else CHECK(diff > 1e-4f);       // per-rank moments: a different (documented) training
    // The log is rank 0's, one row per step, with the whole batch's loss.
    std::ifstream log(folder / "log.csv");
    std::string line;
    int rows = -1;
    while (std::getline(log, line)) ++rows;
    CHECK(rows == 6);
  }
}

TEST_CASE("dist: a rank that fails a training step stops every rank with its error") {
  wsss_test::temp_dir dir;
  thread_team team(2);
  const auto errors = team.run([&](const dist::group& g) {
    auto net = wsss_test::make_tiny_net();
    methods::train_io io;
    io.dir = dir / "net";
    io.quiet = true;
    io.group = &g;
    methods::train(net, 8, {.epochs = 1, .batch_size = 4}, 1, io, [&](ad::tape& t, std::span<const std::size_t>, rng&) {
      if (g.rank() == 1) throw std::runtime_error("rank 1's data is unreadable");
      return methods::step_result{ad::sum(t.leaf(tensor({1}, 1.0f))), {}, {}};
    });
  });
  REQUIRE(errors[0]);
  REQUIRE(errors[1]);
  CHECK_THROWS_WITH((std::rethrow_exception(errors[1])), doctest::Contains("rank 1's data is unreadable"));
  CHECK_THROWS_WITH((std::rethrow_exception(errors[0])), doctest::Contains("another rank failed"));
}

TEST_CASE("dist: synchronised batch norm refuses a batch smaller than the ranks") {
  wsss_test::temp_dir dir;
  thread_team team(2);
  // 3 examples in batches of 2: the last batch has one example for two ranks.
  const auto errors = team.run([&](const dist::group& g) { wsss_test::train_tiny(g, dir / "net", 3, 2, true, 1); });
  for (const auto& e : errors) {
    REQUIRE(e);
    CHECK_THROWS_WITH((std::rethrow_exception(e)), doctest::Contains("synchronised batch norm"));
  }
}

TEST_CASE("dist: for_each_item gives each rank its shard, and a failure on one rank stops both") {
  std::vector<std::size_t> todo{0, 2, 3, 5, 7, 8, 9};
  thread_team team(2);
  std::mutex mu;
  std::multiset<std::size_t> done;
  std::vector<std::vector<std::size_t>> by_rank(2);
  auto errors = team.run([&](const dist::group& g) {
    methods::for_each_item("items", todo, 10, {.quiet = true}, {}, g, [&](std::size_t i, const exec<>&) {
      const std::lock_guard lock(mu);
      done.insert(i);
      by_rank[static_cast<std::size_t>(g.rank())].push_back(i);
    });
  });
  CHECK_FALSE(errors[0]);
  CHECK_FALSE(errors[1]);
  CHECK(done == std::multiset<std::size_t>(todo.begin(), todo.end()));
  std::sort(by_rank[1].begin(), by_rank[1].end());
  CHECK(by_rank[1] == std::vector<std::size_t>{2, 5, 8});

  errors = team.run([&](const dist::group& g) {
    methods::for_each_item("items", todo, 10, {.quiet = true}, {}, g, [&](std::size_t i, const exec<>&) {
      if (i == 5) throw std::runtime_error("image 5 is broken");
    });
  });
  REQUIRE(errors[0]);
  REQUIRE(errors[1]);
  CHECK_THROWS_WITH((std::rethrow_exception(errors[1])), doctest::Contains("image 5 is broken"));
  CHECK_THROWS_WITH((std::rethrow_exception(errors[0])), doctest::Contains("another rank failed"));
}

TEST_CASE("for_each_batch: consecutive batches of up to n items, each item once, `after` per item, errors stop it") {
  const std::vector<std::size_t> todo{1, 2, 4, 5, 6, 8, 9};  // 3 done before: 10 in all
  std::mutex mu;
  std::vector<std::vector<std::size_t>> batches;
  std::vector<std::size_t> counts;
  methods::for_each_batch(
      "batches", todo, 10, 3, {.quiet = true}, [&](std::string_view, std::size_t n) { counts.push_back(n); },
      dist::local(), [&](std::span<const std::size_t> items, const exec<>&) {
        const std::lock_guard lock(mu);
        batches.emplace_back(items.begin(), items.end());
      });
  std::sort(batches.begin(), batches.end());
  CHECK(batches == std::vector<std::vector<std::size_t>>{{1, 2, 4}, {5, 6, 8}, {9}});
  std::sort(counts.begin(), counts.end());
  CHECK(counts == std::vector<std::size_t>{4, 5, 6, 7, 8, 9, 10});  // each item counted once, after the 3 done

  std::vector<std::size_t> after_failure;
  CHECK_THROWS_WITH(methods::for_each_batch("batches", todo, 10, 2, {.quiet = true}, {}, dist::local(),
                                            [&](std::span<const std::size_t> items, const exec<>&) {
                                              if (items.front() == 4) throw std::runtime_error("batch of 4 is broken");
                                              const std::lock_guard lock(mu);
                                              after_failure.insert(after_failure.end(), items.begin(), items.end());
                                            }),
                    doctest::Contains("batch of 4 is broken"));
  CHECK(std::find(after_failure.begin(), after_failure.end(), 5) == after_failure.end());  // 4's batch wrote nothing
  CHECK_THROWS_WITH_AS(methods::for_each_batch("batches", todo, 10, 0, {.quiet = true}, {}, dist::local(),
                                               [](std::span<const std::size_t>, const exec<>&) {}),
                       doctest::Contains("batches: a batch holds 1 or more items, got 0"), value_error);
}

TEST_CASE("dist: the temp files a killed writer leaves are recognised and removed") {
  CHECK(io::is_atomic_temp("train_00001.png.tmp.4242.0"));
  CHECK(io::is_atomic_temp("a.tmp.1.17"));
  CHECK_FALSE(io::is_atomic_temp("train_00001.png"));
  CHECK_FALSE(io::is_atomic_temp("notes.tmp.txt"));
  CHECK_FALSE(io::is_atomic_temp("x.tmp.12"));
  CHECK_FALSE(io::is_atomic_temp(".tmp.1.2"));
  CHECK_FALSE(io::is_atomic_temp("x.tmp.1a.2"));
  wsss_test::temp_dir dir;
  for (const char* f : {"a.png", "a.png.tmp.77.0", "b.png.tmp.78.3", "keep.tmp.txt"}) std::ofstream(dir / f) << "x";
  CHECK(io::remove_stale_temps(dir.path()) == 2);
  CHECK(wsss_test::entries(dir.path()) == std::vector<std::string>{"a.png", "keep.tmp.txt"});
  CHECK(io::remove_stale_temps(dir / "missing") == 0);
}
