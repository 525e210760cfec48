// SPDX-License-Identifier: MIT
// wsss/methods/spn.hpp — SPN (Kwak, Hong & Han, AAAI 2017): superpixels, the superpixel pooling
// network trained on image tags at six input sizes (eq. 1-4), SP-CAM and its sanitized
// annotations, the reliable subset by degree of scatter, and rounds of DecoupledNet (Hong et al.
// 2015) trained on it, each round's annotations feeding the next. One type, generic over its slots.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/reduce.hpp"
#include "wsss/autodiff/ops/softmax.hpp"
#include "wsss/cam/annotations.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/data/augment.hpp"
#include "wsss/eval/confusion.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/losses/cross_entropy.hpp"
#include "wsss/losses/multilabel.hpp"
#include "wsss/methods/run.hpp"
#include "wsss/methods/stages.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/nets/spn.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/nn/weights.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/superpixel.hpp"
#include "wsss/superpixel/slic.hpp"

namespace wsss::methods {

/// The SPN pipeline. Slots: the superpixel method (SLIC here; the paper used Zitnick & Dollar's)
/// and the SP layer (a SuperpixelPooler). Stages, each writing its artifacts under the work folder:
///   superpixels -> SPN (eq. 4 on both branches, six sizes) -> CAM / SP-CAM annotations (sanitized
///   or not) -> per round: reliable subset -> DecoupledNet from scratch -> the round's annotations
template <superpixel::SuperpixelMethod S = superpixel::slic_method, pool::SuperpixelPooler P = pool::sp_layer>
class spn {
 public:
  static constexpr std::string_view name = "spn";

  struct config {
    nn::spn_net::config net{};                   ///< classes are set from the dataset
    nn::normalization input = nn::imagenet_rgb;  ///< torchvision's VGG16 (load its "features.<i>" weights)
    /// "Multi-scale learning": images padded to a square with zeros, then resized to one of these
    /// sides (the paper's 250..500 for VOC's ~500-pixel images), per mini-batch in training and
    /// all of them, max-aggregated, for SP-CAM.
    std::vector<index_t> sizes{250, 300, 350, 400, 450, 500};
    /// VGG16's convolutions (safetensors, "features.<i>" names): the paper's ImageNet VGG16.
    std::filesystem::path backbone_weights{};
    bool train_encoder = false;  ///< the paper fixes VGG16 "throughout"
    std::uint64_t seed = 1;
    /// "The network parameters are optimized by Adam with an initial learning rate of 0.001;
    /// about 9K iterations with mini-batches of 12" (about 10 epochs of the 10,582 images).
    train_config spn_training{.epochs = 10, .batch_size = 12, .update = optimizer::adam, .lr = 1e-3f,
                              .momentum = 0.0f, .weight_decay = 0.0f, .poly_power = 0.0f};
    /// Sanitization of SP-CAM (and CAM): 50% of each map's maximum, background below 0.
    cam::annotation_config annotation{.relative = 0.5f, .background = 0.0f};
    bool sanitize = true;  ///< false: every class's map competes, no relative threshold (Fig. 3b's ablation)
    bool reliable = true;  ///< false: the rounds train on every annotation
    cam::reliable_config subset{};
    int rounds = 2;
    /// DecoupledNet's square input (Hong et al.: 320) and training ("9K iterations for both
    /// rounds"; Adam as SPN's, since the paper defers to Hong et al.'s setup without numbers).
    index_t decoupled_size = 320;
    train_config decoupled{.epochs = 10, .batch_size = 12, .update = optimizer::adam, .lr = 1e-3f,
                           .momentum = 0.0f, .weight_decay = 0.0f, .poly_power = 0.0f};
    /// A round's pixel shows a class where its figure probability exceeds this.
    float figure = 0.5f;
    /// At test time a class is present when its score (SPN: mean SP-CAM score over the
    /// superpixels; DecoupledNet: its classifier's score) exceeds this; with none, the best.
    float class_threshold = 0.0f;

    /// The scenes dataset (128-pixel images, 10 classes) in minutes on 2 cores: 1/8 width with
    /// BatchNorm (the pretrained backbone `wsss pretrain sec` makes), the six sizes scaled to
    /// 128 (64..128), DecoupledNet on the native 128 x 128 (20 epochs at 1e-3).
    static config scenes() {
      config c;
      c.net.width = 1.0 / 8;
      c.net.batch_norm = true;
      c.sizes = {64, 77, 90, 102, 115, 128};
      // 300 steps at 3e-4: longer (or at 1e-3) the SP branch's scores spread over the
      // background and SP-CAM loses to CAM (docs/spn.md, "Results")
      c.spn_training.epochs = 12;
      c.spn_training.batch_size = 8;
      c.spn_training.lr = 3e-4f;
      c.decoupled_size = 128;
      c.decoupled.epochs = 20;
      c.decoupled.batch_size = 8;
      return c;
    }

    void validate() const {
      spn_training.validate(name);
      decoupled.validate(name);
      annotation.validate(name);
      subset.validate(name);
      if (sizes.empty()) throw_value(name, "needs at least one input size");
      for (index_t s : sizes)
        if (s < 16) throw_value(name, "input sizes must be >= 16, got ", s);
      if (decoupled_size < 16) throw_value(name, "decoupled_size must be >= 16, got ", decoupled_size);
      if (rounds < 0) throw_value(name, "rounds must be >= 0, got ", rounds);
      if (!(figure > 0.0f && figure < 1.0f)) throw_value(name, "figure threshold must be in (0, 1), got ", figure);
    }
  };

  config cfg;
  S superpixels{};  ///< slot: the superpixel method (superpixel::SuperpixelMethod)
  P pooler{};       ///< slot: the SP layer (pool::SuperpixelPooler)

  using network = nn::spn_net;
  using segmenter = nn::decoupled_segmenter;

  spn() = default;
  explicit spn(config c, S s = {}, P p = {}) : cfg(std::move(c)), superpixels(std::move(s)), pooler(std::move(p)) {
    cfg.validate();
  }

  /// SPN with VGG16 from the backbone file; the encoder is fixed unless cfg.train_encoder.
  network make_network(index_t classes, rng& g) const {
    nn::spn_net::config c = cfg.net;
    c.classes = classes - 1;
    network net(c, g);
    if (!cfg.backbone_weights.empty())
      nn::load_weights(net, cfg.backbone_weights, {.allow_missing = true, .allow_unexpected = true});
    if (!cfg.train_encoder) {
      net.features.visit_params([](ad::parameter& p) { p.trainable = false; });
      for (auto& b : net.features.bn) b.set_frozen(true);
    }
    return net;
  }

  // ---- inputs at a size ---------------------------------------------------------------------

  /// The crop-and-pad transform that pads an H x W input at the bottom / right to the square of
  /// its longer side (scale 1: every source pixel kept as it is).
  static data::transform square_padding(index_t H, index_t W) {
    const index_t L = std::max(H, W);
    return {.out_h = L, .out_w = L, .src_h = H, .src_w = W};
  }
  /// The image padded to a square with zeros (bottom / right) and resized to side x side.
  static rgb_image sized(const rgb_image& img, index_t side) {
    return square_input(square_padding(img.height(), img.width()).apply(img), side);
  }
  /// The superpixel map laid out the same way ("no superpixel" in the padding; nearest).
  static superpixel::segmentation sized(const superpixel::segmentation& seg, index_t side) {
    return superpixel::resize_nearest(superpixel::pad_to_square(seg), side, side);
  }
  /// An annotation laid out the same way (ignored padding), resampled to side x side (nearest).
  static label_map sized(const label_map& l, index_t side) {
    return resample_labels(square_padding(l.height(), l.width()).apply(l, ignore_label), side, side);
  }
  /// Maps of the padded square (K x L x L on the grid of any size) back on the image: resized
  /// to L x L (bilinear), the padding cropped.
  static tensor on_image(const tensor& maps, index_t H, index_t W) {
    const index_t L = std::max(H, W), K = maps.dim(-3);
    tensor sq = resize_bilinear(maps, L, L);
    tensor out(shape{K, H, W});
    for (index_t k = 0; k < K; ++k)
      for (index_t y = 0; y < H; ++y) std::copy_n(sq.data() + (k * L + y) * L, W, out.data() + (k * H + y) * W);
    return out;
  }

  // ---- SPN ------------------------------------------------------------------------------------

  /// Eq. 4 on both branches, summed: the GAP branch's scores and the SP layer's (eq. 2) over
  /// the batch's superpixels, images and maps at one of the sizes drawn per mini-batch.
  void train_spn(run_context& cx, network& net, std::span<const superpixel::segmentation> segs) const {
    const auto& data = cx.train();
    const losses::multilabel loss({.classes = cx.classes() - 1});
    train(net, data.size(), cfg.spn_training, mix_seed(cfg.seed, 31), cx.net_io("spn", {"gap", "sp"}),
          [&](ad::tape& t, std::span<const std::size_t> idx, rng& g) {
            const index_t side = cfg.sizes[g.below(cfg.sizes.size())];
            std::vector<rgb_image> imgs;
            std::vector<tag_set> tags;
            std::vector<superpixel::segmentation> sp;
            for (std::size_t j : idx) {
              imgs.push_back(sized(data.image(j), side));
              tags.push_back(data.tags(j));
              sp.push_back(sized(segs[j], side));
            }
            const batch b{.images = imgs, .tags = tags, .superpixels = sp};
            const network::maps m = net.heads(t, encode(t, net, imgs));
            const ad::var gap = ad::reshape(ad::global_avg_pool(m.cam), shape{m.cam.shape()[0], m.cam.shape()[1]});
            const auto sp_plan = pooler.prepare(cx.ex(), b, m.sp.shape());
            const ad::var sp_scores = pooler.record(t, sp_plan, m.sp);
            auto lp = loss.prepare(cx.ex(), b, gap.shape());
            const ad::var l_gap = loss.record(t, lp, gap), l_sp = loss.record(t, lp, sp_scores);
            return step_result{ad::add(l_gap, l_sp), {l_gap.value()[0], l_sp.value()[0]}};
          });
  }

  /// The encoder on a batch; without cfg.train_encoder outside the tape's gradient (it is fixed).
  network::encoding encode(ad::tape& t, network& net, std::span<const rgb_image> imgs) const {
    const ad::var x = t.leaf(nn::normalize(imgs, cfg.input));
    if (cfg.train_encoder) return net.encode(t, x);
    network::encoding e;
    {
      ad::no_grad ng(t);
      e = net.encode(t, x);
    }
    e.pool5 = t.leaf(e.pool5.value());
    return e;
  }

  /// SP-CAM ("Generating initial annotations"): every superpixel's class scores at every size,
  /// max over the sizes, painted on the image's superpixels (K x H x W); CAM from the GAP branch
  /// at every size the same way, upsampled (bilinear); and SPN's test-time class scores (SP-CAM
  /// averaged over the superpixels).
  struct activation_maps {
    tensor sp_cam, cam;
    std::vector<double> class_scores;
  };
  template <class Tag>
  activation_maps activations(const exec<Tag>& ex, network& net, const rgb_image& img, const superpixel::segmentation& seg) const {
    const index_t K = net.cfg.classes, H = img.height(), W = img.width();
    pool::sp_cam acc(K, seg.count);
    tensor cam;
    for (index_t side : cfg.sizes) {
      ad::tape t;
      t.set_training(false);
      ad::no_grad ng(t);
      const rgb_image in = sized(img, side);
      const superpixel::segmentation sp = sized(seg, side);
      const network::maps m = net.heads(t, encode(t, net, std::span(&in, 1)));
      const auto pl = pooler.prepare(ex, batch{.superpixels = std::span(&sp, 1)}, m.sp.shape());
      acc.add(sp.sizes(), pooler.superpixel_features(pl, m.sp.value()).front());
      const tensor c = on_image(m.cam.value(), H, W);
      if (cam.empty()) cam = c;
      else for (index_t u = 0; u < cam.numel(); ++u) cam[u] = std::max(cam[u], c[u]);
    }
    return {acc.paint(seg, -std::numeric_limits<float>::infinity()), std::move(cam), acc.class_means()};
  }

  /// The classes a network finds in an image from its scores (index k: class k + 1).
  template <class Scores>
  std::vector<int> predicted_classes(const Scores& s) const {
    std::vector<int> out;
    for (std::size_t k = 0; k < s.size(); ++k)
      if (s[k] > cfg.class_threshold) out.push_back(static_cast<int>(k) + 1);
    if (out.empty() && !s.empty()) out.push_back(static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin()) + 1);
    return out;
  }

  /// The sanitized annotation of class maps over `classes` (the tags; at test time the classes
  /// found): cfg.annotation's relative threshold, background at or below `background`.
  label_map sanitized(const tensor& maps, std::span<const int> classes, float background) const {
    return cam::annotate(maps, classes, {.relative = cfg.annotation.relative, .background = background});
  }
  /// The unsanitized one: every pixel's best class of `classes` above `background`, no relative threshold.
  static label_map unsanitized(const tensor& maps, std::span<const int> classes, float background) {
    return cam::annotate(maps, classes, {.relative = 0.0f, .background = background});
  }

  // ---- DecoupledNet ---------------------------------------------------------------------------

  /// The bridge's inputs of a batch: pool5, its switches and the classifier's scores (SPN's GAP
  /// branch: DecoupledNet's classification network, trained on the same tags). saliency() adds
  /// each example's class saliency d score_c / d pool5, scaled to a maximum |.| of 1 (the bridge
  /// sees its shape).
  struct bridge_input {
    tensor pool5;
    std::shared_ptr<ad::pool_switches> switches;
    tensor scores;  ///< N x K, the classifier's
  };
  bridge_input bridge_inputs(network& net, std::span<const rgb_image> imgs) const {
    bridge_input b;
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    const network::encoding e = encode(t, net, imgs);
    b.pool5 = e.pool5.value();
    b.switches = e.switches;
    b.scores = net.gap_scores(t, e.pool5).value();
    return b;
  }
  static tensor saliency(network& net, const tensor& pool5, std::span<const int> classes) {
    ad::tape t;
    t.set_training(false);
    const ad::var x = t.leaf(pool5, true);
    const ad::var s = net.gap_scores(t, x);
    const index_t K = s.shape()[1];
    tensor pick(s.shape(), 0.0f);
    for (std::size_t n = 0; n < classes.size(); ++n) pick[static_cast<index_t>(n) * K + classes[n] - 1] = 1.0f;
    t.backward(ad::sum(ad::mul(s, t.leaf(std::move(pick)))));  // each image's own class only
    tensor g = *t.grad(x);
    const index_t per = g.numel() / g.dim(0);
    for (index_t n = 0; n < g.dim(0); ++n) {
      float top = 0.0f;
      for (index_t u = 0; u < per; ++u) top = std::max(top, std::abs(g[n * per + u]));
      if (top > 0.0f)
        for (index_t u = 0; u < per; ++u) g[n * per + u] /= top;
    }
    return g;
  }

  /// One round's segmentation network, from scratch on the (image, class) examples: figure /
  /// ground cross-entropy against the annotations at the decoder's grid.
  void train_round(run_context& cx, network& net, segmenter& seg, int round, std::span<const label_map> annotations,
                   std::span<const cam::image_class> examples) const {
    const auto& data = cx.train();
    const losses::cross_entropy ce;
    train(seg, examples.size(), cfg.decoupled, mix_seed(cfg.seed, 40, static_cast<std::uint64_t>(round)),
          cx.net_io("round" + std::to_string(round)), [&](ad::tape& t, std::span<const std::size_t> idx, rng&) {
            std::vector<rgb_image> imgs;
            std::vector<int> classes;
            for (std::size_t j : idx) {
              imgs.push_back(sized(data.image(examples[j].image), cfg.decoupled_size));
              classes.push_back(examples[j].cls);
            }
            const bridge_input b = bridge_inputs(net, imgs);
            const ad::var logits = seg(t, t.leaf(b.pool5), t.leaf(saliency(net, b.pool5, classes)), b.switches);
            std::vector<label_map> targets;
            for (std::size_t k = 0; k < idx.size(); ++k) {
              const cam::image_class& ex = examples[idx[k]];
              targets.push_back(cam::figure_ground(sized(annotations[ex.image], logits.shape()[2]), ex.cls));
            }
            auto pl = ce.prepare_labels(targets, logits.shape());
            return step_result{ce.record(t, pl, logits), {}};
          });
  }

  /// A round's figure probabilities on one image (K x H x W) for the classes its classifier
  /// finds and those in `extra` (0 for the others), and the classifier's scores.
  std::pair<tensor, std::vector<float>> round_maps(network& net, segmenter& seg, const rgb_image& img,
                                                   const tag_set& extra) const {
    const rgb_image in = sized(img, cfg.decoupled_size);
    const bridge_input b = bridge_inputs(net, std::span(&in, 1));
    const std::vector<float> scores(b.scores.begin(), b.scores.end());
    std::vector<int> classes = predicted_classes(scores);
    classes.insert(classes.end(), extra.begin(), extra.end());
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    const index_t K = net.cfg.classes, H = img.height(), W = img.width();
    tensor maps(shape{K, H, W}, 0.0f);
    for (int c : classes) {
      const int one[1] = {c};
      const tensor sal = saliency(net, b.pool5, one);
      ad::tape t;
      t.set_training(false);
      ad::no_grad ng(t);
      const tensor p = ad::softmax(seg(t, t.leaf(b.pool5), t.leaf(sal), b.switches), 1).value();
      const tensor fg = on_image(ad::slice(t.leaf(p), 1, 1, 1).value(), H, W);
      std::copy_n(fg.data(), H * W, maps.data() + static_cast<index_t>(c - 1) * H * W);
    }
    return {std::move(maps), scores};
  }

  // ---- the stages -----------------------------------------------------------------------------

  /// Every stage in order; each skips what an earlier run finished.
  run_summary run(run_context& cx) const {
    cx.begin(name, describe(), cfg.seed);
    const auto& data = cx.train();
    rng init(mix_seed(cfg.seed, 30));
    network net = make_network(cx.classes(), init);
    const bool trained = std::filesystem::exists(weights_file(cx.work() / "nets" / "spn"));  // then train_spn loads it
    // Kept for the annotation stage when computed here (at VOC scale SLIC is minutes per pass).
    const std::vector<superpixel::segmentation> segs = trained ? std::vector<superpixel::segmentation>{} : segment_all(cx, data);
    train_spn(cx, net, segs);
    net.visit_params([](ad::parameter& p) { p.trainable = false; });  // from here on SPN only infers

    // "Generating initial annotations with SP-CAM" (and CAM, the comparison of the paper's text)
    cx.per_image("SP-CAM annotations (train)", data, {"cam", "spcam_raw", "spcam"}, [&](std::size_t i, const exec<>& ex) {
      const rgb_image img = data.image(i);
      const activation_maps a = activations(ex, net, img, segs.empty() ? segment(img) : segs[i]);
      const float bg = cfg.annotation.background;
      cx.save_labels("cam", i, sanitized(a.cam, data.tags(i), bg));
      cx.save_labels("spcam_raw", i, unsanitized(a.sp_cam, cam::all_classes(net.cfg.classes), bg));
      cx.save_labels("spcam", i, sanitized(a.sp_cam, data.tags(i), bg));
    });
    const table_row spcam{"SP-CAM annotations", "spcam", data.split()},
        spcam_raw{"SP-CAM annotations, unsanitized", "spcam_raw", data.split()};
    std::vector<table_row> rows{{"CAM annotations (GAP branch)", "cam", data.split()}, cfg.sanitize ? spcam_raw : spcam,
                                cfg.sanitize ? spcam : spcam_raw};
    if (cx.has_val()) {  // "Ours:SPN": the classes from SPN's own scores instead of the tags
      cx.per_image("SPN (val)", cx.val(), {"spn"}, [&](std::size_t i, const exec<>& ex) {
        const rgb_image img = cx.val().image(i);
        const activation_maps a = activations(ex, net, img, segment(img));
        const auto found = predicted_classes(a.class_scores);
        cx.save_labels("spn", cx.val().id(i), sanitized(a.sp_cam, found, cfg.annotation.background));
      });
      rows.push_back({"SPN", "spn", cx.val().split()});
    }

    std::string previous = cfg.sanitize ? "spcam" : "spcam_raw";
    for (int r = 1; r <= cfg.rounds; ++r) previous = run_round(cx, net, r, previous, rows);
    return cx.finish(rows);
  }

  /// Round r ("Iterative learning of DecoupledNet"): the reliable subset of the annotations in
  /// label folder `previous`, DecoupledNet from scratch on it, its annotations of the train
  /// images and its prediction on val (rows appended). Returns the folder the next round reads.
  std::string run_round(run_context& cx, network& net, int r, const std::string& previous, std::vector<table_row>& rows) const {
    const auto& data = cx.train();
    const std::string tag = "round" + std::to_string(r), title = "Round " + std::to_string(r);
    std::vector<label_map> annotations;
    for (std::size_t i = 0; i < data.size(); ++i) annotations.push_back(cx.load_labels(previous, i));
    const auto examples = training_examples(cx, annotations, tag);
    rng seg_init(mix_seed(cfg.seed, 41, static_cast<std::uint64_t>(r)));  // from scratch every round
    segmenter seg({.channels = net.features.out_channels(), .up_stride = cfg.net.up_stride}, seg_init);
    train_round(cx, net, seg, r, annotations, examples);
    cx.per_image(tag + " annotations (train)", data, {tag + "_annotations", tag + "_raw"}, [&](std::size_t i, const exec<>&) {
      const auto [maps, scores] = round_maps(net, seg, data.image(i), data.tags(i));
      cx.save_labels(tag + "_annotations", i, sanitized(maps, data.tags(i), cfg.figure));
      cx.save_labels(tag + "_raw", i, unsanitized(maps, predicted_classes(scores), cfg.figure));
    });
    // The annotations the next round reads come last (the run's final pseudo-labels).
    const table_row sanitized{title + " annotations", tag + "_annotations", data.split()},
        raw{title + " annotations, unsanitized", tag + "_raw", data.split()};
    rows.push_back(cfg.sanitize ? raw : sanitized);
    rows.push_back(cfg.sanitize ? sanitized : raw);
    if (cx.has_val()) {
      cx.per_image(tag + " (val)", cx.val(), {tag}, [&](std::size_t i, const exec<>&) {
        const auto [maps, scores] = round_maps(net, seg, cx.val().image(i), {});
        cx.save_labels(tag, cx.val().id(i), unsanitized(maps, predicted_classes(scores), cfg.figure));
      });
      rows.push_back({title + " (DecoupledNet)", tag, cx.val().split()});
    }
    return tag + (cfg.sanitize ? "_annotations" : "_raw");
  }

  /// The slot's superpixels of an image, checked: a map of the image's size, labels in range.
  superpixel::segmentation segment(const rgb_image& img) const {
    superpixel::segmentation seg = superpixels(img);
    superpixel::validate(seg, name);
    if (seg.height() != img.height() || seg.width() != img.width())
      throw_shape(name, "the superpixel method '", S::name, "' returned a ", seg.height(), "x", seg.width(), " map for a ",
                  img.height(), "x", img.width(), " image");
    return seg;
  }

  /// Every train image's superpixels (the slot's), in split order, two images at a time.
  std::vector<superpixel::segmentation> segment_all(const run_context& cx, const io::voc_dataset& data) const {
    std::vector<superpixel::segmentation> segs(data.size());
    std::vector<std::size_t> all(data.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    for_each_item("superpixels", all, all.size(), {.quiet = cx.options().quiet}, {}, dist::local(),  // every rank needs all
                  [&](std::size_t i, const exec<>&) { segs[i] = segment(data.image(i)); });
    return segs;
  }

  /// A round's training examples: the reliable subset of the annotations (or all of them), with
  /// the annotation accuracy of the images it keeps against all (Fig. 3b) printed and written to
  /// <work>/<round>_subset.txt when the split has masks.
  std::vector<cam::image_class> training_examples(const run_context& cx, std::span<const label_map> annotations,
                                                  const std::string& round) const {
    const auto& data = cx.train();
    std::vector<tag_set> tags;
    for (std::size_t i = 0; i < data.size(); ++i) tags.push_back(data.tags(i));
    auto examples = cfg.reliable ? cam::reliable_subset(annotations, tags, cfg.subset) : cam::all_pairs(annotations, tags);
    if (examples.empty()) throw_value(name, round, ": no annotation has pixels of its tagged classes to train on");
    std::vector<char> kept(data.size(), 0);
    for (const auto& e : examples) kept[e.image] = 1;
    eval::confusion_matrix all(cx.classes()), subset(cx.classes());
    for (std::size_t i = 0; i < data.size(); ++i) {
      std::error_code ec;
      if (!std::filesystem::exists(data.mask_path(i), ec)) return examples;  // no masks: nothing to report
      const label_map gt = data.mask(i);
      all.add(annotations[i], gt);
      if (kept[i]) subset.add(annotations[i], gt);
    }
    std::ostringstream os;
    os.precision(4);
    os << round << " trains on " << examples.size() << " (image, class) examples of "
       << std::count(kept.begin(), kept.end(), 1) << " images; annotation mIoU " << 100.0 * subset.miou()
       << "% on those images, " << 100.0 * all.miou() << "% on all " << data.size() << "\n";
    io::write_file_atomic(cx.work() / (round + "_subset.txt"), os.str());
    if (cx.options().out) std::fprintf(cx.options().out, "%s", os.str().c_str());
    return examples;
  }

  /// The configuration as text: a rerun must find the same text in the work folder.
  std::string describe() const {
    std::ostringstream os;
    os.precision(9);
    os << "slots = " << S::name << ", " << P::name << "\n";
    if constexpr (requires(const S& m) { m.cfg.superpixels; m.cfg.compactness; })
      os << "superpixels = " << superpixels.cfg.superpixels << ", compactness " << superpixels.cfg.compactness << "\n";
    os << "width = " << cfg.net.width << "\nbatch norm = " << cfg.net.batch_norm << "\nup stride = " << cfg.net.up_stride
       << "\ninput mean = " << cfg.input.mean[0] << ' ' << cfg.input.mean[1] << ' ' << cfg.input.mean[2] << "\nsizes =";
    for (index_t s : cfg.sizes) os << ' ' << s;
    os << "\nbackbone weights = " << cfg.backbone_weights.string() << "\ntrain encoder = " << cfg.train_encoder
       << "\nseed = " << cfg.seed << "\n";
    describe_schedule(os, "spn", cfg.spn_training);
    os << "annotation = relative " << cfg.annotation.relative << ", background " << cfg.annotation.background
       << "\nsanitize = " << cfg.sanitize << "\nreliable = " << cfg.reliable << ", per class " << cfg.subset.per_class
       << ", fraction " << cfg.subset.fraction << "\nrounds = " << cfg.rounds << "\ndecoupled size = " << cfg.decoupled_size << "\n";
    describe_schedule(os, "decoupled", cfg.decoupled);
    os << "figure = " << cfg.figure << "\nclass threshold = " << cfg.class_threshold << "\n";
    return os.str();
  }
};

}  // namespace wsss::methods
