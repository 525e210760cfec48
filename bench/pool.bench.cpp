// SPDX-License-Identifier: MIT
// bench/pool.bench.cpp — every pooler's forward and backward at SEC's 41 x 41 and 321 x 321,
// side by side with libtorch versions in the same binary and thread count, the SP layer, and
// SLIC on a 500 x 375 image.
//   OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=1 bench_pool --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include "support/context.hpp"

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "wsss/backend/for_each_index.hpp"
#if WSSS_BENCH_WITH_THRUST
#include "wsss/backend/thrust/for_each_index.hpp"
#endif
#if WSSS_BENCH_WITH_OPENCL
#include "wsss/opencl.hpp"
#endif
#include "wsss/core/random.hpp"
#include "wsss/pool.hpp"
#include "wsss/superpixel.hpp"

#if WSSS_BENCH_WITH_TORCH
#include <torch/torch.h>
#endif

namespace {

using wsss::index_t;
using wsss::tensor;
namespace pool = wsss::pool;

// Shapes: {N, C, side}.
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({1, 21, 41})->Args({15, 21, 41})->Args({1, 21, 321})->Unit(benchmark::kMicrosecond);
}

tensor scores(index_t N, index_t C, index_t side) {
  wsss::rng g(42);
  return wsss::random_uniform({N, C, side, side}, g);  // probabilities, as SEC pools them
}

/// GWRP with SEC's tag-free decays (0.999 for class 0, 0.996 for the others), as the libtorch
/// version below; the FCL sized to the map.
template <class P>
P make_pooler(index_t C, index_t side) {
  if constexpr (std::is_same_v<P, pool::fcl>) return pool::fcl({C, side, side, true});
  else if constexpr (P::name == pool::gwrp::name) return P({.use_tags = false});  // gwrp, device_gwrp
  else return P{};
}

/// One pooler benchmark's set-up for the state's {N, C, side}: the scores x, the pooler, its
/// plan (prepared once, as a training loop does per shape), the exec with its workspace, the
/// output buffers and an all-ones N x C gradient g.
template <class P>
struct pool_case {
  /// omp for the host poolers; a device twin's own backend (its default queue or stream).
  using tag = std::conditional_t<std::is_same_v<wsss::backend_of_t<P>, wsss::cpu_t>, wsss::omp_t, wsss::backend_of_t<P>>;
  tensor x, out, gin, g;
  P p;
  wsss::workspace ws;
  wsss::exec<tag> ex{wsss::backend::default_instance<tag>::get(), &ws};
  typename P::plan pl;
  explicit pool_case(const benchmark::State& st)
      : x(scores(st.range(0), st.range(1), st.range(2))),
        g({st.range(0), st.range(1)}, 1.0f),
        p(make_pooler<P>(st.range(1), st.range(2))),
        pl(p.prepare(ex, {}, x.shape())) {
    p.run(ex, pl, x, out);  // warm-up: a device's programs are built and its arrays sized here
    p.backward(ex, pl, g, gin);
  }
};

template <class P>
void BM_forward(benchmark::State& st) {
  pool_case<P> k(st);
  for (auto _ : st) {
    k.p.run(k.ex, k.pl, k.x, k.out);
    benchmark::DoNotOptimize(k.out.data());
  }
  st.SetLabel(std::string(P::name));
}

template <class P>
void BM_backward(benchmark::State& st) {
  pool_case<P> k(st);
  k.p.run(k.ex, k.pl, k.x, k.out);
  for (auto _ : st) {
    k.p.backward(k.ex, k.pl, k.g, k.gin);
    benchmark::DoNotOptimize(k.gin.data());
  }
  st.SetLabel(std::string(P::name));
}

template <class P>
void BM_forward_backward(benchmark::State& st) {
  pool_case<P> k(st);
  for (auto _ : st) {
    k.p.run(k.ex, k.pl, k.x, k.out);
    k.p.backward(k.ex, k.pl, k.g, k.gin);
    benchmark::DoNotOptimize(k.gin.data());
  }
  st.SetLabel(std::string(P::name));
}

#define WSSS_POOL_BENCH(P)                                       \
  BENCHMARK_TEMPLATE(BM_forward, P)->Apply(shapes);              \
  BENCHMARK_TEMPLATE(BM_backward, P)->Apply(shapes);             \
  BENCHMARK_TEMPLATE(BM_forward_backward, P)->Apply(shapes);

WSSS_POOL_BENCH(pool::gap)
WSSS_POOL_BENCH(pool::gmp)
WSSS_POOL_BENCH(pool::gwrp)
WSSS_POOL_BENCH(pool::lse)
WSSS_POOL_BENCH(pool::fcl)
// The device twins on this machine's CPU: Thrust's OpenMP system (the CUDA kernel bodies and
// Thrust's sort) and OpenCL on PoCL, against the host poolers above (docs/pool.md).
#if WSSS_BENCH_WITH_THRUST
WSSS_POOL_BENCH(pool::device_gap<wsss::thrust_omp_t>)
WSSS_POOL_BENCH(pool::device_gwrp<wsss::thrust_omp_t>)
#endif
#if WSSS_BENCH_WITH_OPENCL
WSSS_POOL_BENCH(pool::device_gap<wsss::opencl_t>)
WSSS_POOL_BENCH(pool::device_gwrp<wsss::opencl_t>)
#endif

/// The SP layer at SPN's largest size: a 500 x 500 superpixel map (SLIC, ~500 superpixels)
/// over a 125 x 125 feature map, C = 21.
void BM_sp_layer(benchmark::State& st) {
  wsss::rgb_image img(500, 500);
  for (index_t y = 0; y < 500; ++y)
    for (index_t x = 0; x < 500; ++x)
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(127.5 + 100.0 * std::sin(0.031 * x * (c + 1) + 0.023 * y * (3 - c)));
  const std::vector<wsss::superpixel::segmentation> segs{wsss::superpixel::slic(img, {.superpixels = 500})};
  const wsss::batch b{.superpixels = segs};
  const pool::sp_layer layer;
  const wsss::exec<> ex;
  const tensor x = scores(1, 21, 125);
  auto pl = layer.prepare(ex, b, x.shape());
  tensor out, gin;
  const tensor g({1, 21}, 1.0f);
  for (auto _ : st) {
    if (st.range(0) == 0) {
      const auto p = layer.prepare(ex, b, x.shape());
      benchmark::DoNotOptimize(p.images[0].nonempty());
    } else if (st.range(0) == 1) {
      layer.run(ex, pl, x, out);
      layer.backward(ex, pl, g, gin);
      benchmark::DoNotOptimize(gin.data());
    } else {
      auto z = layer.superpixel_features(pl, x);
      benchmark::DoNotOptimize(z[0].data());
    }
  }
  st.SetLabel(st.range(0) == 0 ? "plan build" : st.range(0) == 1 ? "eq. 2 forward + eq. 3 backward" : "eq. 1 superpixel features");
}
BENCHMARK(BM_sp_layer)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

/// SLIC on a 500 x 375 image with shapes and texture, ~500 superpixels.
void BM_slic(benchmark::State& st) {
  const index_t H = 375, W = 500;
  wsss::rgb_image img(H, W);
  wsss::rng g(1);
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      const bool disc = (x - 300) * (x - 300) + (y - 180) * (y - 180) < 90 * 90;
      for (int c = 0; c < 3; ++c) {
        const double base = disc ? 60.0 + 60.0 * c : 127.5 + 90.0 * std::sin(0.021 * x * (c + 1) + 0.017 * y * (3 - c));
        img(y, x, c) = static_cast<std::uint8_t>(std::clamp(base + g.uniform(-10.0, 10.0), 0.0, 255.0));
      }
    }
  wsss::superpixel::segmentation seg;
  for (auto _ : st) {
    seg = wsss::superpixel::slic(img, {.superpixels = st.range(0)});
    benchmark::DoNotOptimize(seg.labels.data());
  }
  st.counters["superpixels"] = static_cast<double>(seg.count);
}
BENCHMARK(BM_slic)->Arg(200)->Arg(500)->Arg(1000)->Unit(benchmark::kMillisecond);

#if WSSS_BENCH_WITH_TORCH

struct torch_threads {
  torch_threads() { torch::set_num_threads(wsss::backend::max_threads()); }
} const set_torch_threads;

torch::Tensor to_torch(const tensor& t) {
  std::vector<int64_t> dims(t.shape().begin(), t.shape().end());
  return torch::from_blob(const_cast<float*>(t.data()), dims, torch::kFloat32).clone();
}

/// SEC's GWRP in libtorch: sort each plane descending, dot with q^j / Z (q_bg for class 0,
/// q_fg for the others), gradient through the sort by autograd.
torch::Tensor torch_gwrp(const torch::Tensor& x, const torch::Tensor& w) {
  const auto sorted = std::get<0>(x.flatten(2).sort(/*dim=*/2, /*descending=*/true));
  return (sorted * w).sum(2);
}
torch::Tensor gwrp_weights(int64_t C, int64_t n) {
  auto w = torch::empty({C, n});
  for (int64_t c = 0; c < C; ++c) {
    const double q = c == 0 ? 0.999 : 0.996;
    double z = 0;
    for (int64_t j = 0; j < n; ++j) z += std::pow(q, static_cast<double>(j));
    for (int64_t j = 0; j < n; ++j) w[c][j] = std::pow(q, static_cast<double>(j)) / z;
  }
  return w;
}

enum class tp { gap, gmp, gwrp, lse, fcl };
template <tp K>
torch::Tensor torch_pool(const torch::Tensor& x, const torch::Tensor& aux, const torch::Tensor& bias) {
  if constexpr (K == tp::gap) return x.mean({2, 3});
  else if constexpr (K == tp::gmp) return x.flatten(2).amax(2);
  else if constexpr (K == tp::gwrp) return torch_gwrp(x, aux);
  else if constexpr (K == tp::lse) return (torch::logsumexp(5.0 * x.flatten(2), 2) - std::log(static_cast<double>(x.size(2) * x.size(3)))) / 5.0;
  else return torch::sigmoid((x.flatten(2) * aux).sum(2) + bias);
}
/// The plane weights torch_pool<K> takes: GWRP's q^j / Z, else the uniform 1 / (side^2) of FCL.
template <tp K>
torch::Tensor torch_aux(int64_t C, int64_t side) {
  return K == tp::gwrp ? gwrp_weights(C, side * side) : torch::full({C, side * side}, 1.0f / static_cast<float>(side * side));
}
constexpr const char* torch_name(tp k) {
  return k == tp::gap ? "torch gap" : k == tp::gmp ? "torch gmp" : k == tp::gwrp ? "torch gwrp (sort)" : k == tp::lse ? "torch lse" : "torch fcl";
}

template <tp K>
void BM_torch_forward(benchmark::State& st) {
  const index_t N = st.range(0), C = st.range(1), side = st.range(2);
  const auto x = to_torch(scores(N, C, side));
  const auto aux = torch_aux<K>(C, side);
  const auto bias = torch::zeros({C});
  torch::NoGradGuard ng;
  for (auto _ : st) {
    auto y = torch_pool<K>(x, aux, bias);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  st.SetLabel(torch_name(K));
}

template <tp K>
void BM_torch_forward_backward(benchmark::State& st) {
  const index_t N = st.range(0), C = st.range(1), side = st.range(2);
  auto x = to_torch(scores(N, C, side)).requires_grad_(true);
  const auto aux = torch_aux<K>(C, side).requires_grad_(K == tp::fcl);
  const auto bias = torch::zeros({C}).requires_grad_(K == tp::fcl);
  const auto g = torch::ones({N, C});
  for (auto _ : st) {
    auto y = torch_pool<K>(x, aux, bias);
    y.backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.mutable_grad().reset();
  }
  st.SetLabel(torch_name(K));
}

#define WSSS_TORCH_BENCH(K)                                        \
  BENCHMARK_TEMPLATE(BM_torch_forward, K)->Apply(shapes);          \
  BENCHMARK_TEMPLATE(BM_torch_forward_backward, K)->Apply(shapes);

WSSS_TORCH_BENCH(tp::gap)
WSSS_TORCH_BENCH(tp::gmp)
WSSS_TORCH_BENCH(tp::gwrp)
WSSS_TORCH_BENCH(tp::lse)
WSSS_TORCH_BENCH(tp::fcl)

#endif

}  // namespace

int main(int argc, char** argv) { return wsss_bench::run_benchmarks(argc, argv); }
