// SPDX-License-Identifier: MIT
// bench/nn.bench.cpp — forward and forward+backward of VGG16's conv stack, DeepLab-LargeFOV, a
// ResNet38 wide block and a dilated 1024->1024 conv, and one training step of AffinityNet's
// classification network (ResNet38 + fc8 + GAP + multi-label soft-margin loss + SGD, BN in
// training mode): wsss beside libtorch, same shapes, same thread count, in one run. Prints a
// ratio table (wsss time / libtorch time) at the end.
//
//   export OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=2
//   flock /tmp/wsss-bench.lock build/bench/bench_nn --benchmark_min_time=2
//   flock /tmp/wsss-bench.lock build/bench/bench_nn --benchmark_filter=train   # the training steps only
#include <benchmark/benchmark.h>

#include "support/context.hpp"

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
#include "wsss/losses/multilabel.hpp"
#include "wsss/methods/affinitynet.hpp"
#include "wsss/nn/layers/batch_norm.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/nets/vgg16.hpp"
#include "wsss/nn/optim/sgd.hpp"

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

// Runs body() per iteration, and records the mean wall time under (name, impl). One untimed call
// first unless the caller made its own (`warm`): oneDNN builds its kernels on a shape's first
// call (the first layer alone measured 20 ms per call instead of 2.7 when it ran cold), and
// wsss sizes its workspaces; both sides are compared in their steady state.
template <class F>
void timed_loop(benchmark::State& state, const std::string& name, const std::string& impl, F&& body, bool warm = false) {
  if (!warm) body();
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

// ---- one training step of AffinityNet's classification network ---------------------------

// The method's classifier (methods::affinitynet::make_classifier: ResNet38 with BN learning,
// nothing frozen, Dropout2d in b6 / b7 and before fc8, fc8 1x1 without bias, GAP) at a width,
// on square crops of a size, in batches: width 1 is the paper's network, 1/16 the main job's
// (affinitynet::config::scenes()).
struct train_case {
  double width;
  index_t size, batch;
};
const std::vector<train_case> train_cases{{1.0, 448, 1}, {1.0, 448, 2}, {1.0 / 16, 448, 1}, {1.0 / 16, 448, 2},
                                          {1.0 / 16, 128, 8}};
std::string train_name(const benchmark::State& s) {
  const train_case& c = train_cases[static_cast<std::size_t>(s.range(0))];
  return std::string("affinitynet cls train w") + (c.width == 1.0 ? "1" : "1/16") + " " + std::to_string(c.size) + " b" +
         std::to_string(c.batch);
}
// Tags of item i: two or three VOC classes (the loss's targets; cost is independent of them).
tag_set train_tags(index_t i) {
  tag_set t{static_cast<int>(1 + i % 20), static_cast<int>(1 + (i * 7 + 3) % 20)};
  if (i % 2 == 0) t.push_back(static_cast<int>(1 + (i * 13 + 9) % 20));
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  return t;
}

// Forward (training mode), the loss, backward and the SGD update (momentum 0.9, weight decay
// 5e-4), as methods::train runs a step. One step before the timing fills the allocator's cache.
void bm_wsss_train(benchmark::State& state) {
  backend::set_num_threads(bench_threads());
  const train_case& c = train_cases[static_cast<std::size_t>(state.range(0))];
  methods::affinitynet<>::config cfg;
  cfg.width = c.width;
  const methods::affinitynet<> method(cfg);
  rng g(11);
  auto net = method.make_classifier(21, g);
  nn::optim::sgd opt(net, {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f});
  const losses::multilabel loss({.classes = 20});
  const tensor x = random_input({c.batch, 3, c.size, c.size});
  std::vector<tag_set> tags;
  for (index_t i = 0; i < c.batch; ++i) tags.push_back(train_tags(i));
  const batch b{.tags = tags};
  const exec<omp_t> ex{};
  auto step = [&] {
    ad::tape t;
    t.set_training(true);
    const ad::var scores = net(t, t.leaf(x), b);
    auto pl = loss.prepare(ex, b, scores.shape());
    t.backward(loss.record(t, pl, scores));
    opt.step();
    opt.zero_grad();
  };
  step();
  timed_loop(state, train_name(state), "wsss", step, true);
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
                                                         {1024, 1024, 41, 1, 1},
                                                         // the width-1/16 classifier's layers (main job)
                                                         {3, 4, 448, 3, 1},     {8, 8, 224, 3, 1},
                                                         {16, 16, 112, 3, 1},   {32, 32, 56, 3, 1},
                                                         {64, 64, 56, 3, 2},    {128, 128, 56, 1, 1}};

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

// psa's network/resnet38d.py and resnet38_cls.py, channels scaled as nn::scale_channels.
std::int64_t torch_width(std::int64_t c, double w) { return std::max<std::int64_t>(1, std::llround(static_cast<double>(c) * w)); }

struct TorchResBlockImpl : tn::Module {
  bool same_shape;
  tn::BatchNorm2d bn_branch2a{nullptr}, bn_branch2b1{nullptr};
  tn::Conv2d conv_branch2a{nullptr}, conv_branch2b1{nullptr}, conv_branch1{nullptr};
  TorchResBlockImpl(std::int64_t in, std::int64_t mid, std::int64_t out, std::int64_t stride, std::int64_t first_dilation,
                    std::int64_t dilation)
      : same_shape(in == out && stride == 1) {
    bn_branch2a = register_module("bn_branch2a", tn::BatchNorm2d(in));
    conv_branch2a = register_module("conv_branch2a", tn::Conv2d(tn::Conv2dOptions(in, mid, 3).stride(stride).padding(first_dilation).dilation(first_dilation).bias(false)));
    bn_branch2b1 = register_module("bn_branch2b1", tn::BatchNorm2d(mid));
    conv_branch2b1 = register_module("conv_branch2b1", tn::Conv2d(tn::Conv2dOptions(mid, out, 3).padding(dilation).dilation(dilation).bias(false)));
    if (!same_shape) conv_branch1 = register_module("conv_branch1", tn::Conv2d(tn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor a = torch::relu(bn_branch2a(x));
    const torch::Tensor shortcut = same_shape ? x : conv_branch1(a);
    return shortcut + conv_branch2b1(torch::relu(bn_branch2b1(conv_branch2a(a))));
  }
};
TORCH_MODULE(TorchResBlock);

struct TorchResBlockBotImpl : tn::Module {
  double drop;
  tn::BatchNorm2d bn_branch2a{nullptr}, bn_branch2b1{nullptr}, bn_branch2b2{nullptr};
  tn::Conv2d conv_branch2a{nullptr}, conv_branch2b1{nullptr}, conv_branch2b2{nullptr}, conv_branch1{nullptr};
  TorchResBlockBotImpl(std::int64_t in, std::int64_t out, std::int64_t dilation, double p) : drop(p) {
    const std::int64_t q = std::max<std::int64_t>(1, out / 4), h = std::max<std::int64_t>(1, out / 2);
    bn_branch2a = register_module("bn_branch2a", tn::BatchNorm2d(in));
    conv_branch2a = register_module("conv_branch2a", tn::Conv2d(tn::Conv2dOptions(in, q, 1).bias(false)));
    bn_branch2b1 = register_module("bn_branch2b1", tn::BatchNorm2d(q));
    conv_branch2b1 = register_module("conv_branch2b1", tn::Conv2d(tn::Conv2dOptions(q, h, 3).padding(dilation).dilation(dilation).bias(false)));
    bn_branch2b2 = register_module("bn_branch2b2", tn::BatchNorm2d(h));
    conv_branch2b2 = register_module("conv_branch2b2", tn::Conv2d(tn::Conv2dOptions(h, out, 1).bias(false)));
    conv_branch1 = register_module("conv_branch1", tn::Conv2d(tn::Conv2dOptions(in, out, 1).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    namespace F = torch::nn::functional;
    const auto d = F::Dropout2dFuncOptions().p(drop).training(is_training());
    const torch::Tensor a = torch::relu(bn_branch2a(x));
    const torch::Tensor shortcut = conv_branch1(a);
    torch::Tensor b = conv_branch2b1(F::dropout2d(torch::relu(bn_branch2b1(conv_branch2a(a))), d));
    b = conv_branch2b2(F::dropout2d(torch::relu(bn_branch2b2(b)), d));
    return shortcut + b;
  }
};
TORCH_MODULE(TorchResBlockBot);

// resnet38_cls.Net: conv6 -> Dropout2d(0.5) -> global average pool -> fc8 (1x1, no bias).
struct TorchResNet38ClsImpl : tn::Module {
  tn::Conv2d conv1a{nullptr}, fc8{nullptr};
  std::vector<TorchResBlock> units;
  TorchResBlockBot b6{nullptr}, b7{nullptr};
  tn::BatchNorm2d bn7{nullptr};
  explicit TorchResNet38ClsImpl(double width) {
    const auto w = [&](std::int64_t c) { return torch_width(c, width); };
    conv1a = register_module("conv1a", tn::Conv2d(tn::Conv2dOptions(3, w(64), 3).padding(1).bias(false)));
    struct spec {
      const char* name;
      std::int64_t in, mid, out, stride, first_dilation, dilation;
    };
    const spec specs[] = {{"b2", 64, 128, 128, 2, 1, 1},     {"b2_1", 128, 128, 128, 1, 1, 1},  {"b2_2", 128, 128, 128, 1, 1, 1},
                          {"b3", 128, 256, 256, 2, 1, 1},    {"b3_1", 256, 256, 256, 1, 1, 1},  {"b3_2", 256, 256, 256, 1, 1, 1},
                          {"b4", 256, 512, 512, 2, 1, 1},    {"b4_1", 512, 512, 512, 1, 1, 1},  {"b4_2", 512, 512, 512, 1, 1, 1},
                          {"b4_3", 512, 512, 512, 1, 1, 1},  {"b4_4", 512, 512, 512, 1, 1, 1},  {"b4_5", 512, 512, 512, 1, 1, 1},
                          {"b5", 512, 512, 1024, 1, 1, 2},   {"b5_1", 1024, 512, 1024, 1, 2, 2}, {"b5_2", 1024, 512, 1024, 1, 2, 2}};
    for (const spec& u : specs)
      units.push_back(register_module(u.name, TorchResBlock(w(u.in), w(u.mid), w(u.out), u.stride, u.first_dilation, u.dilation)));
    b6 = register_module("b6", TorchResBlockBot(w(1024), w(2048), 4, 0.3));
    b7 = register_module("b7", TorchResBlockBot(w(2048), w(4096), 4, 0.5));
    bn7 = register_module("bn7", tn::BatchNorm2d(w(4096)));
    fc8 = register_module("fc8", tn::Conv2d(tn::Conv2dOptions(w(4096), 20, 1).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) {
    namespace F = torch::nn::functional;
    x = conv1a(x);
    for (auto& u : units) x = u(x);
    x = torch::relu(bn7(b7(b6(x))));
    x = F::dropout2d(x, F::Dropout2dFuncOptions().p(0.5).training(is_training()));
    x = F::avg_pool2d(x, F::AvgPool2dFuncOptions({x.size(2), x.size(3)}));
    return fc8(x).view({x.size(0), -1});
  }
};
TORCH_MODULE(TorchResNet38Cls);

void bm_torch_train(benchmark::State& state) {
  torch::set_num_threads(bench_threads());
  const train_case& c = train_cases[static_cast<std::size_t>(state.range(0))];
  torch::manual_seed(42);
  TorchResNet38Cls net(c.width);
  net->train(true);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
  const torch::Tensor x = torch::randn({c.batch, 3, c.size, c.size});
  torch::Tensor y = torch::zeros({c.batch, 20});
  for (index_t i = 0; i < c.batch; ++i)
    for (int t : train_tags(i)) y[i][t - 1] = 1.0f;
  auto step = [&] {
    opt.zero_grad();
    const torch::Tensor loss = torch::nn::functional::multilabel_soft_margin_loss(net->forward(x), y);
    loss.backward();
    opt.step();
  };
  step();
  timed_loop(state, train_name(state), "libtorch", step, true);
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
  // A step of the width-1 network takes tens of seconds: one timed step (after the warm-up);
  // the 1/16-wide ones five.
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(train_cases.size()); ++i) {
    const int steps = train_cases[static_cast<std::size_t>(i)].width == 1.0 ? 1 : 5;
    benchmark::RegisterBenchmark("wsss_train", bm_wsss_train)->Arg(i)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(steps);
#if WSSS_BENCH_WITH_TORCH
    benchmark::RegisterBenchmark("torch_train", bm_torch_train)->Arg(i)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(steps);
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
  std::printf("\n%-40s %12s %12s %8s\n", "case (batch 1 unless named)", "wsss ms", "libtorch ms", "ratio");
  for (const auto& [name, impls] : timings()) {
    const auto w = impls.find("wsss"), t = impls.find("libtorch");
    const double wm = w == impls.end() ? 0 : w->second * 1e3, tm = t == impls.end() ? 0 : t->second * 1e3;
    if (wm > 0 && tm > 0)
      std::printf("%-40s %12.1f %12.1f %8.2f\n", name.c_str(), wm, tm, wm / tm);
    else
      std::printf("%-40s %12.1f %12s %8s\n", name.c_str(), wm, tm > 0 ? std::to_string(tm).c_str() : "-", "-");
  }
  std::printf("ratio = wsss time / libtorch time (< 1: wsss faster); threads: %d\n", bench_threads());
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  if (const int rc = wsss_bench::run_benchmarks(argc, argv)) return rc;
  print_ratio_table();
  return 0;
}
