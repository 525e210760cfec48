// SPDX-License-Identifier: MIT
// wsss/methods/attention_crf.hpp — Roy & Todorovic (CVPR 2017): bottom-up DeepLab scores, an FCL
// for the image classes, top-down attention maps (a rectified-Gaussian QP per layer), and a
// CRF-RNN on their fused unary, trained end to end with Delta = Delta^C + lambda Delta^S
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/attention/concepts.hpp"
#include "wsss/attention/coordinate_ascent.hpp"
#include "wsss/attention/excitation.hpp"
#include "wsss/attention/top_down.hpp"
#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/softmax.hpp"
#include "wsss/cam/background.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/crf_rnn.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/losses/attention_seg.hpp"
#include "wsss/losses/constrain.hpp"
#include "wsss/losses/multilabel.hpp"
#include "wsss/methods/run.hpp"
#include "wsss/methods/stages.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/pool/fcl.hpp"

namespace wsss::methods {

/// Table 1: B1 attention, B2 seg_loss, B3 att_unary, B4 neighbor, B5 crf_rnn (then a dense
/// CRF post-processes), B6 att_inference (a row of every run with attention, not a retrain).
struct attention_components {
  bool attention = true;   ///< top-down attention at all (B1: Delta^C only, unary -log p^S)
  bool seg_loss = true;    ///< Delta^S (eq. 15)
  bool att_unary = true;   ///< p^A in the CRF's unary (eq. 11)
  bool neighbor = true;    ///< D in the attention QP (B4: the Markov chain)
  bool crf_rnn = true;     ///< the CRF-RNN (B5: none in training, the dense CRF at test time)
};

/// The method's settings (the same for every solver and CRF slot, so code that is not a template,
/// e.g. a method compiled in another translation unit by nvcc, can hold one):
/// attention_crf<S, Crf>::config.
struct attention_config {
  static constexpr std::string_view name = "attention";
  nn::deeplab_largefov::config net{};
  nn::normalization input = nn::caffe_bgr_sec;
  index_t input_size = 321;                     ///< 41 x 41 score maps
  std::filesystem::path backbone_weights{};     ///< VGG16 + fc6 + fc7 (empty: random)
  std::uint64_t seed = 1;
  /// Sec. 7: batch 20, momentum 0.9, lr 1e-3 x0.1 every 2000 iterations, 10000 iterations
  /// (= 18.4 epochs of VOC's 10582 train_aug images).
  train_config training{.epochs = 18, .batch_size = 20, .lr = 1e-3f, .step_every = 2000};
  float lambda = 1.5f;            ///< eq. 13
  float attention_floor = 1e-5f;  ///< p^A clipped below in eq. 11's log (absent classes: p^A = 0)
  float prob_eps = 1e-5f;         ///< p^S clipped in eq. 15's logs
  float class_threshold = 0.5f;   ///< inference: classes with p(y|x) above it get attention maps
  attention::top_down_config top_down{};
  attention::lateral_config lateral{};
  /// Sec. 5: three mean-field iterations, learned 1 x 1 compatibility, fixed kernels (their
  /// weights are frozen too: "fixed bi-lateral kernels"). In training the CRF runs on the
  /// score grid with the image downscaled to it (spatial deviations divided by the stride);
  /// at test time on the full image with the learned compatibility.
  typename crf::crf_rnn<>::config crf{.iterations = 3};
  crf::mean_field<>::config dense_crf{};  ///< B5's post-processing
  attention_components use{};

  /// The scenes dataset (128-pixel images) in minutes on 2 cores, as sec_config::scenes:
  /// 1/8 width with BatchNorm, 17 x 17 scores, fc6 rate 3, Adam, the `wsss pretrain sec` backbone.
  static attention_config scenes() {
    attention_config c;
    scenes_deeplab(c);
    c.training = scenes_adam;
    return c;
  }

  void validate() const {
    training.validate(name);
    lateral.validate(name);
    if (input_size < 8) throw_value(name, "input_size must be >= 8, got ", input_size);
    if (!(lambda >= 0) || !std::isfinite(lambda)) throw_value(name, "lambda must be finite and >= 0, got ", lambda);
    for (float v : {attention_floor, prob_eps})
      if (!(v > 0.0f && v < 0.5f)) throw_value(name, "attention_floor and prob_eps must be in (0, 0.5), got ", v);
    if (!(class_threshold > 0.0f && class_threshold < 1.0f))
      throw_value(name, "class_threshold must be in (0, 1), got ", class_threshold);
    if (crf.iterations < 1) throw_value(name, "the CRF-RNN needs at least one iteration, got ", crf.iterations);
  }
};

/// The attention + CRF-RNN pipeline with the attention QP's solver and the CRF-RNN as its
/// slots. One network, trained end to end (sec. 6), then:  predict (val; classes from the FCL)
/// -> pseudo-labels (train; tags known) -> evaluate. Table 1's baselines switch parts off
/// (components). Crf: crf::crf_rnn<> (host) or crf::device_crf_rnn<Tag> (the CRF-RNN's
/// iterations, forward and backward, on Tag; called through policy_exec), any trainable
/// DifferentiableCrf with crf_rnn's config and parameters.
template <attention::AttentionSolver Solver = attention::coordinate_ascent, crf::DifferentiableCrf Crf = crf::crf_rnn<>>
  requires Trainable<Crf> && std::same_as<typename Crf::config, crf::crf_rnn<>::config>
class attention_crf {
 public:
  static constexpr std::string_view name = attention_config::name;
  using components = attention_components;
  using config = attention_config;

  /// Everything that trains (sec. 6: "all components ... end to end"): DeepLab-LargeFOV, the
  /// FCL over the pixel-wise label probabilities, the CRF-RNN's compatibility.
  struct model {
    static constexpr std::string_view name = "attention_model";
    nn::deeplab_largefov net;
    pool::fcl fcl;
    Crf crf;
    /// The bottom-up scores f (the Layer interface; the method records the rest itself).
    ad::var operator()(ad::tape& t, ad::var x) { return net(t, x); }
    template <class F>
    void visit_params(F&& f) {
      net.visit_params(f);
      fcl.visit_params(f);
      crf.visit_params(f);
    }
    template <class F>
    void visit_buffers(F&& f) {
      net.visit_buffers(f);
    }
  };

  config cfg;
  Solver solver{};  ///< slot: the attention QP's solver (AttentionSolver)

  attention_crf() { cfg.validate(); }
  explicit attention_crf(config c, Solver s = {}) : cfg(std::move(c)), solver(std::move(s)) { cfg.validate(); }

  index_t score_size() const { return nn::deeplab_largefov::output_size(cfg.input_size); }

  model make_model(index_t classes, rng& g) const {
    model m{deeplab_from(cfg.net, classes, cfg.backbone_weights, g),
            pool::fcl({.classes = classes, .height = score_size(), .width = score_size(), .sigmoid = false}),
            Crf(crf_config(classes, true))};
    m.crf.kernel_weights.trainable = false;
    if (!cfg.use.crf_rnn) m.crf.compat.trainable = false;  // B5: no CRF-RNN to learn
    return m;
  }

  /// The CRF-RNN's settings on the score grid (training) or on the image (test time).
  typename Crf::config crf_config(index_t classes, bool on_grid) const {
    auto c = cfg.crf;
    c.labels = classes;
    if (on_grid) c.kernels.spatial_scale = static_cast<float>(cfg.input_size) / static_cast<float>(score_size());
    return c;
  }

  attention::top_down<Solver> top_down() const {
    attention::top_down<Solver> td{cfg.top_down, solver};
    td.cfg.neighbors = cfg.use.neighbor;
    return td;
  }

  // ---- the per-image steps -------------------------------------------------------------------

  /// Sec. 4 for one sized image: each class of `classes`' attention over pool4's positions
  /// (C x h x w on the score grid, each computed map summing to 1, 0 for the other classes),
  /// from the network in evaluation mode.
  tensor attention_maps(model& m, const attention::layer_chain& chain, const rgb_image& sized_img,
                        std::span<const int> classes, attention::pass_stats* stats) const {
    const index_t h = score_size(), k = m.net.cfg.classes;
    tensor pool3;
    {
      ad::tape t;
      t.set_training(false);
      ad::no_grad ng(t);
      pool3 = m.net.pool3(t, t.leaf(nn::normalize(sized_img, cfg.input))).value();
    }
    const std::vector<tensor> acts = chain.forward(std::move(pool3));
    const attention::qp lateral =
        cfg.use.neighbor ? attention::lateral_problem(sized_img, h, h, cfg.lateral) : attention::qp{};
    return to_classes(top_down()(chain, acts, m.fcl.weight.value, lateral, classes, stats), classes, k);
  }

  /// planes (|classes| x h x w) as a k x h x w stack: plane j at channel classes[j], 0 elsewhere.
  static tensor to_classes(const tensor& planes, std::span<const int> classes, index_t k) {
    const index_t hw = planes.dim(1) * planes.dim(2);
    tensor out({k, planes.dim(1), planes.dim(2)});
    for (std::size_t j = 0; j < classes.size(); ++j)
      std::copy_n(planes.data() + static_cast<index_t>(j) * hw, hw, out.data() + classes[j] * hw);
    return out;
  }

  /// Eq. 4 on the score grid over a set of classes: p^A (C x h x w, 0 outside the set).
  static tensor attention_over(const tensor& maps, std::span<const int> classes) {
    const index_t h = maps.dim(1), w = maps.dim(2);
    tensor sub({static_cast<index_t>(classes.size()), h, w});
    for (std::size_t j = 0; j < classes.size(); ++j)
      std::copy_n(maps.data() + classes[j] * h * w, h * w, sub.data() + static_cast<index_t>(j) * h * w);
    return to_classes(attention::class_attention(sub, h, w), classes, maps.dim(0));
  }

  /// Eq. 11's unary: -log p^S - log p^A (up to a per-pixel constant: -f - log p^A), as a var.
  ad::var unary(ad::tape& t, const ad::var& logits, const tensor* pa) const {
    const ad::var u = ad::scale(logits, -1.0f);
    if (!pa) return u;
    tensor lp = *pa;
    for (index_t i = 0; i < lp.numel(); ++i) lp[i] = -std::log(std::max(lp[i], cfg.attention_floor));
    return ad::add(u, t.leaf(std::move(lp)));
  }

  /// The pixel-wise label probabilities every loss and the FCL read: the CRF-RNN's Q_T, or
  /// (without the CRF-RNN) the softmax of the fused unary.
  ad::var segmentation(ad::tape& t, model& m, typename Crf::plan* plan, const ad::var& u) const {
    if (cfg.use.crf_rnn) return m.crf.record(t, *plan, u);
    return ad::softmax(ad::scale(u, -1.0f), 1);
  }

  /// Background and an image's tags: the classes Delta^S compares (training) and the pseudo-labels use.
  static std::vector<int> with_background(const tag_set& tags) {
    std::vector<int> c{0};
    c.insert(c.end(), tags.begin(), tags.end());
    return c;
  }

  /// The classes the model recognises in each image (Fig. 1: attention "for every recognized
  /// object class"): background and every y with p(y|x) > class_threshold, p(y|x) the FCL on
  /// the segmentation without attention (no gradient). Training and test time alike, so the
  /// attention prior never carries the ground-truth tags into the classification loss.
  std::vector<std::vector<int>> recognised(ad::tape& t, model& m, typename Crf::plan* plan, const ad::var& f) const {
    ad::no_grad ng(t);
    const ad::var q = segmentation(t, m, plan, unary(t, f, nullptr));
    auto fp = m.fcl.prepare(exec<>{}, batch{}, q.value().shape());
    const tensor z = m.fcl.record(t, fp, q).value();
    const index_t n = z.dim(0), k = z.dim(1);
    std::vector<std::vector<int>> out(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
      out[static_cast<std::size_t>(i)].push_back(0);
      for (index_t y = 1; y < k; ++y)
        if (1.0 / (1.0 + std::exp(-z[i * k + y])) > cfg.class_threshold) out[static_cast<std::size_t>(i)].push_back(static_cast<int>(y));
    }
    return out;
  }

  /// Test time, one image at its own size: p^S upsampled (`plain`, Table 1's B6), and p^S p^A
  /// (`fused`, eq. 11) with the attention of the classes (the tags, or those recognised); fused
  /// is empty without the attention unary.
  struct evidence {
    tensor plain, fused;
    tensor& unary_scores() { return fused.empty() ? plain : fused; }  ///< eq. 11's, whichever applies
  };
  template <class Tag>
  evidence evidence_for(const exec<Tag>& ex, model& m, const attention::layer_chain& chain, const rgb_image& img,
                        const tag_set* tags, attention::pass_stats* stats) const {
    const rgb_image sized = square_input(img, cfg.input_size);
    const index_t k = m.net.cfg.classes, h = score_size();
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    const ad::var f = m.net(t, t.leaf(nn::normalize(sized, cfg.input)));
    evidence e;
    e.plain = ad::softmax(f, 1).value();
    e.plain.reshape({k, h, h});
    e.plain = resize_bilinear(e.plain, img.height(), img.width(), resize_mode::align_corners);
    if (!cfg.use.attention || !cfg.use.att_unary) return e;
    std::vector<int> classes;
    if (tags) classes = with_background(*tags);
    else {
      typename Crf::plan plan;
      const rgb_image small = losses::downscale_image(sized, h, h);
      if (cfg.use.crf_rnn)
        plan = m.crf.prepare(policy_exec(m.crf, ex), images_only(std::span<const rgb_image>(&small, 1)), f.value().shape());
      classes = recognised(t, m, &plan, f).front();
    }
    const tensor up = resize_bilinear(attention_over(attention_maps(m, chain, sized, classes, stats), classes),
                                      img.height(), img.width(), resize_mode::align_corners);
    e.fused = e.plain;
    for (index_t i = 0; i < e.fused.numel(); ++i) e.fused[i] *= std::max(up[i], cfg.attention_floor);
    return e;
  }

  /// The labels of scores p (K x H x W at img's size): the learned CRF-RNN on the full image
  /// (its compatibility, kernels in image pixels), or B5's dense CRF.
  template <class Tag>
  label_map refine(const exec<Tag>& ex, const model& m, const rgb_image& img, tensor p) const {
    if (!cfg.use.crf_rnn) return crf_labels(crf::mean_field<>(cfg.dense_crf), ex, img, std::move(p), cfg.attention_floor);
    Crf full(crf_config(m.net.cfg.classes, false));
    full.compat.value = m.crf.compat.value;
    full.kernel_weights.value = m.crf.kernel_weights.value;
    return crf_labels(full, ex, img, std::move(p), cfg.attention_floor * cfg.attention_floor);
  }

  // ---- the stages --------------------------------------------------------------------------------

  run_summary run(run_context& cx) const {
    cx.begin(name, describe(), cfg.seed);
    rng init(mix_seed(cfg.seed, 40));
    model m = make_model(cx.classes(), init);
    attention::pass_stats stats;
    train_model(cx, m, stats);
    m.visit_params([](ad::parameter& p) { p.trainable = false; });
    const attention::layer_chain chain = attention::deeplab_chain(m.net);
    std::mutex mu;
    auto add = [&](const attention::pass_stats& s) {
      const std::lock_guard lock(mu);
      stats.solves += s.solves;
      stats.iterations += s.iterations;
      stats.unconverged += s.unconverged;
      stats.max_residual = std::max(stats.max_residual, s.max_residual);
    };
    const bool rows_without_att = cfg.use.attention && cfg.use.att_unary;
    std::vector<table_row> rows;
    if (cx.has_val()) {
      auto val_item = [&](std::size_t i, const exec<>& ex) {
        attention::pass_stats s;
        const rgb_image img = cx.val().image(i);
        evidence e = evidence_for(ex, m, chain, img, nullptr, &s);
        cx.save_labels("attention", cx.val().id(i), refine(ex, m, img, e.unary_scores()));
        if (rows_without_att) cx.save_labels("attention_noatt", cx.val().id(i), refine(ex, m, img, std::move(e.plain)));
        add(s);
      };
      if (rows_without_att) cx.per_image("predict (val)", cx.val(), {"attention", "attention_noatt"}, val_item);
      else cx.per_image("predict (val)", cx.val(), {"attention"}, val_item);
      // The full model's row last among the val rows: `wsss results` reports a run's last one.
      if (rows_without_att) rows.push_back({"w/o att inference (B6)", "attention_noatt", cx.val().split()});
      rows.push_back({"Attention + CRF-RNN", "attention", cx.val().split()});
    }
    const auto& data = cx.train();
    cx.per_image("pseudo-labels (train)", data, {"pseudo"}, [&](std::size_t i, const exec<>& ex) {
      attention::pass_stats s;
      const rgb_image img = data.image(i);
      evidence e = evidence_for(ex, m, chain, img, &data.tags(i), &s);
      cx.save_labels("pseudo", i, refine(ex, m, img, std::move(e.unary_scores())));
      add(s);
    });
    rows.push_back({"Attention pseudo-labels, tags known", "pseudo", data.split()});
    if (cx.group().size() > 1) {  // every rank's passes (training blocks and image shards)
      std::vector<std::int64_t> counts{stats.solves, stats.iterations, stats.unconverged};
      cx.group().sum(std::span<std::int64_t>(counts));
      stats.solves = counts[0], stats.iterations = counts[1], stats.unconverged = counts[2];
      cx.group().max(std::span<double>(&stats.max_residual, 1));
    }
    if (cx.options().out && stats.solves > 0)
      std::fprintf(cx.options().out, "attention QPs (%s): %ld solved, %.1f iterations on average, %ld unconverged, max KKT residual %.2g\n",
                   std::string(Solver::name).c_str(), stats.solves, static_cast<double>(stats.iterations) / static_cast<double>(stats.solves),
                   stats.unconverged, stats.max_residual);
    return cx.finish(rows);
  }

  /// Sec. 6: Delta = Delta^C (eq. 14, the FCL's present/absent-balanced logistic loss over
  /// background and the tags) + lambda Delta^S (eq. 15, against the attention maps of the
  /// network as it is at this step, a constant target), on images resized to input_size^2.
  void train_model(run_context& cx, model& m, attention::pass_stats& stats) const {
    const auto& data = cx.train();
    const index_t k = cx.classes();
    const losses::multilabel cls({.norm = losses::multilabel_norm::present_absent_mean, .classes = k, .first_tag = 0});
    train(m, data.size(), cfg.training, mix_seed(cfg.seed, 41), cx.net_io("model", {"classification", "segmentation"}),
          [&](ad::tape& t, std::span<const std::size_t> idx, rng&) {
            std::vector<rgb_image> imgs;
            std::vector<tag_set> tags;
            for (std::size_t j : idx) {
              imgs.push_back(square_input(data.image(j), cfg.input_size));
              tags.push_back(with_background(data.tags(j)));
            }
            const index_t n = static_cast<index_t>(imgs.size()), h = score_size();
            const ad::var f = m.net(t, t.leaf(nn::normalize(std::span<const rgb_image>(imgs), cfg.input)));
            auto plan = std::make_shared<typename Crf::plan>();
            if (cfg.use.crf_rnn) {
              std::vector<rgb_image> small;
              for (const rgb_image& im : imgs) small.push_back(losses::downscale_image(im, h, h));
              *plan = m.crf.prepare(policy_exec(m.crf, cx.ex()), images_only(small), f.value().shape());
            }
            // Attention maps of the recognised classes (the unary's prior) and of the tags
            // (Delta^S's target), from one top-down pass per class of either set.
            std::shared_ptr<tensor> prior, target;
            if (cfg.use.attention) {
              const auto seen = recognised(t, m, plan.get(), f);
              const attention::layer_chain chain = attention::deeplab_chain(m.net);
              prior = std::make_shared<tensor>(shape{n, k, h, h});
              target = std::make_shared<tensor>(shape{n, k, h, h});
              for (index_t i = 0; i < n; ++i) {
                const auto& r = seen[static_cast<std::size_t>(i)];
                const auto& y = tags[static_cast<std::size_t>(i)];
                std::vector<int> both = r;
                for (int c : y)
                  if (std::find(both.begin(), both.end(), c) == both.end()) both.push_back(c);
                const tensor maps = attention_maps(m, chain, imgs[static_cast<std::size_t>(i)], both, &stats);
                const tensor a = attention_over(maps, r), b = attention_over(maps, y);
                std::copy(a.data(), a.data() + a.numel(), prior->data() + i * a.numel());
                std::copy(b.data(), b.data() + b.numel(), target->data() + i * b.numel());
              }
            }
            const ad::var q = segmentation(t, m, plan.get(), unary(t, f, cfg.use.att_unary ? prior.get() : nullptr));
            auto fp = m.fcl.prepare(cx.ex(), batch{}, q.value().shape());
            const batch b{.images = imgs, .tags = tags};
            const ad::var z = m.fcl.record(t, fp, q);
            auto cp = cls.prepare(cx.ex(), b, z.value().shape());
            ad::var total = cls.record(t, cp, z);
            std::vector<float> parts{total.value()[0], 0.0f};
            if (cfg.use.attention && cfg.use.seg_loss) {
              auto present = std::make_shared<tensor>(shape{n, k});
              for (index_t i = 0; i < n; ++i)
                for (int c : tags[static_cast<std::size_t>(i)]) (*present)[i * k + c] = 1.0f;
              const ad::var ls = losses::attention_segmentation(t, q, target, present, cfg.prob_eps);
              parts[1] = ls.value()[0];
              total = ad::add(total, ad::scale(ls, cfg.lambda));
            }
            return step_result{total, parts, plan};
          });
  }

  std::string describe() const {
    std::ostringstream os;
    os.precision(9);
    os << "slots = " << Solver::name << "\nwidth = " << cfg.net.width << "\nfc6 dilation = " << cfg.net.fc6_dilation
       << "\ndropout = " << cfg.net.dropout << "\nbatch norm = " << cfg.net.batch_norm << "\ninput size = " << cfg.input_size
       << "\ninput mean = " << cfg.input.mean[0] << ' ' << cfg.input.mean[1] << ' ' << cfg.input.mean[2]
       << "\nbackbone weights = " << cfg.backbone_weights.string() << "\nseed = " << cfg.seed << "\n";
    describe_schedule(os, "training", cfg.training);
    os << "lambda = " << cfg.lambda << "\nfloors = " << cfg.attention_floor << ' ' << cfg.prob_eps << "\nclass threshold = "
       << cfg.class_threshold << "\ntop-down = " << cfg.top_down.target << ", feedforward " << cfg.top_down.feedforward
       << ", every layer " << cfg.top_down.every_layer << "\nlateral = " << cfg.lateral.sigma_z << ' ' << cfg.lateral.sigma_r
       << ' ' << cfg.lateral.bins << ", inhibition " << cfg.lateral.inhibition << ", precision " << cfg.lateral.precision
       << "\nsolver = tolerance " << solver.cfg.tolerance << ", iterations " << solver.cfg.max_iterations
       << "\ncrf-rnn iterations = " << cfg.crf.iterations << "\ncomponents = attention " << cfg.use.attention << ", seg loss "
       << cfg.use.seg_loss << ", att unary " << cfg.use.att_unary << ", neighbor " << cfg.use.neighbor << ", crf-rnn "
       << cfg.use.crf_rnn << "\n";
    return os.str();
  }
};

}  // namespace wsss::methods
