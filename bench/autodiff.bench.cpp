// SPDX-License-Identifier: MIT
// bench/autodiff.bench.cpp — autodiff ops (forward + backward, and forward alone) side by side
// with libtorch in the same binary, 2 threads each. Run with OPENBLAS_CORETYPE=SkylakeX.
#include <benchmark/benchmark.h>
#if WSSS_BENCH_WITH_TORCH
#include <torch/torch.h>
#endif
#include <wsss/autodiff.hpp>
#include <wsss/autodiff/ops.hpp>
#include <wsss/losses/cross_entropy.hpp>
#include <wsss/backend/for_each_index.hpp>

using namespace wsss;
static const int kThreads = 2;

// Sets kThreads and wraps the inputs as parameters (the torch side's requires_grad leaves).
static std::vector<ad::parameter> bench_params(const std::vector<tensor>& ins) {
  backend::set_num_threads(kThreads);
  std::vector<ad::parameter> ps;
  for (auto& x : ins) ps.emplace_back("p", x);
  return ps;
}
// The parameters recorded on the tape, in order.
static std::vector<ad::var> bench_vars(ad::tape& t, std::vector<ad::parameter>& ps) {
  std::vector<ad::var> v;
  for (auto& p : ps) v.push_back(t.param(p));
  return v;
}
template <class F>
static void run_wsss(benchmark::State& st, std::vector<tensor> ins, F f) {
  std::vector<ad::parameter> ps = bench_params(ins);
  ad::tape t;
  for (auto _ : st) {
    t.clear();
    for (auto& p : ps) p.grad = tensor();  // torch side: grad reset to None each iteration
    std::vector<ad::var> v = bench_vars(t, ps);
    ad::var y = f(t, v);
    tensor seed(y.shape(), 1.0f);
    t.backward(y, std::move(seed));
    benchmark::DoNotOptimize(ps[0].grad.data());
  }
}
#if WSSS_BENCH_WITH_TORCH
template <class F>
static void run_torch(benchmark::State& st, std::vector<std::vector<int64_t>> shapes, F f) {
  torch::set_num_threads(kThreads);
  std::vector<torch::Tensor> ins;
  for (auto& s : shapes) ins.push_back(torch::rand(s).requires_grad_(true));
  for (auto _ : st) {
    for (auto& x : ins) x.mutable_grad() = torch::Tensor();
    auto y = f(ins);
    y.backward(torch::ones_like(y));
    benchmark::DoNotOptimize(ins[0].grad().data_ptr());
  }
}
#endif
template <class F>
static void run_wsss_fwd(benchmark::State& st, std::vector<tensor> ins, F f) {
  std::vector<ad::parameter> ps = bench_params(ins);
  ad::tape t;
  for (auto _ : st) {
    t.clear();
    ad::no_grad ng(t);
    std::vector<ad::var> v = bench_vars(t, ps);
    benchmark::DoNotOptimize(f(t, v).value().data());
  }
}
#if WSSS_BENCH_WITH_TORCH
template <class F>
static void run_torch_fwd(benchmark::State& st, std::vector<std::vector<int64_t>> shapes, F f) {
  torch::set_num_threads(kThreads);
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> ins;
  for (auto& s : shapes) ins.push_back(torch::rand(s));
  for (auto _ : st) benchmark::DoNotOptimize(f(ins).data_ptr());
}
#endif
static tensor rnd(shape s) { rng g(1); return random_uniform(s, g, -1, 1); }

// PAIR(name, wsss body, torch body): the torch twin is compiled only with libtorch present.
#if WSSS_BENCH_WITH_TORCH
#define WSSS_TORCH_TWIN(NAME, ...)                                      \
  static void NAME(benchmark::State& st) { __VA_ARGS__; }              \
  BENCHMARK(NAME)->Unit(benchmark::kMillisecond)->UseRealTime();
#else
#define WSSS_TORCH_TWIN(NAME, ...)
#endif
#define PAIR(NAME, WS, ...)                                                                              \
  static void wsss_##NAME(benchmark::State& st) { WS; }                                                  \
  BENCHMARK(wsss_##NAME)->Unit(benchmark::kMillisecond)->UseRealTime();                                  \
  WSSS_TORCH_TWIN(torch_##NAME, __VA_ARGS__)

PAIR(relu_64x321x321, run_wsss(st, {rnd({1, 64, 321, 321})}, [](ad::tape&, auto& v) { return ad::relu(v[0]); }),
     run_torch(st, {{1, 64, 321, 321}}, [](auto& v) { return torch::relu(v[0]); }))
PAIR(softmax_21x321x321, run_wsss(st, {rnd({1, 21, 321, 321})}, [](ad::tape&, auto& v) { return ad::softmax(v[0], 1); }),
     run_torch(st, {{1, 21, 321, 321}}, [](auto& v) { return torch::softmax(v[0], 1); }))
PAIR(log_softmax_21x321x321, run_wsss(st, {rnd({1, 21, 321, 321})}, [](ad::tape&, auto& v) { return ad::log_softmax(v[0], 1); }),
     run_torch(st, {{1, 21, 321, 321}}, [](auto& v) { return torch::log_softmax(v[0], 1); }))
static std::vector<label_map> labs() { rng g(2); label_map l(321, 321); for (index_t i = 0; i < l.pixels(); ++i) l[i] = g.uniform() < 0.1 ? 255 : g.below(21); return {l}; }
#if WSSS_BENCH_WITH_TORCH
static torch::Tensor tlabs() { auto l = labs()[0]; auto t = torch::empty({1, 321, 321}, torch::kLong); for (index_t i = 0; i < l.pixels(); ++i) t.data_ptr<int64_t>()[i] = l[i]; return t; }
#endif
PAIR(cross_entropy_21x321x321, { auto l = labs(); run_wsss(st, {rnd({1, 21, 321, 321})}, [&](ad::tape&, auto& v) { return losses::softmax_cross_entropy(v[0], l); }); },
     { auto l = tlabs(); run_torch(st, {{1, 21, 321, 321}}, [&](auto& v) { return torch::nn::functional::cross_entropy(v[0], l, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(255)); }); })
PAIR(max_pool3s2_64x321x321, run_wsss(st, {rnd({1, 64, 321, 321})}, [](ad::tape&, auto& v) { return ad::max_pool2d(v[0], {3, 2, 1, true}); }),
     run_torch(st, {{1, 64, 321, 321}}, [](auto& v) { return torch::max_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true); }))
PAIR(avg_pool3s1_512x41x41, run_wsss(st, {rnd({1, 512, 41, 41})}, [](ad::tape&, auto& v) { return ad::avg_pool2d(v[0], {3, 1, 1, false}); }),
     run_torch(st, {{1, 512, 41, 41}}, [](auto& v) { return torch::avg_pool2d(v[0], {3, 3}, {1, 1}, {1, 1}); }))
PAIR(bn_train_2x256x56x56, ({ tensor rm({256}), rv({256}, 1.0f); run_wsss(st, {rnd({2, 256, 56, 56}), rnd({256}), rnd({256})}, [&](ad::tape&, auto& v) { return ad::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1f, 1e-5f); }); }),
     { auto rm = torch::zeros({256}), rv = torch::ones({256}); run_torch(st, {{2, 256, 56, 56}, {256}, {256}}, [&](auto& v) { return torch::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1, 1e-5, false); }); })
PAIR(bn_frozen_1x512x56x56, ({ tensor rm({512}), rv({512}, 1.0f); run_wsss(st, {rnd({1, 512, 56, 56}), rnd({512}), rnd({512})}, [&](ad::tape&, auto& v) { return ad::batch_norm(v[0], v[1], v[2], rm, rv, false, 0.1f, 1e-5f); }); }),
     { auto rm = torch::zeros({512}), rv = torch::ones({512}); run_torch(st, {{1, 512, 56, 56}, {512}, {512}}, [&](auto& v) { return torch::batch_norm(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5, false); }); })
PAIR(mul_bcast_21x321x321, run_wsss(st, {rnd({1, 21, 321, 321}), rnd({1, 21, 1, 1})}, [](ad::tape&, auto& v) { return ad::mul(v[0], v[1]); }),
     run_torch(st, {{1, 21, 321, 321}, {1, 21, 1, 1}}, [](auto& v) { return v[0] * v[1]; }))
PAIR(add_64x321x321, run_wsss(st, {rnd({1, 64, 321, 321}), rnd({1, 64, 321, 321})}, [](ad::tape&, auto& v) { return ad::add(v[0], v[1]); }),
     run_torch(st, {{1, 64, 321, 321}, {1, 64, 321, 321}}, [](auto& v) { return v[0] + v[1]; }))
PAIR(resize_21x41x41_to_321, run_wsss(st, {rnd({1, 21, 41, 41})}, [](ad::tape&, auto& v) { return ad::resize_bilinear(v[0], 321, 321); }),
     run_torch(st, {{1, 21, 41, 41}}, [](auto& v) { return torch::upsample_bilinear2d(v[0], {321, 321}, false); }))
PAIR(gap_4096x41x41, run_wsss(st, {rnd({1, 4096, 41, 41})}, [](ad::tape&, auto& v) { return ad::global_avg_pool(v[0]); }),
     run_torch(st, {{1, 4096, 41, 41}}, [](auto& v) { return torch::adaptive_avg_pool2d(v[0], {1, 1}); }))
PAIR(dropout2d_4096x41x41, run_wsss(st, {rnd({1, 4096, 41, 41})}, [](ad::tape&, auto& v) { return ad::dropout2d(v[0], 0.5f); }),
     run_torch(st, {{1, 4096, 41, 41}}, [](auto& v) { return torch::feature_dropout(v[0], 0.5, true); }))
PAIR(linear_64x4096x1000, run_wsss(st, {rnd({64, 4096}), rnd({1000, 4096}), rnd({1000})}, [](ad::tape&, auto& v) { return ad::linear(v[0], v[1], v[2]); }),
     run_torch(st, {{64, 4096}, {1000, 4096}, {1000}}, [](auto& v) { return torch::linear(v[0], v[1], v[2]); }))
PAIR(concat_3x256x41x41, run_wsss(st, {rnd({1, 256, 41, 41}), rnd({1, 256, 41, 41}), rnd({1, 256, 41, 41})}, [](ad::tape&, auto& v) { return ad::concat(std::span<const ad::var>(v), 1); }),
     run_torch(st, {{1, 256, 41, 41}, {1, 256, 41, 41}, {1, 256, 41, 41}}, [](auto& v) { return torch::cat({v[0], v[1], v[2]}, 1); }))
#define PAIRF(NAME, WS, ...) PAIR(fwd_##NAME, WS, __VA_ARGS__)
PAIRF(relu_64x321x321, run_wsss_fwd(st, {rnd({1, 64, 321, 321})}, [](ad::tape&, auto& v) { return ad::relu(v[0]); }),
     run_torch_fwd(st, {{1, 64, 321, 321}}, [](auto& v) { return torch::relu(v[0]); }))
PAIRF(softmax_21x321x321, run_wsss_fwd(st, {rnd({1, 21, 321, 321})}, [](ad::tape&, auto& v) { return ad::softmax(v[0], 1); }),
     run_torch_fwd(st, {{1, 21, 321, 321}}, [](auto& v) { return torch::softmax(v[0], 1); }))
PAIRF(max_pool3s2_64x321x321, run_wsss_fwd(st, {rnd({1, 64, 321, 321})}, [](ad::tape&, auto& v) { return ad::max_pool2d(v[0], {3, 2, 1, true}); }),
     run_torch_fwd(st, {{1, 64, 321, 321}}, [](auto& v) { return torch::max_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true); }))
PAIRF(bn_frozen_1x512x56x56, ({ tensor rm({512}), rv({512}, 1.0f); run_wsss_fwd(st, {rnd({1, 512, 56, 56}), rnd({512}), rnd({512})}, [&](ad::tape&, auto& v) { return ad::batch_norm(v[0], v[1], v[2], rm, rv, false, 0.1f, 1e-5f); }); }),
     ({ auto rm = torch::zeros({512}), rv = torch::ones({512}); run_torch_fwd(st, {{1, 512, 56, 56}, {512}, {512}}, [&](auto& v) { return torch::batch_norm(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5, false); }); }))
PAIRF(gap_4096x41x41, run_wsss_fwd(st, {rnd({1, 4096, 41, 41})}, [](ad::tape&, auto& v) { return ad::global_avg_pool(v[0]); }),
     run_torch_fwd(st, {{1, 4096, 41, 41}}, [](auto& v) { return torch::adaptive_avg_pool2d(v[0], {1, 1}); }))
BENCHMARK_MAIN();
