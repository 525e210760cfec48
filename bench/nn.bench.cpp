// SPDX-License-Identifier: MIT
// bench/nn.bench.cpp — forward and forward+backward of VGG16's conv stack, DeepLab-LargeFOV, a
// ResNet38 wide block and a dilated 1024->1024 conv: wsss beside libtorch, same shapes, same
// thread count, in one run. Prints a ratio table (wsss time / libtorch time) at the end.
//
//   export OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=2
//   flock /tmp/wsss-bench.lock build/bench/bench_nn --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/ops/detail/sgemm.hpp"
#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/nn/layers/batch_norm.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/nets/vgg16.hpp"

#if WSSS_BENCH_WITH_TORCH
#include <torch/torch.h>
#endif

namespace {

using namespace wsss;

int bench_threads() {
  const char* s = std::getenv("OMP_NUM_THREADS");
  const int n = s ? std::atoi(s) : 2;
  return n > 0 ? n : 2;
}

// Mean seconds per iteration of each (case, implementation), for the closing table.
std::map<std::string, std::map<std::string, double>>& timings() {
  static std::map<std::string, std::map<std::string, double>> t;
  return t;
}

// Runs body() per iteration, and records the mean wall time under (name, impl).
template <class F>
void timed_loop(benchmark::State& state, const std::string& name, const std::string& impl, F&& body) {
  double total = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++n;
  }
  if (n) timings()[name][impl] = total / static_cast<double>(n);
}

// ---- the four workloads, wsss side -------------------------------------------------------

tensor random_input(const wsss::shape& s) {
  rng g(42);
  return random_normal(s, g);
}

// The ResNet38 wide block of the brief: 2 x (conv3x3 512->512 + BN + ReLU) at 56x56.
struct wide_block {
  static constexpr std::string_view name = "wide_block";
  nn::conv2d c1, c2;
  nn::batch_norm2d bn1, bn2;
  explicit wide_block(rng& g)
      : c1("c1", nn::conv_config(512, 512, 3, 1, 1, 1, false, nn::conv_init::kaiming_fan_in), g),
        c2("c2", nn::conv_config(512, 512, 3, 1, 1, 1, false, nn::conv_init::kaiming_fan_in), g),
        bn1("bn1", {512}),
        bn2("bn2", {512}) {}
  ad::var operator()(ad::tape& t, ad::var x) { return ad::relu(bn2(t, c2(t, ad::relu(bn1(t, c1(t, x)))))); }
};

// fc6-like: 3x3, dilation 12 (padding 12), 1024 -> 1024 at 41x41.
struct dilated_conv {
  static constexpr std::string_view name = "dilated_conv";
  nn::conv2d c;
  explicit dilated_conv(rng& g) : c("fc6", nn::conv_config(1024, 1024, 3, 1, 12, 12, true, nn::conv_init::kaiming_fan_in), g) {}
  ad::var operator()(ad::tape& t, ad::var x) { return c(t, x); }
};

// training: BN uses batch statistics (the wide block, on both sides); otherwise evaluation mode,
// which turns dropout off on both sides.
template <class Net>
void run_wsss(benchmark::State& state, Net& net, const wsss::shape& in, const std::string& name, bool backward,
              bool training = false) {
  backend::set_num_threads(bench_threads());
  const tensor x = random_input(in);
  ad::tape t;
  t.set_training(training);
  timed_loop(state, name + (backward ? " fwd+bwd" : " fwd"), "wsss", [&] {
    t.clear();
    if (!backward) {
      ad::no_grad ng(t);
      benchmark::DoNotOptimize(net(t, t.leaf(x)).value().data());
      return;
    }
    const ad::var y = net(t, t.leaf(x));
    t.backward(y, tensor(y.shape(), 1.0f));
  });
}

void bm_wsss_vgg16(benchmark::State& state) {
  rng g(1);
  nn::vgg16 net({}, g);
  run_wsss(state, net, {1, 3, 321, 321}, "vgg16 conv stack 321", state.range(0) != 0);
}
void bm_wsss_deeplab(benchmark::State& state) {
  rng g(2);
  nn::deeplab_largefov net({}, g);
  run_wsss(state, net, {1, 3, 321, 321}, "deeplab_largefov 321", state.range(0) != 0);
}
void bm_wsss_wide_block(benchmark::State& state) {
  rng g(3);
  wide_block net(g);
  run_wsss(state, net, {1, 512, 56, 56}, "resnet38 wide block 56", state.range(0) != 0, /*training=*/true);
}
void bm_wsss_dilated(benchmark::State& state) {
  rng g(4);
  dilated_conv net(g);
  run_wsss(state, net, {1, 1024, 41, 41}, "dilated conv 1024 d12 41", state.range(0) != 0);
}

// Single convolutions of the nets above (bias, padding = dilation): cin, cout, size, kernel,
// dilation, backward. The input needs a gradient except for the first layer's.
std::string conv_case(const benchmark::State& s) {
  return "conv " + std::to_string(s.range(0)) + "->" + std::to_string(s.range(1)) + " " + std::to_string(s.range(2)) +
         " k" + std::to_string(s.range(3)) + " d" + std::to_string(s.range(4)) + (s.range(5) ? " fwd+bwd" : " fwd");
}

const std::vector<std::vector<std::int64_t>> conv_shapes{{3, 64, 321, 3, 1},  {64, 64, 321, 3, 1},
                                                         {128, 128, 161, 3, 1}, {256, 256, 81, 3, 1},
                                                         {512, 512, 41, 3, 1},  {512, 512, 41, 3, 2},
                                                         {1024, 1024, 41, 1, 1}};

void bm_wsss_conv(benchmark::State& state) {
  backend::set_num_threads(bench_threads());
  const index_t cin = state.range(0), cout = state.range(1), hw = state.range(2), k = state.range(3), d = state.range(4);
  rng g(5);
  nn::conv2d c("c", nn::conv_config(cin, cout, k, 1, k == 1 ? 0 : d, d, true, nn::conv_init::kaiming_fan_in), g);
  const tensor x = random_input({1, cin, hw, hw});
  ad::tape t;
  const bool backward = state.range(5) != 0;
  timed_loop(state, conv_case(state), "wsss", [&] {
    t.clear();
    if (!backward) {
      ad::no_grad ng(t);
      benchmark::DoNotOptimize(c(t, t.leaf(x)).value().data());
      return;
    }
    const ad::var y = c(t, t.leaf(x, cin != 3));
    t.backward(y, tensor(y.shape(), 1.0f));
  });
}

// The GEMM under every convolution, alone: m x k times k x n in row-major float, the shapes of
// VGG16's 64->64 layer (k = 576) and of a 512->512 layer (k = 4608) on one column block.
const std::vector<std::vector<std::int64_t>> gemm_shapes{{64, 576, 1820}, {64, 576, 12880}, {512, 4608, 1681}};
std::string gemm_case(const benchmark::State& s) {
  return "gemm " + std::to_string(s.range(0)) + "x" + std::to_string(s.range(1)) + "x" + std::to_string(s.range(2));
}
// Our GEMM (detail::sgemm) on the bench's threads, each taking a contiguous share of the columns.
void bm_wsss_sgemm(benchmark::State& state) {
  backend::set_num_threads(bench_threads());
  const index_t m = state.range(0), k = state.range(1), n = state.range(2);
  rng g(6);
  const tensor a = random_normal({m, k}, g), b = random_normal({k, n}, g);
  tensor c({m, n});
  const int parts = bench_threads();
  timed_loop(state, gemm_case(state), "wsss", [&] {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < parts; ++t) {
      const index_t j0 = n * t / parts, j1 = n * (t + 1) / parts;
      ad::detail::sgemm(m, j1 - j0, k, {a.data(), k, 1}, {b.data() + j0, n, 1}, c.data() + j0, n, false);
    }
  });
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * k * n, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}


#if WSSS_BENCH_WITH_TORCH
// ---- the same workloads in libtorch --------------------------------------------------------

namespace tn = torch::nn;

tn::Sequential torch_vgg_stage(tn::Sequential s, int& in, int out, int convs, int dilation) {
  for (int k = 0; k < convs; ++k) {
    s->push_back(tn::Conv2d(tn::Conv2dOptions(in, out, 3).padding(dilation).dilation(dilation)));
    s->push_back(tn::ReLU());
    in = out;
  }
  return s;
}

tn::Sequential torch_vgg16() {
  tn::Sequential s;
  int in = 3;
  const int outs[] = {64, 128, 256, 512, 512}, convs[] = {2, 2, 3, 3, 3};
  for (int k = 0; k < 5; ++k) {
    s = torch_vgg_stage(s, in, outs[k], convs[k], 1);
    s->push_back(tn::MaxPool2d(tn::MaxPool2dOptions(2).stride(2)));
  }
  return s;
}

tn::Sequential torch_deeplab() {
  tn::Sequential s;
  int in = 3;
  const int outs[] = {64, 128, 256, 512, 512}, convs[] = {2, 2, 3, 3, 3};
  for (int k = 0; k < 5; ++k) {
    s = torch_vgg_stage(s, in, outs[k], convs[k], k == 4 ? 2 : 1);
    s->push_back(tn::MaxPool2d(tn::MaxPool2dOptions(3).stride(k < 3 ? 2 : 1).padding(1).ceil_mode(k < 3)));
  }
  s->push_back(tn::AvgPool2d(tn::AvgPool2dOptions(3).stride(1).padding(1)));
  s->push_back(tn::Conv2d(tn::Conv2dOptions(512, 1024, 3).padding(12).dilation(12)));
  s->push_back(tn::ReLU());
  s->push_back(tn::Dropout(0.5));
  s->push_back(tn::Conv2d(tn::Conv2dOptions(1024, 1024, 1)));
  s->push_back(tn::ReLU());
  s->push_back(tn::Dropout(0.5));
  s->push_back(tn::Conv2d(tn::Conv2dOptions(1024, 21, 1)));
  return s;
}

tn::Sequential torch_wide_block() {
  tn::Sequential s;
  for (int k = 0; k < 2; ++k) {
    s->push_back(tn::Conv2d(tn::Conv2dOptions(512, 512, 3).padding(1).bias(false)));
    s->push_back(tn::BatchNorm2d(512));
    s->push_back(tn::ReLU());
  }
  return s;
}

tn::Sequential torch_dilated() {
  tn::Sequential s;
  s->push_back(tn::Conv2d(tn::Conv2dOptions(1024, 1024, 3).padding(12).dilation(12)));
  return s;
}

void run_torch(benchmark::State& state, tn::Sequential net, std::vector<std::int64_t> in, const std::string& name,
               bool train_mode) {
  torch::set_num_threads(bench_threads());
  const bool backward = state.range(0) != 0;
  net->train(train_mode);
  torch::manual_seed(42);
  const torch::Tensor x = torch::randn(in);
  timed_loop(state, name + (backward ? " fwd+bwd" : " fwd"), "libtorch", [&] {
    if (!backward) {
      torch::NoGradGuard ng;
      benchmark::DoNotOptimize(net->forward(x).data_ptr());
      return;
    }
    const torch::Tensor y = net->forward(x);
    y.backward(torch::ones_like(y));
  });
}

void bm_torch_vgg16(benchmark::State& state) { run_torch(state, torch_vgg16(), {1, 3, 321, 321}, "vgg16 conv stack 321", false); }
void bm_torch_deeplab(benchmark::State& state) {
  run_torch(state, torch_deeplab(), {1, 3, 321, 321}, "deeplab_largefov 321", false);
}
void bm_torch_wide_block(benchmark::State& state) {
  run_torch(state, torch_wide_block(), {1, 512, 56, 56}, "resnet38 wide block 56", true);
}
void bm_torch_dilated(benchmark::State& state) {
  run_torch(state, torch_dilated(), {1, 1024, 41, 41}, "dilated conv 1024 d12 41", false);
}

void bm_torch_conv(benchmark::State& state) {
  torch::set_num_threads(bench_threads());
  const std::int64_t cin = state.range(0), cout = state.range(1), hw = state.range(2), k = state.range(3), d = state.range(4);
  tn::Conv2d c(tn::Conv2dOptions(cin, cout, k).padding(k == 1 ? 0 : d).dilation(d));
  torch::manual_seed(42);
  const torch::Tensor x = torch::randn({1, cin, hw, hw}).set_requires_grad(cin != 3);
  const bool backward = state.range(5) != 0;
  timed_loop(state, conv_case(state), "libtorch", [&] {
    if (!backward) {
      torch::NoGradGuard ng;
      benchmark::DoNotOptimize(c->forward(x).data_ptr());
      return;
    }
    const torch::Tensor y = c->forward(x);
    y.backward(torch::ones_like(y));
  });
}

void bm_torch_mm(benchmark::State& state) {
  torch::set_num_threads(bench_threads());
  const torch::Tensor a = torch::randn({state.range(0), state.range(1)}), b = torch::randn({state.range(1), state.range(2)});
  timed_loop(state, gemm_case(state), "libtorch", [&] { benchmark::DoNotOptimize(torch::mm(a, b).data_ptr()); });
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * state.range(0) * state.range(1) * state.range(2),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

#endif

// Registers each case's wsss run and, right after it, its libtorch run, so that both sides of a
// ratio are measured under the same machine conditions.
void register_all() {
  using fn = void (*)(benchmark::State&);
  const auto add = [](const char* name, fn f, const std::vector<std::int64_t>& args) {
    benchmark::RegisterBenchmark(name, f)->Args(args)->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  struct net_case {
    const char* wsss_name;
    fn wsss;
    const char* torch_name;
    fn torch;
  };
#if WSSS_BENCH_WITH_TORCH
  const net_case nets[] = {{"wsss_vgg16", bm_wsss_vgg16, "torch_vgg16", bm_torch_vgg16},
                           {"wsss_deeplab", bm_wsss_deeplab, "torch_deeplab", bm_torch_deeplab},
                           {"wsss_wide_block", bm_wsss_wide_block, "torch_wide_block", bm_torch_wide_block},
                           {"wsss_dilated", bm_wsss_dilated, "torch_dilated", bm_torch_dilated}};
#else
  const net_case nets[] = {{"wsss_vgg16", bm_wsss_vgg16, nullptr, nullptr},
                           {"wsss_deeplab", bm_wsss_deeplab, nullptr, nullptr},
                           {"wsss_wide_block", bm_wsss_wide_block, nullptr, nullptr},
                           {"wsss_dilated", bm_wsss_dilated, nullptr, nullptr}};
#endif
  for (const net_case& c : nets)
    for (std::int64_t bwd : {0, 1}) {
      add(c.wsss_name, c.wsss, {bwd});
      if (c.torch) add(c.torch_name, c.torch, {bwd});
    }
  for (std::int64_t bwd : {0, 1})
    for (auto args : conv_shapes) {
      args.push_back(bwd);
      add("wsss_conv", bm_wsss_conv, args);
#if WSSS_BENCH_WITH_TORCH
      add("torch_conv", bm_torch_conv, args);
#endif
    }
  for (const auto& args : gemm_shapes) {
    add("wsss_sgemm", bm_wsss_sgemm, args);
#if WSSS_BENCH_WITH_TORCH
    add("torch_mm", bm_torch_mm, args);
#endif
  }
}

void print_ratio_table() {
  std::printf("\n%-34s %12s %12s %8s\n", "case (batch 1)", "wsss ms", "libtorch ms", "ratio");
  for (const auto& [name, impls] : timings()) {
    const auto w = impls.find("wsss"), t = impls.find("libtorch");
    const double wm = w == impls.end() ? 0 : w->second * 1e3, tm = t == impls.end() ? 0 : t->second * 1e3;
    if (wm > 0 && tm > 0)
      std::printf("%-34s %12.1f %12.1f %8.2f\n", name.c_str(), wm, tm, wm / tm);
    else
      std::printf("%-34s %12.1f %12s %8s\n", name.c_str(), wm, tm > 0 ? std::to_string(tm).c_str() : "-", "-");
  }
  std::printf("ratio = wsss time / libtorch time (< 1: wsss faster); threads: %d\n", bench_threads());
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_ratio_table();
  return 0;
}
