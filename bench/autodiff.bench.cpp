// SPDX-License-Identifier: MIT
// bench/autodiff.bench.cpp — autodiff ops (forward + backward, and forward alone) side by side
// with libtorch in the same binary, 2 threads each; prints a wsss/libtorch ratio table at the end.
//
//   export OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=2
//   flock /tmp/wsss-bench.lock build/bench/bench_autodiff --benchmark_filter=mem
//     --benchmark_min_time=0.1 --benchmark_repetitions=7     (one command line)
#include <benchmark/benchmark.h>

#include "support/context.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <string>
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

// ---- memory-bound cases of issue 3 (no allocation per call): the same op at a large
// DeepLab map (1 x 64 x 321 x 321) and a ResNet38 wide-block map (1 x 512 x 56 x 56) -------
enum class mem_case { add, mul, relu, bn, block };
static const std::vector<int64_t> kMap321{1, 64, 321, 321}, kMap56{1, 512, 56, 56};
static shape as_shape(const std::vector<int64_t>& s) { return shape{s[0], s[1], s[2], s[3]}; }

// add and mul: x + y, x * y (same shape); relu; bn: batch norm with batch statistics;
// block: relu(bn(x)) + x, the conv-free half of a residual unit.
static void wsss_mem(benchmark::State& st, mem_case c, std::vector<int64_t> s, bool backward) {
  const index_t ch = s[1];
  tensor rm({ch}), rv({ch}, 1.0f);
  std::vector<tensor> ins{rnd(as_shape(s))};
  if (c == mem_case::add || c == mem_case::mul) ins.push_back(rnd(as_shape(s)));
  if (c == mem_case::bn || c == mem_case::block) {
    ins.push_back(rnd({ch}));
    ins.push_back(rnd({ch}));
  }
  auto f = [&, c](ad::tape&, auto& v) -> ad::var {
    switch (c) {
      case mem_case::add: return ad::add(v[0], v[1]);
      case mem_case::mul: return ad::mul(v[0], v[1]);
      case mem_case::relu: return ad::relu(v[0]);
      case mem_case::bn: return ad::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1f, 1e-5f);
      case mem_case::block: return ad::add(ad::relu(ad::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1f, 1e-5f)), v[0]);
    }
    return v[0];
  };
  if (backward) run_wsss(st, ins, f);
  else run_wsss_fwd(st, ins, f);
}
#if WSSS_BENCH_WITH_TORCH
static void torch_mem(benchmark::State& st, mem_case c, std::vector<int64_t> s, bool backward) {
  const int64_t ch = s[1];
  auto rm = torch::zeros({ch}), rv = torch::ones({ch});
  std::vector<std::vector<int64_t>> shapes{s};
  if (c == mem_case::add || c == mem_case::mul) shapes.push_back(s);
  if (c == mem_case::bn || c == mem_case::block) {
    shapes.push_back({ch});
    shapes.push_back({ch});
  }
  auto f = [&, c](auto& v) -> torch::Tensor {
    switch (c) {
      case mem_case::add: return v[0] + v[1];
      case mem_case::mul: return v[0] * v[1];
      case mem_case::relu: return torch::relu(v[0]);
      case mem_case::bn: return torch::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1, 1e-5, false);
      case mem_case::block: return torch::relu(torch::batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1, 1e-5, false)) + v[0];
    }
    return v[0];
  };
  if (backward) run_torch(st, shapes, f);
  else run_torch_fwd(st, shapes, f);
}
#define MEM_TWIN(NAME, ...) BENCHMARK_CAPTURE(torch_mem, NAME, __VA_ARGS__)->Unit(benchmark::kMillisecond)->UseRealTime();
#else
#define MEM_TWIN(NAME, ...)
#endif
#define MEM(NAME, ...)                                                                               \
  BENCHMARK_CAPTURE(wsss_mem, NAME, __VA_ARGS__)->Unit(benchmark::kMillisecond)->UseRealTime(); \
  MEM_TWIN(NAME, __VA_ARGS__)
#define MEM_BOTH(OP, CASE)                                  \
  MEM(OP##_fwd_64x321x321, CASE, kMap321, false)           \
  MEM(OP##_fwd_bwd_64x321x321, CASE, kMap321, true)        \
  MEM(OP##_fwd_512x56x56, CASE, kMap56, false)             \
  MEM(OP##_fwd_bwd_512x56x56, CASE, kMap56, true)
MEM_BOTH(add, mem_case::add)
MEM_BOTH(mul, mem_case::mul)
MEM_BOTH(relu, mem_case::relu)
MEM_BOTH(bn_train, mem_case::bn)
MEM_BOTH(bn_relu_add, mem_case::block)

// Console output as usual, plus a closing table pairing each wsss_X run with its torch_X twin
// (the best of --benchmark_repetitions runs of each).
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      std::string name = r.benchmark_name();
      const auto cut = name.find("/real_time");
      if (cut != std::string::npos) name.erase(cut);
      const bool ws = name.rfind("wsss_", 0) == 0, th = name.rfind("torch_", 0) == 0;
      if (!ws && !th) continue;
      // The fastest repetition: on a shared machine, interference only ever adds time.
      double& best = times_[name.substr(ws ? 5 : 6)][ws ? 0 : 1];
      const double t = r.GetAdjustedRealTime();
      best = best > 0 ? std::min(best, t) : t;
    }
  }
  void print_table() const {
    std::printf("\n%-40s %10s %12s %7s\n", "case", "wsss ms", "libtorch ms", "ratio");
    for (const auto& [name, t] : times_) {
      if (t[1] > 0)
        std::printf("%-40s %10.2f %12.2f %7.2f\n", name.c_str(), t[0], t[1], t[0] / t[1]);
      else
        std::printf("%-40s %10.2f %12s %7s\n", name.c_str(), t[0], "-", "-");
    }
    std::printf("ratio = wsss time / libtorch time (< 1: wsss faster); %d threads each\n", kThreads);
  }

 private:
  std::map<std::string, std::array<double, 2>> times_;
};

int main(int argc, char** argv) {
  ratio_reporter reporter;
  if (const int rc = wsss_bench::run_benchmarks(argc, argv, &reporter)) return rc;
  reporter.print_table();
  return 0;
}
