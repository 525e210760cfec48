// SPDX-License-Identifier: MIT
// wsss/methods/em_deeplab.hpp — EM for DeepLab (Papandreou, Chen, Murphy & Yuille, ICCV 2015):
// DeepLab-LargeFOV trained from image tags or boxes, each SGD step's E-step estimating the
// latent segmentation from the network's own scores, the M-step the cross-entropy step on it;
// strongly annotated images mixed into every batch (semi-supervised); the dense CRF at test
// time with parameters cross-validated on held-out images. One type, generic over its slots.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/crf/param_search.hpp"
#include "wsss/em/bias.hpp"
#include "wsss/em/boxes.hpp"
#include "wsss/em/concepts.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/losses/cross_entropy.hpp"
#include "wsss/methods/run.hpp"
#include "wsss/methods/stages.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/nn/weights.hpp"

namespace wsss::methods {

/// EM's settings (the same for every E-step and CRF slot, so code that is not a template, e.g. a
/// method compiled in another translation unit by nvcc, can hold one): em_deeplab<E, C>::config.
struct em_config {
  static constexpr std::string_view name = "em";
  nn::deeplab_largefov::config net{};          ///< classes are set from the dataset
  nn::normalization input = nn::caffe_bgr;     ///< DeepLab's BGR mean
  index_t input_size = 321;                    ///< images resized to input_size^2: 41 x 41 scores
  /// Initial VGG16 + fc6 + fc7 weights (the paper: ImageNet; nn::deeplab_largefov names; fc8
  /// not needed); empty starts from random weights.
  std::filesystem::path backbone_weights{};
  std::uint64_t seed = 1;
  /// Sec. 4.2: SGD, batches of 20-30, lr 1e-3 (x10 for the classifier: the network's lr_mult),
  /// x0.1 after a fixed number of steps, momentum 0.9, weight decay 5e-4 (DeepLab's solver:
  /// 6000 steps of 20, x0.1 every 2000 = 11.3 epochs of train_aug).
  train_config training{.epochs = 12, .batch_size = 20, .lr = 1e-3f, .step_every = 2000};
  /// Sec. 3.4, semi-supervised: the first `strong` ids of ImageSets/Segmentation/<strong_split>.txt
  /// (only those in the train split count) train on their masks; 0: every image is weak.
  std::size_t strong = 0;
  std::string strong_split = "strong";  ///< VOC: "train" (its 1,464 masks within train_aug)
  /// Strong images in every batch (the rest of batch_size are weak); 0: batch_size times
  /// the strong share of the train split, rounded, at least 1.
  std::size_t strong_per_batch = 0;
  /// false: the strong images alone train, for as many SGD steps as a run over the whole
  /// train split (the paper's "Strong" rows, Semi's baseline)
  bool weak = true;
  // Sec. 4.1: inference
  bool test_crf = true;
  float crf_clip = 1e-5f;          ///< probabilities clipped below before the CRF's log
  /// The CRF's parameters cross-validated (crf::grid_search, best mIoU) on the first
  /// crf_holdout val images (the paper: 100 of val) over crf_grid; 0 keeps the engine's own.
  std::size_t crf_holdout = 100;
  crf::search_grid crf_grid{.smoothness_sxy = {},
                            .smoothness_weight = {},
                            .appearance_sxy = {30.0f, 50.0f, 80.0f},
                            .appearance_sfeat = {3.0f, 5.0f, 13.0f},
                            .appearance_weight = {3.0f, 5.0f, 10.0f}};

  /// The scenes dataset in minutes on 2 cores, on SEC's scenes network: DeepLab-LargeFOV at
  /// 1/8 width with batch normalisation on the native 128 x 128 images (17 x 17 scores), fc6
  /// rate 3, from the backbone `wsss pretrain sec` makes; the paper's SGD (lr 1e-3, x10 for
  /// fc8, momentum 0.9, weight decay 5e-4) with the poly rate over 500 steps of 8 (SEC's Adam
  /// scored lower for every variant, docs/em.md); 10 held-out val images for the CRF;
  /// semi-supervised batches of 8 hold 2 strong images.
  static em_config scenes() {
    em_config c;
    scenes_deeplab(c);
    c.training = {.epochs = 20, .batch_size = 8, .update = optimizer::sgd, .lr = 1e-3f, .momentum = 0.9f,
                  .weight_decay = 5e-4f, .poly_power = 0.9f};
    c.crf_holdout = 10;
    c.strong_per_batch = 2;
    return c;
  }

  void validate() const {
    training.validate(name);
    if (input_size < 8) throw_value(name, "input_size must be >= 8, got ", input_size);
    if (!weak && strong == 0) throw_value(name, "without weak images the run needs strong ones (strong > 0)");
    if (weak && strong > 0 && strong_per_batch >= static_cast<std::size_t>(training.batch_size))
      throw_value(name, "strong_per_batch (", strong_per_batch, ") must leave room for weak images in batches of ",
                  training.batch_size);
    if (!(crf_clip > 0.0f && crf_clip < 1.0f)) throw_value(name, "crf_clip must be in (0, 1), got ", crf_clip);
  }
};

/// EM for DeepLab. Slots: the E-step (EStepBias: em::fixed, em::adapt, em::bbox_rect,
/// em::bbox_seg, em::bbox_fixed) and the test-time dense CRF (CrfEngine; crf::device_mean_field<Tag>
/// runs its cross-validation and the val predictions' CRF on Tag). Stages, each writing
/// its artifacts under the work folder:
///   [box pre-processing] -> DeepLab-LargeFOV (E-step + M-step per SGD step) -> CRF cross-validation
///   -> predict val -> the E-step's labels of the train images -> evaluate
template <em::EStepBias E = em::adapt, crf::CrfEngine C = crf::mean_field<>>
class em_deeplab {
 public:
  static constexpr std::string_view name = em_config::name;
  using config = em_config;

  config cfg;
  E estep{};  ///< slot: the E-step (EStepBias)
  C crf{};    ///< slot: the test-time dense CRF (CrfEngine); its parameters are the search's base

  using network = nn::deeplab_largefov;

  em_deeplab() = default;
  explicit em_deeplab(config c, E e = {}, C k = {}) : cfg(std::move(c)), estep(std::move(e)), crf(std::move(k)) {
    cfg.validate();
  }

  index_t score_size() const { return network::output_size(cfg.input_size); }

  network make_network(index_t outputs, rng& g) const { return deeplab_from(cfg.net, outputs, cfg.backbone_weights, g); }

  // ---- the stages --------------------------------------------------------------------------------

  /// Every stage in order; each skips what an earlier run finished. Rows: the network on val
  /// (without and with the cross-validated CRF) and the E-step's labels of the train images
  /// under the trained network (or the pre-processed box labels).
  run_summary run(run_context& cx) const {
    cx.begin(name, describe(), cfg.seed);
    const auto& data = cx.train();
    const std::vector<bool> strong = strong_images(cx);
    if constexpr (!em::reads_scores_v<E>) {  // sec. 3.3: Bbox-Rect / Bbox-Seg as pre-processing
      const E boxes = cross_validated_estep(cx);
      cx.per_image("box labels", data, {"estep"}, [&](std::size_t i, const exec<>& ex) {
        cx.save_labels("estep", i, estep_labels(boxes, ex, nullptr, data, i, cx.classes()));
      });
    }
    rng init(mix_seed(cfg.seed, 30));
    network seg = make_network(cx.classes(), init);
    train_network(cx, seg, strong);
    std::vector<table_row> rows;
    if (cx.has_val()) {
      const C test_crf = cross_validated_crf(cx, seg);
      cx.per_image("predict (val)", cx.val(), {"em", "em_crf"}, [&](std::size_t i, const exec<>& ex) {
        const rgb_image img = cx.val().image(i);
        const tensor p = class_probabilities(seg, img, cfg.input_size, cfg.input);
        const label_map plain = argmax_labels(p);
        cx.save_labels("em", cx.val().id(i), plain);
        cx.save_labels("em_crf", cx.val().id(i), cfg.test_crf ? crf_labels(test_crf, ex, img, p, cfg.crf_clip) : plain);
      });
      rows.push_back({"DeepLab-LargeFOV", "em", cx.val().split()});
      if (cfg.test_crf) rows.push_back({"DeepLab-LargeFOV + dCRF", "em_crf", cx.val().split()});
    }
    if constexpr (em::reads_scores_v<E>)
      cx.per_image("E-step labels (train)", data, {"estep"}, [&](std::size_t i, const exec<>& ex) {
        cx.save_labels("estep", i, estep_labels(estep, ex, &seg, data, i, cx.classes()));
      });
    rows.push_back({"E-step labels, annotation known", "estep", data.split()});
    return cx.finish(rows);
  }

  /// Which train images are strong (sec. 3.4): the first cfg.strong ids of the strong split
  /// that are in the train split.
  std::vector<bool> strong_images(const run_context& cx) const {
    const auto& data = cx.train();
    std::vector<bool> out(data.size(), false);
    if (cfg.strong == 0) return out;
    const auto list = io::voc_split_list(cx.options().data, cfg.strong_split);
    std::unordered_map<std::string, std::size_t> at;
    for (std::size_t i = 0; i < data.size(); ++i) at.emplace(data.id(i), i);
    std::size_t taken = 0;
    for (const std::string& id : io::read_voc_split(list)) {
      if (taken == cfg.strong) break;
      const auto it = at.find(id);
      if (it == at.end() || out[it->second]) continue;
      out[it->second] = true;
      ++taken;
    }
    if (taken < cfg.strong)
      throw_value(name, "asked for ", cfg.strong, " strong images but ", list.string(), " lists only ", taken,
                  " of the train split");
    if (cfg.weak && taken == data.size())
      throw_value(name, "every train image is strong: no weak image is left for the E-step (weak = false trains on them alone)");
    return out;
  }

  /// E-step e's labels of train image i at the image's size, on the scores of `seg` upsampled
  /// to it (the area constraints are fractions, so the grid does not change them); without a
  /// network (pre-processing E-steps) on zero scores, which they do not read.
  template <class Tag>
  label_map estep_labels(const E& e, const exec<Tag>& ex, network* seg, const io::voc_dataset& data, std::size_t i,
                         int classes) const {
    const rgb_image img = data.image(i);
    const tensor scores = seg ? class_scores(*seg, img) : tensor({1, classes, img.height(), img.width()});
    const tag_set tags = data.tags(i);
    const box_list boxes = em::reads_boxes_v<E> ? data.boxes(i) : box_list{};
    const batch b{.images = std::span<const rgb_image>(&img, 1),
                  .tags = std::span<const tag_set>(&tags, 1),
                  .boxes = em::reads_boxes_v<E> ? std::span<const box_list>(&boxes, 1) : std::span<const box_list>{}};
    auto pl = e.prepare(ex, b, scores.shape());
    std::vector<label_map> out;
    e.run(ex, pl, scores, out);
    return std::move(out.front());
  }

  /// The M-step's training (eq. 4-7): every SGD step, the E-step turns the network's scores on
  /// the weak images of the batch (no gradient) into hard targets; the strong images' targets
  /// are their masks and the pre-processed box labels stand for the E-step of their variants;
  /// all are brought to the score grid (nearest), read once before training, and the
  /// cross-entropy over every labelled cell of the batch is the loss. Logged: the share of
  /// target cells that are background.
  void train_network(run_context& cx, network& seg, const std::vector<bool>& strong) const {
    const auto& data = cx.train();
    const index_t g = score_size();
    const losses::cross_entropy ce;
    // The targets that do not change during training, read once at the score grid: the strong
    // images' masks and the pre-processed box labels (empty: the E-step labels the image on line).
    std::vector<label_map> fixed(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (strong[i]) fixed[i] = resample_labels(data.mask(i), g, g);
      else if constexpr (!em::reads_scores_v<E>) fixed[i] = resample_labels(cx.load_labels("estep", i), g, g);
    }
    auto step = [&](ad::tape& t, std::span<const std::size_t> idx, rng&) {
      std::vector<rgb_image> imgs;
      for (std::size_t j : idx) imgs.push_back(square_input(data.image(j), cfg.input_size));
      const ad::var logits = seg(t, t.leaf(nn::normalize(std::span<const rgb_image>(imgs), cfg.input)));
      std::vector<label_map> targets(idx.size());
      std::vector<std::size_t> online;  // batch positions the E-step labels now
      for (std::size_t k = 0; k < idx.size(); ++k) {
        if (fixed[idx[k]].pixels() > 0) targets[k] = fixed[idx[k]];
        else online.push_back(k);
      }
      if (!online.empty()) {
        const tensor& z = logits.value();
        const index_t plane = z.numel() / z.dim(0);
        tensor sub({static_cast<index_t>(online.size()), z.dim(1), z.dim(2), z.dim(3)});
        std::vector<rgb_image> sub_imgs;
        std::vector<tag_set> tags;
        std::vector<box_list> boxes;
        for (std::size_t n = 0; n < online.size(); ++n) {
          const std::size_t k = online[n];
          std::copy_n(z.data() + static_cast<index_t>(k) * plane, plane, sub.data() + static_cast<index_t>(n) * plane);
          sub_imgs.push_back(imgs[k]);
          tags.push_back(data.tags(idx[k]));
          if (em::reads_boxes_v<E>) boxes.push_back(scaled_boxes(data.boxes(idx[k]), data.image(idx[k]), cfg.input_size));
        }
        const batch b{.images = sub_imgs, .tags = tags, .boxes = boxes};
        auto pl = estep.prepare(cx.ex(), b, sub.shape());
        std::vector<label_map> out;
        estep.run(cx.ex(), pl, sub, out);
        for (std::size_t n = 0; n < online.size(); ++n) targets[online[n]] = std::move(out[n]);
      }
      double bg = 0, all = 0;
      for (const label_map& m : targets)
        for (index_t u = 0; u < m.pixels(); ++u)
          if (m[u] != ignore_label) bg += m[u] == 0, all += 1;
      auto pl = ce.prepare(cx.ex(), batch{.labels = targets}, logits.shape());
      return step_result{ce.record(t, pl, logits), {static_cast<float>(bg / std::max(all, 1.0))}};
    };
    const auto io = cx.net_io("segmentation", {"target_background"});
    const auto strong_count = static_cast<std::size_t>(std::count(strong.begin(), strong.end(), true));
    const auto batch_size = static_cast<std::size_t>(cfg.training.batch_size);
    if (strong_count == 0) return train(seg, data.size(), cfg.training, mix_seed(cfg.seed, 31), io, step);
    if (!cfg.weak) {  // the Strong baseline: the strong images alone, for as many steps as a weak run
      std::vector<std::size_t> only;
      for (std::size_t i = 0; i < data.size(); ++i)
        if (strong[i]) only.push_back(i);
      const auto steps = [&](std::size_t n) { return static_cast<long long>((n + batch_size - 1) / batch_size); };
      train_config schedule = cfg.training;
      schedule.epochs = static_cast<int>((cfg.training.epochs * steps(data.size()) + steps(only.size()) - 1) / steps(only.size()));
      return train(seg, only.size(), schedule, mix_seed(cfg.seed, 31), io,
                   [&](ad::tape& t, std::span<const std::size_t> idx, rng& g) {
                     std::vector<std::size_t> images;
                     for (std::size_t k : idx) images.push_back(only[k]);
                     return step(t, images, g);
                   });
    }
    mixed_batches mix;
    for (std::size_t i = 0; i < data.size(); ++i) (strong[i] ? mix.strong : mix.weak).push_back(i);
    mix.strong_per_batch = cfg.strong_per_batch > 0
                               ? cfg.strong_per_batch
                               : std::clamp<std::size_t>((batch_size * strong_count + data.size() / 2) / data.size(), 1,
                                                         batch_size - 1);
    mix.weak_per_batch = std::max<std::size_t>(batch_size - mix.strong_per_batch, 1);
    train(seg, mix, cfg.training, mix_seed(cfg.seed, 31), io, step);
  }

  /// Sec. 4.1: the test-time CRF with the parameters that maximise mIoU on the first
  /// crf_holdout val images (searched_crf on the network's probabilities); the engine as
  /// configured when the search is off or the engine has no such parameters.
  C cross_validated_crf(run_context& cx, network& seg) const {
    if constexpr (crf::searchable<C>) {
      if (!cfg.test_crf || cfg.crf_holdout == 0) return crf;
      return searched_crf(cx, crf, "crf_search.txt", "dCRF", [&](const rgb_image& img, std::size_t) {
        tensor p = class_probabilities(seg, img, cfg.input_size, cfg.input);
        cam::normalise_pixels(p);
        tensor u = crf::unary_from_probabilities(p, cfg.crf_clip);
        u.reshape({1, p.dim(0), p.dim(1), p.dim(2)});
        return std::pair<tensor, label_map>{std::move(u), label_map{}};
      });
    } else {
      return crf;
    }
  }

  /// Sec. 3.3: an E-step with a CRF of its own (Bbox-Seg) gets the parameters that best
  /// recover the masks of the first crf_holdout val images from their boxes (searched_crf
  /// with the boxes' unaries and clamps); the slot's E-step as it is otherwise.
  E cross_validated_estep(run_context& cx) const {
    E e = estep;
    if constexpr (requires { e.cfg.alpha; requires crf::searchable<decltype(e.crf)>; }) {
      if (cfg.crf_holdout == 0 || !cx.has_val()) return e;
      e.crf = searched_crf(cx, e.crf, "box_crf_search.txt", "Bbox-Seg's CRF", [&](const rgb_image& img, std::size_t i) {
        const box_list boxes = cx.val().boxes(i);
        const index_t h = img.height(), w = img.width();
        return std::pair<tensor, label_map>{crf::box_unary(h, w, cx.classes(), boxes),
                                            crf::clamp_from_boxes(h, w, boxes, e.cfg.alpha)};
      });
    }
    return e;
  }

  /// The configuration as text: a rerun must find the same text in the work folder.
  std::string describe() const {
    std::ostringstream os;
    os.precision(9);
    os << "slots = " << E::name << ", " << recorded_name<C>() << "\nwidth = " << cfg.net.width << "\nfc6 dilation = "
       << cfg.net.fc6_dilation << "\ndropout = " << cfg.net.dropout << "\nbatch norm = " << cfg.net.batch_norm
       << "\ninput size = " << cfg.input_size << "\ninput mean = " << cfg.input.mean[0] << ' ' << cfg.input.mean[1]
       << ' ' << cfg.input.mean[2] << "\nbackbone weights = " << cfg.backbone_weights.string() << "\nseed = " << cfg.seed
       << "\n";
    describe_schedule(os, "training", cfg.training);
    os << "strong = " << cfg.strong << " of " << cfg.strong_split << ", " << cfg.strong_per_batch << " per batch"
       << (cfg.weak ? "" : ", no weak images") << "\n";
    return os.str();
  }

 private:
  /// The engine `base` with the parameters that maximise mIoU on the first crf_holdout val
  /// images (crf::grid_search over cfg.crf_grid from base's own); inputs(image, i) gives val
  /// image i's unary energies and clamp map (empty: none).
  /// Every grid point's mIoU goes to <work>/<file>; the winner is printed.
  template <class K, class Inputs>
  K searched_crf(run_context& cx, const K& base, const std::string& file, const char* what, Inputs&& inputs) const {
    const auto& val = cx.val();
    const std::size_t n = std::min(cfg.crf_holdout, val.size());
    std::vector<rgb_image> images;
    std::vector<tensor> unaries;
    std::vector<label_map> truths, clamps;
    for (std::size_t i = 0; i < n; ++i) {
      images.push_back(val.image(i));
      auto in = inputs(images.back(), i);
      unaries.push_back(std::move(in.first));
      clamps.push_back(std::move(in.second));
      truths.push_back(val.mask(i));
    }
    std::vector<crf::labelled_example> examples;
    for (std::size_t i = 0; i < n; ++i)
      examples.push_back({&images[i], &unaries[i], &truths[i], clamps[i].pixels() > 0 ? &clamps[i] : nullptr});
    // On the engine's backend: a device engine's plans and solves stay there for the whole grid.
    const auto r = crf::grid_search<K>(examples, cfg.crf_grid, base.cfg, cx.classes(), policy_exec(base, cx.ex()));

    std::ostringstream os;
    os << "# " << what << " cross-validation on the first " << n << " images of " << val.split()
       << ": mIoU (%) of every grid point; the best is used\n"
       << "smoothness_sxy smoothness_weight appearance_sxy appearance_sfeat appearance_weight miou\n";
    for (const auto& entry : r.table) {
      const auto& k = entry.config.kernels;
      os << k.smoothness.sxy << ' ' << k.smoothness.weight << ' ' << k.appearance.sxy << ' ' << k.appearance.sfeat << ' '
         << k.appearance.weight << ' ' << 100.0 * entry.miou << '\n';
    }
    io::write_file_atomic(cx.work() / file, os.str());
    if (cx.options().out) {
      const auto& k = r.best.kernels;
      std::fprintf(cx.options().out,
                   "%s cross-validated on %zu val images: appearance %g / %g / %g, smoothness %g / %g (%.2f%% mIoU)\n",
                   what, n, k.appearance.sxy, k.appearance.sfeat, k.appearance.weight, k.smoothness.sxy,
                   k.smoothness.weight, 100.0 * r.best_miou);
    }
    return K(r.best);
  }

  /// The network's raw scores on one image upsampled to its size (1 x C x H x W).
  tensor class_scores(network& seg, const rgb_image& img) const {
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    const tensor s = seg(t, t.leaf(nn::normalize(square_input(img, cfg.input_size), cfg.input))).value();
    return resize_bilinear(s, img.height(), img.width(), resize_mode::align_corners);
  }

  /// Boxes of an image in the coordinates of its square input (the E-step sees that image).
  static box_list scaled_boxes(const box_list& boxes, const rgb_image& img, index_t size) {
    box_list out;
    for (box b : boxes) {
      const auto sx = [&](index_t x) { return static_cast<index_t>((x * size + img.width() / 2) / img.width()); };
      const auto sy = [&](index_t y) { return static_cast<index_t>((y * size + img.height() / 2) / img.height()); };
      b.x0 = sx(b.x0), b.x1 = std::max(sx(b.x1), sx(b.x0) + 1), b.y0 = sy(b.y0), b.y1 = std::max(sy(b.y1), sy(b.y0) + 1);
      out.push_back(b);
    }
    return out;
  }
};

}  // namespace wsss::methods
