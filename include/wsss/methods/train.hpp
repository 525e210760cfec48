// SPDX-License-Identifier: MIT
// wsss/methods/train.hpp — the training loop every method's networks share: mini-batch SGD with
// the poly learning rate (DeepLab, psa), a checkpoint after every epoch so a killed run resumes
// exactly, a CSV log of every step and a progress bar
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <exception>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/tape.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/random.hpp"
#include "wsss/dist/data_parallel.hpp"
#include "wsss/dist/group.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/nn/optim/adam.hpp"
#include "wsss/nn/optim/schedule.hpp"
#include "wsss/nn/optim/sgd.hpp"
#include "wsss/nn/weights.hpp"
#include "wsss/report/csv_log.hpp"
#include "wsss/report/progress.hpp"

namespace wsss::methods {

/// The update rule of a training schedule.
enum class optimizer {
  sgd,   ///< SGD with momentum: the papers' choice for ImageNet-initialised networks
  adam,  ///< Adam (SPN's choice): converges in far fewer steps from random weights
};

/// One network's training schedule (psa: SGD, lr 0.1 poly 0.9, wd 5e-4).
struct train_config {
  int epochs = 8;
  int batch_size = 8;
  optimizer update = optimizer::sgd;
  float lr = 0.1f;             ///< base learning rate (each parameter's lr_mult applies)
  float momentum = 0.9f;       ///< SGD only; psa's code ends up with ~0 here (reference-semantics 1.7)
  float weight_decay = 5e-4f;
  float poly_power = 0.9f;     ///< lr = lr0 (1 - step / steps)^power
  long long step_every = 0;    ///< > 0: Caffe's "step" policy instead, lr0 step_gamma^floor(step / step_every)
  float step_gamma = 0.1f;

  void validate(std::string_view component) const {
    if (epochs < 1 || batch_size < 1) throw_value(component, "epochs and batch size must be >= 1, got ", epochs, " and ", batch_size);
    if (!(lr > 0.0f) || momentum < 0.0f || weight_decay < 0.0f || poly_power < 0.0f || step_every < 0 || !(step_gamma > 0.0f))
      throw_value(component, "needs lr > 0, step_gamma > 0 and momentum, weight decay, poly power, step_every >= 0");
  }
  /// The learning rate of step `it` of `total`.
  float lr_at(long long it, long long total) const {
    if (step_every > 0) return nn::optim::step_schedule{lr, step_gamma, step_every}(it);
    return nn::optim::poly_schedule{lr, total, poly_power}(it);
  }
};

/// What one step hands back: the loss to minimise and the named parts to log.
struct step_result {
  ad::var loss{};
  std::vector<float> parts{};
  std::shared_ptr<const void> keep{};  ///< what the recorded ops point to (pair lists, labels) until backward
};

/// Where and how a training stage reports.
struct train_io {
  std::filesystem::path dir;             ///< checkpoint.safetensors, log.csv, weights.safetensors
  std::string label = "train";           ///< progress bar label
  std::vector<std::string> part_names;   ///< CSV columns of step_result::parts
  bool quiet = false;                    ///< no progress bar
  std::function<void(int epoch)> after_epoch;  ///< called after each epoch's checkpoint (tests stop runs here)
  /// Data-parallel training over these ranks (nullptr: this process alone): each rank runs a
  /// block of every mini-batch and the gradients are summed (dist/data_parallel.hpp).
  const dist::group* group = nullptr;
  /// With several ranks: batch statistics over the whole mini-batch (synchronised batch norm)
  /// instead of each rank's block (per-rank, PyTorch DDP's default; faster, one exchange less
  /// per BN layer and pass).
  bool sync_batch_norm = false;
};

/// A 64-bit mix of a seed and stream ids (splitmix64 rounds), so every epoch's shuffle, every
/// step's augmentation and every step's dropout masks have their own reproducible stream.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  std::uint64_t z = seed;
  for (std::uint64_t v : {a, b}) {
    z += 0x9E3779B97F4A7C15ull ^ v;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
  }
  return z;
}

/// The finished network's file in a training folder.
inline std::filesystem::path weights_file(const std::filesystem::path& dir) { return dir / "weights.safetensors"; }

/// The mini-batches of a training stage, epoch by epoch (a BatchSampler): per_epoch() batches
/// of example indices per epoch, epoch(e, seed) lists them and depends only on (seed, e), so a
/// resumed run draws the same batches.
template <class S>
concept BatchSampler = requires(const S& s, int epoch, std::uint64_t seed) {
  { s.per_epoch() } -> std::convertible_to<long long>;
  { s.epoch(epoch, seed) } -> std::same_as<std::vector<std::vector<std::size_t>>>;
};

/// A shuffled pass over `items` examples per epoch in batches of batch_size (the last one shorter).
struct shuffled_batches {
  std::size_t items = 0, batch_size = 1;

  long long per_epoch() const { return static_cast<long long>((items + batch_size - 1) / batch_size); }
  std::vector<std::vector<std::size_t>> epoch(int e, std::uint64_t seed) const {
    std::vector<std::size_t> order(items);
    std::iota(order.begin(), order.end(), std::size_t{0});
    rng shuffle(mix_seed(seed, 1, static_cast<std::uint64_t>(e)));
    for (std::size_t i = items; i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
    std::vector<std::vector<std::size_t>> out;
    for (std::size_t lo = 0; lo < items; lo += batch_size)
      out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(lo),
                       order.begin() + static_cast<std::ptrdiff_t>(std::min(items, lo + batch_size)));
    return out;
  }
};
static_assert(BatchSampler<shuffled_batches>);

/// EM's semi-supervised mini-batches (Papandreou et al. 2015, sec. 3.4): every batch bundles a
/// fixed proportion of strongly and weakly annotated examples. An epoch is a shuffled pass over
/// the weak examples, weak_per_batch at a time; each batch is joined by strong_per_batch strong
/// examples taken in turn from their own stream, reshuffled after every pass over them (a
/// small strong set is seen many times per epoch). Strong examples come first in each batch.
struct mixed_batches {
  std::vector<std::size_t> weak, strong;  ///< example indices of each kind (disjoint)
  std::size_t weak_per_batch = 1, strong_per_batch = 1;

  void validate(std::string_view component) const {
    if (weak.empty() || strong.empty())
      throw_value(component, "a mixed batch needs weak and strong examples, got ", weak.size(), " weak and ", strong.size(), " strong");
    if (weak_per_batch < 1 || strong_per_batch < 1)
      throw_value(component, "each batch needs >= 1 weak and >= 1 strong example, got ", weak_per_batch, " and ", strong_per_batch);
  }
  long long per_epoch() const { return static_cast<long long>((weak.size() + weak_per_batch - 1) / weak_per_batch); }
  std::vector<std::vector<std::size_t>> epoch(int e, std::uint64_t seed) const {
    validate("methods::mixed_batches");
    const auto weak_batches = shuffled_batches{weak.size(), weak_per_batch}.epoch(e, seed);
    const auto strong_at = [&](std::uint64_t p) {  // the p-th strong draw since the start of training
      const std::uint64_t n = strong.size(), pass = p / n;
      std::vector<std::size_t> order(strong);
      rng shuffle(mix_seed(seed, 4, pass));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
      return order[static_cast<std::size_t>(p % n)];
    };
    std::vector<std::vector<std::size_t>> out;
    for (std::size_t b = 0; b < weak_batches.size(); ++b) {
      const auto step = static_cast<std::uint64_t>(e) * static_cast<std::uint64_t>(per_epoch()) + b;
      std::vector<std::size_t> batch;
      for (std::size_t j = 0; j < strong_per_batch; ++j) batch.push_back(strong_at(step * strong_per_batch + j));
      for (std::size_t k : weak_batches[b]) batch.push_back(weak[k]);
      out.push_back(std::move(batch));
    }
    return out;
  }
};
static_assert(BatchSampler<mixed_batches>);

namespace detail {

template <class Net, class Opt, class Sampler, class Step>
void train_with(Net& net, Opt& opt, const Sampler& sampler, const train_config& cfg, std::uint64_t seed,
                const train_io& io, Step& step) {
  constexpr std::string_view comp = "methods::train";
  const long long per_epoch = sampler.per_epoch();
  const long long total = per_epoch * cfg.epochs;
  const auto lr = [&](long long it) { return cfg.lr_at(it, total); };

  const auto ckpt = io.dir / "checkpoint.safetensors";
  int first_epoch = 0;
  if (std::filesystem::exists(ckpt)) {
    auto all = io::load_safetensors(ckpt);
    std::map<std::string, tensor> net_state;
    nn::optim::state_dict opt_state;
    for (auto& [k, v] : all) {
      if (k.starts_with("net.")) net_state.emplace(k.substr(4), std::move(v));
      else if (k.starts_with("opt.")) opt_state.emplace_back(k.substr(4), std::move(v));
    }
    nn::load_state(net, net_state, {}, ckpt);
    opt.load_state(opt_state);
    const auto meta = io::load_safetensors_metadata(ckpt);
    const auto e = meta.find("epoch");
    if (e == meta.end()) throw_io(comp, ckpt, "checkpoint has no \"epoch\" entry in its metadata");
    first_epoch = std::stoi(e->second);
    if (first_epoch < 0 || first_epoch > cfg.epochs)
      throw_io(comp, ckpt, "checkpoint is at epoch ", first_epoch, " of a run of ", cfg.epochs);
  }

  // Data parallel over g (docs/distributed.md): rank r runs block r of every mini-batch with
  // its loss weighted by the block's share, so the gradients summed over the ranks are those of
  // the whole batch's mean loss. Rank 0 alone logs, draws the bar and writes files.
  const dist::group& g = io.group ? *io.group : dist::local();
  const bool many = g.size() > 1;
  const std::vector<ad::parameter*> params = nn::collect_params(net);
  std::vector<ad::parameter*> buffers;
  nn::visit_buffers(net, [&](ad::parameter& b) { buffers.push_back(&b); });
  std::vector<float> bucket;
  double exchange_s = 0, steps_s = 0;  // the gradient exchange's share of the steps, reported at the end

  std::vector<std::string> columns{"epoch", "step", "loss"};
  columns.insert(columns.end(), io.part_names.begin(), io.part_names.end());
  columns.insert(columns.end(), {"lr", "seconds"});
  std::optional<report::csv_log> log;
  if (g.root()) log.emplace(report::csv_log::resume(io.dir / "log.csv", columns, first_epoch * per_epoch));
  report::progress_bar bar(io.label, static_cast<std::size_t>(total), stderr, {.quiet = io.quiet || !g.root()});
  bar.tick(static_cast<std::size_t>(first_epoch * per_epoch));

  const auto t0 = std::chrono::steady_clock::now();
  const auto since = [](auto t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); };
  for (int epoch = first_epoch; epoch < cfg.epochs; ++epoch) {
    const std::vector<std::vector<std::size_t>> batches = sampler.epoch(epoch, seed);
    for (long long b = 0; b < per_epoch; ++b) {
      const auto ts = std::chrono::steady_clock::now();
      const long long it = epoch * per_epoch + b;
      const std::vector<std::size_t>& batch = batches[static_cast<std::size_t>(b)];
      const auto [lo, hi] = dist::block(batch.size(), g.rank(), g.size());
      if (many && io.sync_batch_norm && batch.size() < static_cast<std::size_t>(g.size()))
        throw_value(comp, io.label, ": a batch of ", batch.size(), " examples at step ", it, " leaves rank ", g.rank(),
                    " of ", g.size(), " without one, which synchronised batch norm needs; use fewer ranks");
      const std::span<const std::size_t> idx(batch.data() + lo, hi - lo);
      const float share = static_cast<float>(idx.size()) / static_cast<float>(batch.size());
      // Per (step, rank) random streams; one process keeps the streams of every earlier release.
      const auto stream = [&](std::uint64_t kind) {
        const std::uint64_t s0 = mix_seed(seed, kind, static_cast<std::uint64_t>(it));
        return many ? mix_seed(s0, 6, static_cast<std::uint64_t>(g.rank())) : s0;
      };
      // loss and parts of this rank's block, weighted by its share: summed, the batch's
      std::vector<float> sums(1 + io.part_names.size(), 0.0f);
      std::exception_ptr error;
      try {
        if (!idx.empty()) {
          ad::tape t;
          t.set_training(true);
          if (many && io.sync_batch_norm) t.set_batch_group(&g);
          t.rng().reseed(stream(2));
          rng gen(stream(3));
          step_result r = step(t, idx, gen);
          sums[0] = r.loss.value()[0];
          if (r.parts.size() != io.part_names.size())
            throw_value(comp, io.label, ": the step returned ", r.parts.size(), " loss parts for ", io.part_names.size(),
                        " named columns");
          std::copy(r.parts.begin(), r.parts.end(), sums.begin() + 1);
          if (many) {
            for (float& v : sums) v *= share;
            t.backward(r.loss, tensor(r.loss.value().shape(), share));
          } else {
            t.backward(r.loss);
          }
        }
      } catch (...) {
        error = std::current_exception();
      }
      dist::agree_on_failure(g, error, comp, io.label, ": stopped at step ", it, " (", g.describe(), "): another rank failed");
      if (many) {
        const auto tx = std::chrono::steady_clock::now();
        dist::sum_gradients(g, params, bucket);
        g.sum(std::span<float>(sums));
        exchange_s += since(tx);
      }
      const float loss = sums[0];
      if (!std::isfinite(loss)) throw_value(comp, io.label, ": the loss became ", loss, " at step ", it);
      opt.set_lr(lr(it));
      opt.step();
      opt.zero_grad();
      if (many && !io.sync_batch_norm) dist::average_buffers(g, buffers);
      steps_s += since(ts);
      if (log) {
        std::vector<report::csv_cell> row{epoch + 1, it + 1, loss};
        row.insert(row.end(), sums.begin() + 1, sums.end());
        row.emplace_back(lr(it));
        row.emplace_back(since(t0));
        log->row(row);
      }
      char note[32];
      std::snprintf(note, sizeof note, "loss %.4f", static_cast<double>(loss));
      bar.note(note);
      bar.tick();
    }
    if (g.root()) {
      std::map<std::string, tensor> state;
      for (auto& [k, v] : nn::state_dict(net)) state.emplace("net." + k, std::move(v));
      for (auto& [k, v] : opt.state()) state.emplace("opt." + k, std::move(v));
      io::save_safetensors(ckpt, state, {{"epoch", std::to_string(epoch + 1)}});
    }
    if (io.after_epoch) io.after_epoch(epoch + 1);
  }
  bar.finish();
  if (g.root()) {
    nn::save_weights(net, weights_file(io.dir), {{"epochs", std::to_string(cfg.epochs)}});
    std::filesystem::remove(ckpt);
    if (many && steps_s > 0 && !io.quiet)
      std::fprintf(stderr, "%s: %d ranks, gradient exchange %.1f%% of the steps' time (%.2f of %.2f s)\n", io.label.c_str(),
                   g.size(), 100.0 * exchange_s / steps_s, exchange_s, steps_s);
  }
  g.barrier();  // every rank leaves with the weights file written
}

}  // namespace detail

/// Trains `net` for cfg.epochs over the sampler's batches (cfg.batch_size is the sampler's
/// business). step(tape, indices, rng) records the loss of the mini-batch `indices` (its rng draws the augmentation). Every epoch ends with an
/// atomic checkpoint (parameters, buffers, optimiser state, epoch); a rerun loads the newest
/// checkpoint and continues, and the per-epoch shuffles and per-step random streams depend only
/// on (seed, epoch, step), so the resumed run ends with the same weights as an uninterrupted
/// one. When weights.safetensors exists the stage is done: it is loaded and nothing trains.
template <class Net, BatchSampler Sampler, class Step>
void train(Net& net, const Sampler& sampler, const train_config& cfg, std::uint64_t seed, const train_io& io, Step&& step) {
  constexpr std::string_view comp = "methods::train";
  cfg.validate(comp);
  if (sampler.per_epoch() < 1) throw_value(comp, "no training examples");
  if (std::filesystem::exists(weights_file(io.dir))) {
    nn::load_weights(net, weights_file(io.dir));
    return;
  }
  std::filesystem::create_directories(io.dir);
  if (cfg.update == optimizer::adam) {
    nn::optim::adam opt(net, {.lr = cfg.lr, .weight_decay = cfg.weight_decay});
    detail::train_with(net, opt, sampler, cfg, seed, io, step);
  } else {
    nn::optim::sgd opt(net, {.lr = cfg.lr, .momentum = cfg.momentum, .weight_decay = cfg.weight_decay});
    detail::train_with(net, opt, sampler, cfg, seed, io, step);
  }
}

/// The same over `items` examples in shuffled batches of cfg.batch_size (shuffled_batches).
template <class Net, class Step>
void train(Net& net, std::size_t items, const train_config& cfg, std::uint64_t seed, const train_io& io, Step&& step) {
  train(net, shuffled_batches{items, static_cast<std::size_t>(std::max(cfg.batch_size, 1))}, cfg, seed, io,
        std::forward<Step>(step));
}

}  // namespace wsss::methods
