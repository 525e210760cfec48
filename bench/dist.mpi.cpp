// SPDX-License-Identifier: MIT
// bench_dist_mpi — data-parallel training's gradient exchange over MPI ranks: dist::sum_gradients
// (small tensors packed, large ones whole) against one MPI_Allreduce per parameter tensor, on the
// parameter sets of DeepLab-LargeFOV and ResNet38 at the main job's widths and at full width.
// Built where MPI is (target wsss::mpi); run it under mpirun, rank 0 reports:
//
//   mpirun -np 2 build-bench/bench/bench_dist_mpi
//
// Every benchmark runs a fixed number of iterations so that the ranks' collectives meet.
#include <benchmark/benchmark.h>

#include "support/context.hpp"

#include <cstdio>
#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wsss/dist/data_parallel.hpp"
#include "wsss/dist/mpi.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/nets/resnet38.hpp"
#include "wsss/report/cpu.hpp"

namespace {

using namespace wsss;
std::unique_ptr<dist::mpi_group> ranks;

/// Trainable parameters of a network with their gradients allocated (filled with ones).
template <class Net>
struct params_of {
  Net net;
  std::vector<ad::parameter*> ps;
  explicit params_of(const typename Net::config& c) {
    rng g(1);
    net = Net(c, g);
    for (ad::parameter* p : nn::collect_params(net))
      if (p->trainable) {
        p->grad = tensor(p->value.shape(), 1.0f);
        ps.push_back(p);
      }
  }
};

template <class Net>
void exchange(benchmark::State& state, const typename Net::config& c, bool bucketed) {
  params_of<Net> p(c);
  std::size_t floats = 0;
  for (const ad::parameter* q : p.ps) floats += static_cast<std::size_t>(q->grad.numel());
  std::vector<float> bucket;
  const auto once = [&] {
    if (bucketed) {
      dist::sum_gradients(*ranks, p.ps, bucket);
    } else {
      for (ad::parameter* q : p.ps) ranks->sum(std::span<float>(q->grad.data(), static_cast<std::size_t>(q->grad.numel())));
    }
  };
  once();  // untimed: MPI's first use of these buffers (registration, page faults) is not the steady state
  for (auto _ : state) once();
  state.counters["tensors"] = static_cast<double>(p.ps.size());
  state.counters["MB"] = static_cast<double>(floats) * 4.0 / 1e6;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(floats) * 4);
}

void deeplab(benchmark::State& s, double width, bool bucketed) {
  exchange<nn::deeplab_largefov>(s, {.width = width}, bucketed);
}
void resnet(benchmark::State& s, double width, bool bucketed) {
  exchange<nn::resnet38>(s, {.width = width}, bucketed);  // psa's trainable set: BN and b2 frozen
}

// Rank 0 prints Google Benchmark's table and the bucketed / per-tensor ratios; the others nothing.
class rank_reporter : public benchmark::ConsoleReporter {
 public:
  bool ReportContext(const Context& c) override { return ranks->root() ? ConsoleReporter::ReportContext(c) : true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string n = r.benchmark_name();
      const bool bucketed = n.find("/buckets") != std::string::npos;
      times_[n.substr(0, n.find('/'))][bucketed ? 0 : 1] = r.GetAdjustedRealTime();
    }
    if (ranks->root()) ConsoleReporter::ReportRuns(runs);
  }
  void table() const {
    if (!ranks->root()) return;
    std::printf("\n%-28s %12s %12s %7s\n", "parameters", "buckets ms", "per-tensor ms", "ratio");
    for (const auto& [name, t] : times_)
      if (t[0] > 0 && t[1] > 0)  // both variants ran (not filtered out)
        std::printf("%-28s %12.3f %12.3f %6.2fx\n", name.c_str(), t[0], t[1], t[1] / t[0]);
    std::printf("ratio = per-tensor time / bucketed time (> 1: buckets faster); %s, %s, 1 thread per rank\n",
                ranks->describe().c_str(), report::cpu_name().c_str());
  }

 private:
  std::map<std::string, std::array<double, 2>> times_;
};

}  // namespace

int main(int argc, char** argv) {
  ranks = std::make_unique<dist::mpi_group>();
  for (const bool b : {true, false}) {
    const char* how = b ? "buckets" : "per_tensor";
    benchmark::RegisterBenchmark((std::string("deeplab_w0.125/") + how).c_str(), deeplab, 0.125, b)->Iterations(50)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("deeplab_w1/") + how).c_str(), deeplab, 1.0, b)->Iterations(30)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("resnet38_w0.0625/") + how).c_str(), resnet, 0.0625, b)->Iterations(50)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("resnet38_w1/") + how).c_str(), resnet, 1.0, b)->Iterations(10)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  rank_reporter reporter;
  const int rc = wsss_bench::run_benchmarks(argc, argv, &reporter);
  if (rc == 0) reporter.table();
  ranks.reset();
  return rc;
}
