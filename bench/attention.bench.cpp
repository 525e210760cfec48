// SPDX-License-Identifier: MIT
// bench/attention.bench.cpp — one full top-down attention pass (attention paper sec. 4) down to
// pool4 of DeepLab-LargeFOV at 321 x 321 (41 x 41 neurons per layer), 21 classes, per QP solver,
// and the Markov chain (no lateral QP) as the floor every solver adds to; plus the nine layers'
// QPs alone, to separate the solver from the transitions.
#include <benchmark/benchmark.h>

#include "support/context.hpp"

#include <Eigen/Core>
#include <map>
#include <memory>
#include <numeric>
#include <vector>

#include <wsss/attention.hpp>
#include <wsss/attention/top_down.hpp>
#include <wsss/backend/for_each_index.hpp>
#include <wsss/core.hpp>
#include <wsss/nn/preprocess.hpp>

namespace {

using namespace wsss;
namespace at = wsss::attention;

constexpr index_t input = 321, classes = 21;

// A network (random weights, every score map given positive parts as a trained one's), its
// chain's activations on a two-region image, and that image's lateral problem.
struct problem {
  nn::deeplab_largefov net;
  at::layer_chain chain;
  std::vector<tensor> acts;
  tensor fcl;
  at::qp lateral;
  std::vector<int> all{};
};

const problem& get(int width_eighths) {
  static std::map<int, std::unique_ptr<problem>> cache;
  auto& p = cache[width_eighths];
  if (p) return *p;
  p = std::make_unique<problem>();
  rng g(7);
  p->net = nn::deeplab_largefov({.width = width_eighths / 8.0, .classes = classes, .dropout = 0.0f}, g);
  rgb_image img(input, input);
  for (index_t y = 0; y < input; ++y)
    for (index_t x = 0; x < input; ++x)
      for (int c = 0; c < 3; ++c)
        img(y, x, c) = static_cast<std::uint8_t>((x - 160) * (x - 160) + (y - 160) * (y - 160) < 90 * 90 ? 60 + 40 * c + 10 * g.uniform()
                                                                                                       : 200 - 30 * c + 10 * g.uniform());
  p->chain = at::deeplab_chain(p->net);
  ad::tape t;
  t.set_training(false);
  ad::no_grad ng(t);
  p->acts = p->chain.forward(p->net.pool3(t, t.leaf(nn::normalize(img, nn::imagenet_rgb))).value());
  tensor& top = p->acts.back();
  for (index_t i = 0; i < top.numel(); ++i) top[i] = std::abs(top[i]);
  const index_t side = top.dim(2);
  p->fcl = random_uniform({classes, side * side}, g);
  p->lateral = at::lateral_problem(img, side, side);
  p->all.resize(classes);
  std::iota(p->all.begin(), p->all.end(), 0);
  return *p;
}

template <class Solver>
void pass(benchmark::State& st, bool neighbors) {
  backend::set_num_threads(2);
  const problem& p = get(static_cast<int>(st.range(0)));
  at::top_down<Solver> td{{.target = "pool4", .neighbors = neighbors}};
  at::pass_stats stats;
  for (auto _ : st) {
    stats = {};
    benchmark::DoNotOptimize(td(p.chain, p.acts, p.fcl, p.lateral, p.all, &stats));
  }
  st.counters["qps"] = static_cast<double>(stats.solves);
  st.counters["iters/qp"] = stats.solves ? static_cast<double>(stats.iterations) / static_cast<double>(stats.solves) : 0.0;
  st.counters["unconverged"] = static_cast<double>(stats.unconverged);
  st.counters["neurons/layer"] = static_cast<double>(p.lateral.lateral.rows());
}

// The QPs alone: 21 classes x 9 layers of 1681 neurons, b from a Markov-chain-like mixture.
template <class Solver>
void qps(benchmark::State& st) {
  const problem& p = get(1);
  at::qp q = p.lateral;
  const index_t n = q.lateral.rows();
  rng g(3);
  std::vector<Eigen::VectorXd> bs;
  for (int k = 0; k < 9 * classes; ++k) {
    Eigen::VectorXd b(n);
    for (index_t i = 0; i < n; ++i) b[i] = g.uniform() * g.uniform();
    bs.push_back(b / b.sum());
  }
  const Solver solver{};
  long iterations = 0;
  for (auto _ : st) {
    iterations = 0;
    for (const Eigen::VectorXd& b : bs) {
      q.b = b;
      Eigen::VectorXd x = b;
      iterations += solver.solve(q, x).iterations;
    }
  }
  st.counters["iters/qp"] = static_cast<double>(iterations) / static_cast<double>(bs.size());
}

void markov_chain(benchmark::State& st) { pass<at::coordinate_ascent>(st, false); }
void coordinate_ascent(benchmark::State& st) { pass<at::coordinate_ascent>(st, true); }
void projected_gradient(benchmark::State& st) { pass<at::projected_gradient>(st, true); }
void multiplicative(benchmark::State& st) { pass<at::multiplicative>(st, true); }

}  // namespace

// Arg: DeepLab-LargeFOV's width in eighths (8: the published network; 1: the scenes preset's).
BENCHMARK(markov_chain)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(coordinate_ascent)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(projected_gradient)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(multiplicative)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(qps<at::coordinate_ascent>)->Name("qps_only/coordinate_ascent")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(qps<at::projected_gradient>)->Name("qps_only/projected_gradient")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(qps<at::multiplicative>)->Name("qps_only/multiplicative")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

int main(int argc, char** argv) { return wsss_bench::run_benchmarks(argc, argv); }
