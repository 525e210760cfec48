// SPDX-License-Identifier: MIT
// wsss/methods/sec.hpp — SEC (Kolesnikov & Lampert, ECCV 2016): localisation cues from a CAM
// network and a gradient saliency map, DeepLab-LargeFOV trained with the seeding, expansion and
// constrain-to-boundary losses, the dense CRF at test time. One type, generic over its slots.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <concepts>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/reduce.hpp"
#include "wsss/cam/background.hpp"
#include "wsss/cam/cues.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/data/augment.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/losses/constrain.hpp"
#include "wsss/losses/sec.hpp"
#include "wsss/methods/run.hpp"
#include "wsss/methods/stages.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/nn/weights.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/gap.hpp"
#include "wsss/pool/gwrp.hpp"

namespace wsss::methods {

/// Which of eq. 1's three terms train the network (Fig. 7's ablation drops one).
struct sec_loss_terms {
  bool seed = true, expand = true, constrain = true;
};

/// SEC's settings (the same for every pooler and CRF slot, so code that is not a template, e.g.
/// a method compiled in another translation unit by nvcc, can hold one): sec<P, C>::config.
struct sec_config {
  static constexpr std::string_view name = "sec";
  /// DeepLab-LargeFOV for both networks (classes are set from the dataset).
  nn::deeplab_largefov::config net{};
  nn::normalization input = nn::caffe_bgr_sec;  ///< the reference's BGR mean (104, 117, 123)
  index_t input_size = 321;                     ///< images resized to input_size^2 (aspect not kept): 41 x 41 scores
  /// Initial weights of both networks' VGG16 + fc6 + fc7 (the paper: ImageNet VGG16; names as
  /// nn::deeplab_largefov's, fc8 not needed): empty starts from random weights.
  std::filesystem::path backbone_weights{};
  std::uint64_t seed = 1;
  // Sec. 4: the localisation network (DeepLab-LargeFOV with GAP over its fc8 maps, a CAM network),
  // fine-tuned on the image tags
  train_config localisation{.epochs = 8, .batch_size = 15, .lr = 1e-3f, .step_every = 2000};
  data::augment_config localisation_augment{.min_scale = 0.9, .max_scale = 1.1, .flip = true, .crop = 321};
  cam::cue_config cues{};
  /// User-supplied cues (<dir>/<id>.png label maps, any size, 255 = none): replaces the two
  /// localisation stages.
  std::filesystem::path cues_dir{};
  // Sec. 3.1-3.2: the segmentation network (reference solver: SGD 8000 iterations of 15, lr
  // 1e-3 x0.1 every 2000, momentum 0.9, wd 5e-4 = 11.3 epochs of trainaug)
  train_config segmentation{.epochs = 12, .batch_size = 15, .lr = 1e-3f, .step_every = 2000};
  sec_loss_terms terms{};
  /// With pool::gwrp: d+ and d_bg from the paper's rule of thumb at this score grid (the top
  /// 10% of positions carry half of G for present classes, the top 30% for background,
  /// pool::gwrp::decay_for) instead of the pooler's 0.996 / 0.999, which are that rule at
  /// 41 x 41 only (at 17 x 17 they weight nearly uniformly: GAP).
  bool grid_decays = false;
  float prob_floor = 1e-4f;  ///< the softmax floor all three losses read
  losses::constrain_config constrain{};  ///< Q clipped at 1e-4, Q constant by default
  // Sec. 4: inference
  bool test_crf = true;
  float crf_clip = 1e-5f;  ///< probabilities clipped below before the CRF's log (deploy/demo.py)

  /// The scenes dataset (128-pixel images, 10 classes) in minutes on 2 cores: DeepLab-LargeFOV
  /// at 1/8 width on the native 128 x 128 images (17 x 17 scores), fc6 rate 3 for that grid (12
  /// on 41 x 41), Adam, and both networks from the backbone `wsss pretrain sec` makes.
  static sec_config scenes() {
    sec_config c;
    scenes_deeplab(c);
    c.localisation = scenes_adam;
    c.localisation_augment = {.min_scale = 0.9, .max_scale = 1.1, .flip = true, .crop = 128};
    c.segmentation = scenes_adam;
    c.grid_decays = true;  // 17 x 17: d+ 0.976, d_bg 0.994
    return c;
  }

  void validate() const {
    localisation.validate(name);
    localisation_augment.validate(name);
    segmentation.validate(name);
    cues.validate(name);
    if (input_size < 8) throw_value(name, "input_size must be >= 8, got ", input_size);
    if (!(prob_floor > 0.0f && prob_floor < 1.0f)) throw_value(name, "prob_floor must be in (0, 1), got ", prob_floor);
    if (!terms.seed && !terms.expand && !terms.constrain) throw_value(name, "at least one loss term must train the network");
    if (!cues_dir.empty() && !std::filesystem::is_directory(cues_dir))
      throw_io(name, cues_dir, "cue folder not found");
  }
};

/// The SEC pipeline. Slots: the pooler of the expansion loss's present classes and background
/// (GWRP in the paper; GMP / GAP for Fig. 6) and the dense CRF (constrain-to-boundary loss in
/// training, refinement at test time). Stages, each writing its artifacts under the work folder:
///   localisation network -> cues -> segmentation network (seed + expand + constrain) -> predict -> evaluate
template <pool::Pooler P = pool::gwrp, crf::DifferentiableCrf C = crf::mean_field<>>
class sec {
  static_assert(!Trainable<C>, "sec: the CRF slot must have fixed parameters (SEC's CRF is not learned; see crf_rnn for that)");

 public:
  static constexpr std::string_view name = sec_config::name;
  using loss_terms = sec_loss_terms;
  using config = sec_config;

  config cfg;
  P pooler{};                                                  ///< slot: the expansion loss's pooler (Pooler)
  C crf{};                                                     ///< slot: the test-time dense CRF (DifferentiableCrf)
  C constrain_crf = losses::sec_constrain_crf<C>();            ///< the same engine for the loss: spatial terms / 12

  using network = nn::deeplab_largefov;

  sec() = default;
  explicit sec(config c, P p = {}, C k = {}, C train_crf = losses::sec_constrain_crf<C>())
      : cfg(std::move(c)), pooler(std::move(p)), crf(std::move(k)), constrain_crf(std::move(train_crf)) {
    cfg.validate();
  }

  /// The score map's side (41 for the paper's 321).
  index_t score_size() const { return network::output_size(cfg.input_size); }

  network make_network(index_t outputs, rng& g) const { return deeplab_from(cfg.net, outputs, cfg.backbone_weights, g); }

  /// An image as the networks see it: resized to input_size^2 (order-1, corners aligned, as the
  /// reference's scipy zoom).
  rgb_image sized(const rgb_image& img) const { return square_input(img, cfg.input_size); }

  // ---- the per-image steps -------------------------------------------------------------------

  /// Image-level scores of the localisation network: GAP over its fc8 maps (N x (C - 1)).
  static ad::var tag_scores(ad::tape& t, network& loc, const ad::var& x) {
    const ad::var maps = loc(t, x);
    auto pl = pool::gap{}.prepare(exec<>{}, batch{}, maps.shape());
    return pool::gap{}.record(t, pl, maps);
  }

  /// Sec. 4's weak localisation of one image, at the score map's size: foreground cues where the
  /// CAM heat map h_c (fc8 before any ReLU) exceeds fg_threshold of its maximum, background
  /// cues where the saliency |d sum_c score_c / d conv4_1's input| (max over channels, median
  /// filtered) is in the lowest bg_fraction; foreground wins overlaps (cam/cues.hpp).
  label_map localisation_cues(network& loc, const rgb_image& img, const tag_set& tags) const {
    ad::tape t;
    t.set_training(false);
    tensor x3;
    {
      ad::no_grad ng(t);
      x3 = loc.pool3(t, t.leaf(nn::normalize(sized(img), cfg.input))).value();
    }
    const ad::var in = t.leaf(std::move(x3), true);
    const ad::var maps = loc.fc8(t, loc.from_pool3(t, in));
    t.backward(ad::mean(maps));  // proportional to the sum of the GAP class scores; the 10% cut ignores scale
    tensor heat = maps.value();
    heat.reshape({heat.dim(1), heat.dim(2), heat.dim(3)});
    tensor g = *t.grad(in);
    g.reshape({g.dim(1), g.dim(2), g.dim(3)});
    return cam::combine_cues(cam::foreground_cues(heat, tags, cfg.cues.fg_threshold),
                             cam::background_cues(cam::saliency(g, cfg.cues.median), cfg.cues.bg_fraction));
  }

  /// Test time (sec. 4): softmax of the scores upsampled to the image (order 1), then the dense
  /// CRF with the engine's own kernels (for mean_field the reference's 10 / 80 / 13, 3 / 3).
  /// With tags (pseudo-labels of tagged images) only background and the tagged classes compete.
  template <class Tag>
  std::pair<label_map, label_map> predict(const exec<Tag>& ex, network& seg, const rgb_image& img,
                                          const tag_set* tags = nullptr) const {
    tensor p = class_probabilities(seg, img, cfg.input_size, cfg.input);
    if (tags) p = cam::present_channels(p, *tags);
    label_map plain = argmax_labels(p), refined = plain;
    if (cfg.test_crf) refined = crf_labels(crf, ex, img, p, cfg.crf_clip);
    if (tags) return {cam::expand_labels(plain, *tags), cam::expand_labels(refined, *tags)};
    return {plain, refined};
  }

  // ---- the stages --------------------------------------------------------------------------------

  /// Every stage in order; each skips what an earlier run finished. Rows: the segmentation
  /// network on val (without and with the CRF) and its pseudo-labels of the train images.
  run_summary run(run_context& cx) const {
    cx.begin(name, describe(), cfg.seed);
    const auto& data = cx.train();
    if (cfg.cues_dir.empty()) {  // sec. 4: weak localisation
      rng init(mix_seed(cfg.seed, 20));
      network loc = make_network(cx.classes() - 1, init);
      train_localisation(cx, loc);
      // Frozen: the saliency's backward then reaches only its input, and the images' threads
      // share the network without writing its gradients.
      loc.visit_params([](ad::parameter& p) { p.trainable = false; });
      cx.per_image("localisation cues", data, {"cues"}, [&](std::size_t i, const exec<>&) {
        save_cues(cx, data.id(i), localisation_cues(loc, data.image(i), data.tags(i)));
      });
    }
    const bool report_cues = cx.options().out && has_masks(data);
    const std::vector<label_map> cues = cfg.terms.seed || report_cues ? load_all_cues(cx) : std::vector<label_map>{};
    if (report_cues) {
      const auto q = cue_quality(cx, cues);
      std::fprintf(cx.options().out, "cues: %.1f%% of the score grid (background %.1f%%, foreground %.1f%%), %.1f%% agree with the masks\n",
                   100.0 * (q.background + q.foreground), 100.0 * q.background, 100.0 * q.foreground, 100.0 * q.agree);
    }
    rng init(mix_seed(cfg.seed, 23));  // its own stream: given cues or computed, the same start
    network seg = make_network(cx.classes(), init);
    train_segmentation(cx, seg, cues);  // eq. 1
    std::vector<table_row> rows;
    if (cx.has_val()) {
      cx.per_image("predict (val)", cx.val(), {"sec", "sec_crf"}, [&](std::size_t i, const exec<>& ex) {
        const auto labels = predict(ex, seg, cx.val().image(i));
        cx.save_labels("sec", cx.val().id(i), labels.first);
        cx.save_labels("sec_crf", cx.val().id(i), labels.second);
      });
      rows.push_back({"SEC", "sec", cx.val().split()});
      if (cfg.test_crf) rows.push_back({"SEC + dCRF", "sec_crf", cx.val().split()});
    }
    cx.per_image("pseudo-labels (train)", data, {"pseudo"}, [&](std::size_t i, const exec<>& ex) {
      cx.save_labels("pseudo", i, predict(ex, seg, data.image(i), &data.tags(i)).second);
    });
    rows.push_back({"SEC pseudo-labels, tags known", "pseudo", data.split()});
    return cx.finish(rows);
  }

  /// Where image `id`'s cues live: the run's own (cues/<id>.png) or cfg.cues_dir's.
  std::filesystem::path cues_path(const run_context& cx, const std::string& id) const {
    return (cfg.cues_dir.empty() ? cx.work() / "cues" : cfg.cues_dir) / (id + ".png");
  }
  /// The cue file format: one label PNG per image (io::write_label_png: 0 background cue, c a
  /// cue of class c, 255 no cue), at the score map's size when wsss writes it.
  void save_cues(const run_context& cx, const std::string& id, const label_map& cues) const {
    const auto p = cues_path(cx, id);
    std::filesystem::create_directories(p.parent_path());
    io::write_label_png(p, cues);
  }
  /// Image id's cues at the score map's size (any other size is resampled, resample_labels).
  label_map load_cues(const run_context& cx, const std::string& id) const {
    const auto p = cues_path(cx, id);
    if (!std::filesystem::exists(p)) throw_io(name, p, "no localisation cues for image '", id, "'");
    return resample_labels(io::read_label_png(p), score_size(), score_size());
  }

  /// What the cues of the train split cover (fractions of the score-grid pixels) and how many
  /// of their pixels agree with the ground-truth masks resampled to the grid (nearest); printed
  /// when the split has masks.
  struct cue_stats {
    double background = 0, foreground = 0, agree = 0;
  };
  static bool has_masks(const io::voc_dataset& data) {
    for (std::size_t i = 0; i < data.size(); ++i)
      if (!std::filesystem::exists(data.mask_path(i))) return false;  // e.g. VOC's train_aug
    return true;
  }
  cue_stats cue_quality(const run_context& cx, std::span<const label_map> all_cues) const {
    const auto& data = cx.train();
    double bg = 0, fg = 0, agree = 0, all = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
      const label_map& cues = all_cues[i];
      const label_map gt = resample_labels(data.mask(i), cues.height(), cues.width());
      for (index_t u = 0; u < cues.pixels(); ++u) {
        all += 1;
        if (cues[u] == ignore_label) continue;
        (cues[u] == 0 ? bg : fg) += 1;
        agree += cues[u] == gt[u];
      }
    }
    return {bg / std::max(all, 1.0), fg / std::max(all, 1.0), agree / std::max(bg + fg, 1.0)};
  }

  /// The expansion loss's pooler: the slot's, with grid_decays its decays for the score grid.
  P expansion_pooler() const {
    P p = pooler;
    if constexpr (std::same_as<typename P::config, pool::gwrp::config>)  // gwrp or a device twin
      if (cfg.grid_decays) {
        const index_t n = score_size() * score_size();
        p.cfg.d_fg = pool::gwrp::decay_for(n, 0.1);
        p.cfg.d_bg = pool::gwrp::decay_for(n, 0.3);
      }
    return p;
  }

  /// Every train image's cues at the score grid, in split order.
  std::vector<label_map> load_all_cues(const run_context& cx) const {
    std::vector<label_map> out;
    for (const std::string& id : cx.train().ids()) out.push_back(load_cues(cx, id));
    return out;
  }

  /// The localisation network on the image tags (multi-label soft margin over GAP).
  void train_localisation(run_context& cx, network& loc) const {
    train_on_tags(cx, loc, "localisation", {cfg.localisation, cfg.localisation_augment, cfg.input, mix_seed(cfg.seed, 21)},
                  [&](ad::tape& t, const ad::var& x, const batch&) { return tag_scores(t, loc, x); });
  }

  /// Eq. 1: L_seed + L_expand + L_constrain (each weight 1, the reference's) on the probabilities
  /// of the floor softmax, images resized to input_size^2, no augmentation (as the reference);
  /// all_cues: every train image's cues (load_all_cues), read once, not at every step.
  void train_segmentation(run_context& cx, network& seg, std::span<const label_map> all_cues) const {
    const auto& data = cx.train();
    const losses::seed seed_loss;
    const losses::expand<P> expand_loss({}, expansion_pooler());
    const losses::constrain<C> constrain_loss(cfg.constrain, constrain_crf);
    train(seg, data.size(), cfg.segmentation, mix_seed(cfg.seed, 22), cx.net_io("segmentation", {"seed", "expand", "constrain"}),
          [&](ad::tape& t, std::span<const std::size_t> idx, rng&) {
            std::vector<rgb_image> imgs;
            std::vector<tag_set> tags;
            std::vector<label_map> cues;
            for (std::size_t j : idx) {
              imgs.push_back(sized(data.image(j)));
              tags.push_back(data.tags(j));
              if (cfg.terms.seed) cues.push_back(all_cues[j]);
            }
            const batch b{.images = imgs, .tags = tags, .labels = cues};
            const ad::var logits = seg(t, t.leaf(nn::normalize(std::span<const rgb_image>(imgs), cfg.input)));
            const ad::var p = losses::floor_softmax(logits, cfg.prob_floor);
            std::vector<float> parts(3, 0.0f);
            ad::var total;
            auto add = [&](int k, const ad::var& l) {
              parts[static_cast<std::size_t>(k)] = l.value()[0];
              total = total.valid() ? ad::add(total, l) : l;
            };
            if (cfg.terms.seed) add(0, seed_loss.record(t, seed_loss.prepare(cx.ex(), b, p.shape()), p));
            if (cfg.terms.expand) {
              auto pl = expand_loss.prepare(cx.ex(), b, p.shape());
              add(1, expand_loss.record(t, pl, p));
            }
            // Kept until backward: with through_crf the mean-field op reads the CRF plan there.
            std::shared_ptr<typename losses::constrain<C>::plan> constrain_plan;
            if (cfg.terms.constrain) {
              constrain_plan = std::make_shared<typename losses::constrain<C>::plan>(
                  constrain_loss.prepare(cx.ex(), b, logits.shape()));
              add(2, constrain_loss.record(t, *constrain_plan, logits, p));
            }
            return step_result{total, parts, constrain_plan};
          });
  }

  /// The localisation network trained from random weights on single-object images (the
  /// stand-in for ImageNet, `wsss scenes --objects 1 1 --test-items`); its VGG16 + fc6 + fc7
  /// weights (no fc8) go to `out` (atomically) for cfg.backbone_weights. Resumes like `run`.
  /// Returns top-1 accuracy on the val split's single-tag images (-1 without val).
  double pretrain(run_context& cx, const std::filesystem::path& out) const {
    if (!cfg.backbone_weights.empty()) throw_value(name, "pretraining starts from random weights: no backbone weights");
    cx.begin("sec pretrain", describe(), cfg.seed);
    rng init(mix_seed(cfg.seed, 20));
    network loc = make_network(cx.classes() - 1, init);
    train_localisation(cx, loc);
    std::map<std::string, tensor> backbone = nn::state_dict(loc);
    std::erase_if(backbone, [](const auto& kv) { return kv.first.starts_with("fc8."); });
    io::save_safetensors(out, backbone, {{"wsss", "sec pretrained backbone"}, {"width", std::to_string(cfg.net.width)}});
    return single_tag_top1(cx, cfg.input, [&](ad::tape& t, const ad::var& x) { return tag_scores(t, loc, x); });
  }

  /// The configuration as text: a rerun must find the same text in the work folder.
  std::string describe() const {
    std::ostringstream os;
    os.precision(9);
    os << "slots = " << recorded_name<P>() << ", " << recorded_name<C>() << "\nwidth = " << cfg.net.width << "\nfc6 dilation = "
       << cfg.net.fc6_dilation << "\ndropout = " << cfg.net.dropout << "\ninput size = " << cfg.input_size
       << "\ninput mean = " << cfg.input.mean[0] << ' ' << cfg.input.mean[1] << ' ' << cfg.input.mean[2]
       << "\nbackbone weights = " << cfg.backbone_weights.string() << "\nseed = " << cfg.seed << "\n";
    describe_schedule(os, "localisation", cfg.localisation);
    describe_augment(os, "localisation augment", cfg.localisation_augment);
    os << "cues = fg " << cfg.cues.fg_threshold << ", bg " << cfg.cues.bg_fraction << ", median " << cfg.cues.median
       << ", from " << (cfg.cues_dir.empty() ? std::string("the run") : cfg.cues_dir.string()) << "\n";
    describe_schedule(os, "segmentation", cfg.segmentation);
    os << "losses = seed " << cfg.terms.seed << ", expand " << cfg.terms.expand << ", constrain " << cfg.terms.constrain
       << "\ngrid decays = " << cfg.grid_decays << "\nfloor = " << cfg.prob_floor << "\nconstrain = q floor " << cfg.constrain.q_floor << ", through crf "
       << cfg.constrain.through_crf << "\ntest crf = " << cfg.test_crf << ", clip " << cfg.crf_clip << "\n";
    return os.str();
  }
};

}  // namespace wsss::methods
