// SPDX-License-Identifier: MIT
// wsss/methods/affinitynet.hpp — AffinityNet (Ahn & Kwak, CVPR 2018): CAMs, confident regions,
// a learned pixel affinity, the random walk that revises the CAMs, the dense CRF, and the
// segmentation network trained on the synthesised labels. One type, generic over its slots.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "wsss/autodiff/ops/resize.hpp"
#include "wsss/cam.hpp"
#include "wsss/cam/device.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/data/augment.hpp"
#include "wsss/graph/affinity.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/device.hpp"
#include "wsss/graph/neighbourhood.hpp"
#include "wsss/losses/affinity.hpp"
#include "wsss/losses/cross_entropy.hpp"
#include "wsss/losses/multilabel.hpp"
#include "wsss/methods/run.hpp"
#include "wsss/methods/stages.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/nets/classifier.hpp"
#include "wsss/nn/nets/resnet38_heads.hpp"
#include "wsss/nn/nets/segmentation.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/gap.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/device_inference.hpp"
#include "wsss/walk/device_sparse_power.hpp"
#include "wsss/walk/inference.hpp"
#include "wsss/walk/sparse_power.hpp"
#include "wsss/walk/transition.hpp"

namespace wsss::methods {

/// AffinityNet's numbers (the paper's and psa's defaults; `scenes()` the main job's). The same
/// type for every choice of slots, so one configuration drives any of them (a run made with
/// host slots is labelled with device ones, e.g. affinitynet_on<opencl_t>).
struct affinitynet_config {
  static constexpr std::string_view name = "affinitynet";  ///< errors name the method

  double width = 1.0;           ///< ResNet38 width multiplier (1 = the paper's backbone)
  float dropout = 0.5f;         ///< before the classifier's fc8 (psa); b6 / b7 keep theirs (0.3 / 0.5)
  bool backbone_dropout = true; ///< Dropout2d inside b6 and b7 (psa)
  /// Initial backbone weights for all three networks (the paper's ImageNet-trained ResNet38,
  /// e.g. psa's converted weights, names as nn::resnet38's); empty: the classifier starts from
  /// random weights and the other two networks from the trained classifier's backbone.
  std::filesystem::path backbone_weights{};
  std::uint64_t seed = 1;       ///< every random stream of the run derives from it
  // 3.1 CAMs: the classification network (psa train_cls: 15 epochs, batch 16, crop 448)
  train_config classifier{.epochs = 15, .batch_size = 16};
  data::augment_config classifier_augment{.min_scale = 0.5, .max_scale = 1.0, .flip = true, .crop = 448};
  cam::multiscale_config cams{};  ///< scales 1, 0.5, 1.5, 2 and flips, summed (psa infer_cls)
  float cam_background = 0.2f;    ///< constant background score of the CAM-only labels (psa --out_cam_pred)
  // 3.2 AffinityNet: confident regions (alpha 4 / 24) and training (psa train_aff: 8 epochs, batch 8)
  cam::confident_config confident{};
  train_config affinity{.epochs = 8, .batch_size = 8};
  data::augment_config affinity_augment{.min_scale = 1.0, .max_scale = 1.0, .flip = true, .crop = 0};
  losses::affinity_loss_config affinity_loss{};  ///< eq. 10 (the code's weights 1/4, 1/4, 1/2); eq. 3's
                                                 ///< distance is the graph slot's (cfg.dist)
  // 3.3 random walk on the CAMs with background alpha 16, W^beta with beta 8
  float walk_alpha = 16.0f;
  float beta = 8.0f;
  index_t stride = 8;  ///< the backbone's output stride
  // 3.4 segmentation labels through the dense CRF, then the segmentation network
  float crf_clip = 1e-5f;
  /// Images per device batch of label synthesis (affinitynet_on<Tag>: one walk and one CRF for
  /// the batch); 0: by the device, 8 on a GPU and 1 on a CPU device (backend::batch_pays).
  /// Host slots label image by image. The labels do not depend on it, so config.txt does not
  /// record it.
  index_t synthesis_batch = 0;
  train_config segmentation{.epochs = 8, .batch_size = 8, .lr = 0.01f};
  data::augment_config segmentation_augment{.min_scale = 0.7, .max_scale = 1.3, .flip = true, .crop = 448};
  index_t seg_dilation = 12;

  /// The main job's configuration: the scenes dataset (128-pixel images, 10 classes, a few
  /// hundred images) in minutes on a 2-core CPU, networks trained from scratch. Scaled from
  /// the paper: a 1/16-wide backbone (psa's is ImageNet-pretrained, ours starts from random
  /// weights), crops of the whole 128-pixel image, atrous rate 3 for a 16x16 score map (12 at
  /// psa's 56x56), more epochs over the small set.
  static affinitynet_config scenes() {
    affinitynet_config c;
    c.width = 1.0 / 16;
    c.dropout = 0.0f;  // dropout only slows a from-scratch network this small
    c.backbone_dropout = false;
    // Adam: from random weights SGD stays at the tag prior for hundreds of steps here. No
    // weight decay: Adam's L2 term shrinks every weight whose gradient is small.
    const train_config adam{.epochs = 40, .batch_size = 8, .update = optimizer::adam, .lr = 1e-3f,
                            .momentum = 0.0f, .weight_decay = 0.0f, .poly_power = 0.9f};
    c.classifier = adam;
    c.classifier_augment = {.min_scale = 0.9, .max_scale = 1.1, .flip = true, .crop = 128};
    c.affinity = adam;
    c.affinity.epochs = 10;
    c.segmentation = adam;
    c.segmentation.epochs = 15;
    c.segmentation_augment = {.min_scale = 0.8, .max_scale = 1.2, .flip = true, .crop = 128};
    c.seg_dilation = 3;
    return c;
  }

  void validate() const {
    if (!(width > 0.0)) throw_value(name, "width must be > 0, got ", width);
    classifier.validate(name);
    affinity.validate(name);
    segmentation.validate(name);
    classifier_augment.validate(name);
    affinity_augment.validate(name);
    segmentation_augment.validate(name);
    cams.validate(name);
    confident.validate(name);
    if (!(walk_alpha > 0.0f) || !(beta > 0.0f)) throw_value(name, "walk alpha and beta must be > 0");
    if (synthesis_batch < 0) throw_value(name, "synthesis batch must be >= 0 (0: by the device), got ", synthesis_batch);
    if (stride != 8) throw_value(name, "the ResNet38 backbone has output stride 8, got stride ", stride);
    if (affinity_augment.min_scale != 1.0 || affinity_augment.max_scale != 1.0 || affinity_augment.crop != 0)
      throw_value(name, "AffinityNet trains on whole images (flips only): its labels live on the stride grid");
  }
};

/// The AffinityNet pipeline. Slots: the classifier's global pooling (GAP in the paper), the
/// neighbourhood of the affinity graph (radius gamma = 5), the random-walk propagator (t = 256)
/// and the dense CRF; each slot's own `cfg` carries its numbers (gamma, t, kernel widths).
/// Stages, in the paper's order, each writing its artifacts under the work folder:
///   classifier -> cams -> confident -> affinity -> revise -> segmentation -> evaluate
template <pool::Pooler P = pool::gap, graph::GraphBuilder G = graph::radius, walk::Propagator W = walk::sparse_power,
          crf::CrfEngine C = crf::mean_field<>>
class affinitynet {
  static_assert(G::weights == graph::weighting::learned,
                "affinitynet: the graph slot must weight its edges by eq. 3 from learned features (graph::radius, "
                "graph::connectivity); AffinityNet is what learns them");

 public:
  static constexpr std::string_view name = affinitynet_config::name;
  using config = affinitynet_config;

  config cfg;
  P pooler{};  ///< slot: the classifier's global pooling (Pooler)
  G graph{};   ///< slot: the affinity graph's neighbourhood (GraphBuilder)
  W walk{};    ///< slot: the random walk (Propagator)
  C crf{};     ///< slot: the dense CRF (CrfEngine)

  using classifier_net = nn::cam_classifier<P>;
  using affinity_net = nn::resnet38_aff;
  using segmentation_net = nn::resnet38_seg;

  affinitynet() = default;
  explicit affinitynet(config c, P p = {}, G g = {}, W w = {}, C k = {})
      : cfg(std::move(c)), pooler(std::move(p)), graph(std::move(g)), walk(std::move(w)), crf(std::move(k)) {
    cfg.validate();
  }

  // ---- the three networks --------------------------------------------------------------------

  nn::resnet38::config backbone() const {
    // Trained from scratch: BN learns (psa freezes its ImageNet statistics), every stage trains.
    return {.width = cfg.width, .frozen_bn = false, .freeze_b2 = false, .random_init = true,
            .drop6 = cfg.backbone_dropout ? 0.3f : 0.0f, .drop7 = cfg.backbone_dropout ? 0.5f : 0.0f};
  }
  classifier_net make_classifier(int classes, rng& g) const {
    return classifier_net({.backbone = backbone(), .classes = classes - 1, .dropout = cfg.dropout}, pooler, g);
  }
  affinity_net make_affinity_net(rng& g) const { return affinity_net({.backbone = backbone()}, g); }
  segmentation_net make_segmentation_net(int classes, rng& g) const {
    return segmentation_net({.backbone = backbone(), .classes = classes, .dilation = cfg.seg_dilation}, g);
  }

  // ---- the per-image steps (shared by `run` and `label`) ---------------------------------------

  /// Eq. 1 aggregated over scales and flips: K x H x W normalised CAMs, absent classes zero.
  tensor cams(classifier_net& net, const rgb_image& img, const tag_set& tags) const {
    auto cam_of = [&](const tensor& x) {
      ad::tape t;
      t.set_training(false);
      ad::no_grad ng(t);
      return net.cam(t, t.leaf(x)).value();
    };
    return cam::multiscale(cam_of, img, tags, cfg.cams);
  }

  /// Sec. 3.2.1: confident foreground / background / neutral, full size and on the stride grid.
  /// With a CRF slot that keeps its marginals on a device (affinitynet_on<Tag>) the tagged CAM
  /// planes go up once and the two label maps come down (cam::device_confident_regions).
  template <class Tag>
  cam::confident_maps confident(const exec<Tag>& ex, const rgb_image& img, const tensor& cams,
                                const tag_set& tags) const {
    if constexpr (crf::resident_marginals<C, backend_of_t<C>>)
      return cam::device_confident_regions(ex, crf, img, cams, tags, cfg.confident, cfg.stride);
    else
      return cam::confident_regions(ex, crf, img, cams, tags, cfg.confident, cfg.stride);
  }

  /// The affinity feature map f_aff (F x h x w) of one image, h x w = ceil(size / 8).
  tensor affinity_features(affinity_net& net, const rgb_image& img) const {
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    tensor f = net(t, t.leaf(nn::normalize(img, cfg.cams.input))).value();
    f.reshape({f.dim(1), f.dim(2), f.dim(3)});
    return f;
  }

  /// Sec. 3.3: W from eq. 3 on the slot's neighbourhood, T = D^-1 W^beta (eq. 11), the walk
  /// vec(M*_c) = T^t vec(M_c) (eq. 12) on [M_bg (alpha 16), M_c] pooled to the feature grid,
  /// then bilinear upsampling to the image: (K + 1) x H x W revised scores.
  template <class Tag>
  tensor revise(const exec<Tag>& ex, const tensor& features, const tensor& cams) const {
    const index_t h = cams.dim(1), w = cams.dim(2);
    typename G::plan g_local;  // both plans depend on the grid only: kept in the workspace
    typename W::plan w_local;
    const auto gex = policy_exec(graph, ex);  // the graph's backend (a device builder's, else ex's)
    auto& gp = plan_for_shape(graph, gex, features.shape(), g_local);
    const tensor m = walk::reference_walk_input(cams, cfg.walk_alpha, cfg.stride);
    const auto wex = policy_exec(walk, ex);  // the walk's backend (a device propagator's, else ex's)
    auto& wp = plan_for_shape(walk, wex, m.shape(), w_local);
    const walk::transition_config tc{cfg.beta, walk::orientation::average};
    tensor revised;
    if constexpr (walk::resident_chain<G, W>) {  // W and T made and used on the device
      const auto* weights = graph.weigh(gex, gp, features);
      walk.run(wex, wp, walk::resident_graph<backend_of_t<G>>{gp.graph, weights, tc}, m, revised);
    } else {
      graph::csr_graph wg;
      graph.run(gex, gp, features, wg);
      walk.run(wex, wp, walk::make_transition(wg, tc), m, revised);
    }
    return walk::upsample_revised(revised, h, w, cfg.stride);
  }

  /// Labels of one image from Sec. 3.3 and 3.4.
  struct pseudo_labels {
    label_map rw;      ///< argmax of the revised scores (empty unless asked for)
    label_map rw_crf;  ///< the dense CRF's (the pseudo-labels)
  };

  /// Sec. 3.3 + 3.4 for one image: revise, then the walk's labels (when `with_rw`) and
  /// refine's. When the graph, walk and CRF slots share one device (affinitynet_on<Tag>) every
  /// stage from the CAM post-processing to the argmax runs there: the tagged CAM planes and the
  /// features go up, the label bytes come down (the same labels up to rounding).
  template <class Tag>
  pseudo_labels synthesize(const exec<Tag>& ex, const rgb_image& img, const tensor& features, const tensor& cams,
                           const tag_set& tags, bool with_rw = true) const {
    if constexpr (on_device) {
      return synthesize_on_device(ex, std::span<const rgb_image>(&img, 1), std::span<const tensor>(&features, 1),
                                  std::span<const tensor>(&cams, 1), std::span<const tag_set>(&tags, 1), with_rw)
          .front();
    } else {
      const tensor revised = revise(ex, features, cams);
      return {with_rw ? argmax_labels(revised) : label_map{}, refine(ex, img, revised, tags)};
    }
  }

  /// Sec. 3.3 + 3.4 for a batch: image i from features[i], cams[i] and tags[i]; the labels are
  /// synthesize's for each image alone, bit for bit. On a device (affinitynet_on<Tag>) each
  /// run of consecutive images of one size and tag count is one device batch: eq. 3 for all
  /// of them in one launch, one walk over the disjoint union of their graphs (every step one
  /// launch for the run), one CRF over their lattices. So order a batch by (size, tag count)
  /// for the fewest launches (synthesis_order); a device batch moves its features and CAMs up
  /// once and its labels down once. Host slots label image by image.
  template <class Tag>
  std::vector<pseudo_labels> synthesize(const exec<Tag>& ex, std::span<const rgb_image> imgs,
                                        std::span<const tensor> features, std::span<const tensor> cams,
                                        std::span<const tag_set> tags, bool with_rw = true) const {
    if (features.size() != imgs.size() || cams.size() != imgs.size() || tags.size() != imgs.size())
      throw_shape(name, "a batch needs features, CAMs and tags for each of its ", imgs.size(), " images, got ",
                  features.size(), ", ", cams.size(), " and ", tags.size());
    std::vector<pseudo_labels> out;
    out.reserve(imgs.size());
    for (std::size_t b = 0; b < imgs.size();) {
      if constexpr (on_device) {
        std::size_t e = b + 1;  // [b, e): one size and tag count, one device batch
        while (e < imgs.size() && same_run(imgs[e], tags[e], imgs[b], tags[b])) ++e;
        for (auto& l : synthesize_on_device(ex, imgs.subspan(b, e - b), features.subspan(b, e - b), cams.subspan(b, e - b),
                                            tags.subspan(b, e - b), with_rw))
          out.push_back(std::move(l));
        b = e;
      } else {
        out.push_back(synthesize(ex, imgs[b], features[b], cams[b], tags[b], with_rw));
        ++b;
      }
    }
    return out;
  }

  /// The order of a batch's images that synthesize runs as the fewest device batches: by
  /// size, then tag count (stable).
  static std::vector<std::size_t> synthesis_order(std::span<const rgb_image> imgs, std::span<const tag_set> tags) {
    std::vector<std::size_t> order(imgs.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return run_key(imgs[a], tags[a]) < run_key(imgs[b], tags[b]); });
    return order;
  }

  /// Sec. 3.4: the dense CRF over [background, present classes] of the revised scores, each
  /// pixel's scores normalised to a distribution; the MAP labelling as class ids.
  template <class Tag>
  label_map refine(const exec<Tag>& ex, const rgb_image& img, const tensor& revised, const tag_set& tags) const {
    return cam::expand_labels(crf_labels(crf, ex, img, cam::present_channels(revised, tags), cfg.crf_clip), tags);
  }

  /// Segmentation network prediction: logits upsampled to the image, argmax.
  static label_map predict(segmentation_net& net, const rgb_image& img, const nn::normalization& nz) {
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    const ad::var s = net(t, t.leaf(nn::normalize(img, nz)));
    return argmax_labels(resize_bilinear(s.value(), img.height(), img.width()));
  }

  // ---- the stages --------------------------------------------------------------------------------

  /// Every stage in order; each skips what an earlier run finished. Returns Table 1's rows
  /// (pseudo-labels on train) and the segmentation network's row (val).
  run_summary run(run_context& cx) const {
    cx.begin(name, describe(), cfg.seed);
    const auto& data = cx.train();
    rng init(mix_seed(cfg.seed, 10));
    classifier_net cls = make_classifier(cx.classes(), init);
    affinity_net aff = make_affinity_net(init);
    segmentation_net seg = make_segmentation_net(cx.classes(), init);
    if (!cfg.backbone_weights.empty())  // the paper: all three start from the same pretrained backbone
      for (nn::resnet38* b : {&cls.backbone, &aff.backbone, &seg.backbone})
        nn::load_weights(*b, cfg.backbone_weights, {.allow_missing = false, .allow_unexpected = true});

    train_classifier(cx, cls);                                        // 3.1
    cx.per_image("CAMs", data, {"cams", "cam"}, [&](std::size_t i, const exec<>&) {  // eq. 1; labels from CAMs alone
      const tensor m = cams(cls, data.image(i), data.tags(i));
      cx.save_cams(i, m);
      cx.save_labels("cam", i, cam::threshold_labels(m, cfg.cam_background));
    });
    cx.per_image("confident regions", data, {"confident", "affinity_labels"}, [&](std::size_t i, const exec<>& ex) {
      const auto r = confident(ex, data.image(i), cx.load_cams(i), data.tags(i));  // 3.2.1
      cx.save_labels("confident", i, r.full);
      cx.save_labels("affinity_labels", i, r.pooled);
    });
    train_affinity(cx, cls, aff);                                     // 3.2.2, eq. 7-10
    cx.per_batch("random walk + dCRF", data, {"rw", "rw_crf"}, synthesis_batch(cx.ex()),  // 3.3, 3.4
                 [&](std::span<const std::size_t> items, const exec<>& ex) {
                   synthesize_items(ex, data, items, aff, true, [&](std::size_t i, const rgb_image&) { return cx.load_cams(i); },
                                    [&](std::size_t i, const pseudo_labels& labels) {  // eq. 11-12
                                      cx.save_labels("rw", i, labels.rw);
                                      cx.save_labels("rw_crf", i, labels.rw_crf);
                                    });
                 });
    std::vector<table_row> rows{{"CAM", "cam", data.split()},
                                {"CAM + RW", "rw", data.split()},
                                {"CAM + RW + dCRF", "rw_crf", data.split()}};
    if (cx.has_val()) {
      train_segmentation(cx, cls, seg);                               // 3.4
      cx.per_image("segmentation (val)", cx.val(), {"segmentation"}, [&](std::size_t i, const exec<>&) {
        cx.save_labels("segmentation", cx.val().id(i), predict(seg, cx.val().image(i), cfg.cams.input));
      });
      rows.push_back({"segmentation network", "segmentation", cx.val().split()});
    }
    return cx.finish(rows);
  }

  /// `wsss label`: pseudo-labels (CAM -> random walk -> dCRF) for every image of `data` from the
  /// networks a finished run left in `run_dir` (nets/classifier, nets/affinity), one palette PNG
  /// per image in `out`; images already labelled there are skipped, so a killed call resumes.
  /// The run's config.txt must match this configuration (same widths, same stages). Over
  /// several ranks (g) each labels its shard of the missing images.
  void label(const std::filesystem::path& run_dir, const io::voc_dataset& data, const std::filesystem::path& out,
             bool quiet = false, const dist::group& g = dist::local()) const {
    constexpr std::string_view comp = "affinitynet::label";
    const auto config_file = run_dir / "config.txt";
    std::ifstream in(config_file);
    if (!in) throw_io(comp, config_file, "not a run folder of `wsss run affinitynet` (no config.txt)");
    std::stringstream have;
    have << in.rdbuf();
    if (have.str() != "method = " + std::string(name) + "\n" + describe())
      throw_value(comp, "the run in ", run_dir.string(), " was made with another configuration (", config_file.string(),
                  "); pass the same --preset and options as its `wsss run`");
    rng init(mix_seed(cfg.seed, 10));
    classifier_net cls = make_classifier(data.num_classes(), init);
    affinity_net aff = make_affinity_net(init);
    nn::load_weights(cls, weights_file(run_dir / "nets" / "classifier"));
    nn::load_weights(aff, weights_file(run_dir / "nets" / "affinity"));
    std::filesystem::create_directories(out);
    if (g.root()) io::remove_stale_temps(out);  // a killed call's half-written files
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < data.size(); ++i)
      if (!std::filesystem::exists(out / (data.id(i) + ".png"))) todo.push_back(i);
    for_each_batch("label", todo, data.size(), synthesis_batch(exec<>{}), {.quiet = quiet}, {}, g,
                   [&](std::span<const std::size_t> items, const exec<>& ex) {
                     synthesize_items(ex, data, items, aff, false,
                                      [&](std::size_t i, const rgb_image& img) { return cams(cls, img, data.tags(i)); },
                                      [&](std::size_t i, const pseudo_labels& labels) {
                                        io::write_label_png(out / (data.id(i) + ".png"), labels.rw_crf);
                                      });
                   });
  }

  /// The stand-in for the paper's premise: psa's ResNet38 starts from ImageNet weights, which
  /// cannot be had here. The classification network trained on a dataset of single-object
  /// images (`wsss scenes --objects 1 1 --test-items`: items none of the run's scenes use); its
  /// backbone's weights go to `out` (atomically) for cfg.backbone_weights of later runs. Resumes
  /// like `run`. Returns top-1 accuracy on the val split's single-tag images (-1 without val).
  double pretrain(run_context& cx, const std::filesystem::path& out) const {
    if (!cfg.backbone_weights.empty()) throw_value(name, "pretraining starts from random weights: no backbone weights");
    cx.begin("affinitynet pretrain", describe(), cfg.seed);
    rng init(mix_seed(cfg.seed, 10));
    classifier_net cls = make_classifier(cx.classes(), init);
    train_classifier(cx, cls);
    nn::save_weights(cls.backbone, out, {{"wsss", "affinitynet pretrained backbone"}, {"width", std::to_string(cfg.width)}});
    return single_tag_top1(cx, cfg.cams.input, [&](ad::tape& t, const ad::var& x) { return cls(t, x, batch{}); });
  }

  /// The classification network on image tags: pool(fc8(f)) and the multi-label soft-margin loss.
  void train_classifier(run_context& cx, classifier_net& net) const {
    train_on_tags(cx, net, "classifier", {cfg.classifier, cfg.classifier_augment, cfg.cams.input, mix_seed(cfg.seed, 11)},
                  [&](ad::tape& t, const ad::var& x, const batch& b) { return net(t, x, b); });
  }

  /// AffinityNet on the confident regions: affinities of the slot's neighbourhood pairs on the
  /// stride grid, the three-subset loss of eq. 7-10. Without pretrained backbone weights the
  /// backbone starts from the trained classifier's.
  void train_affinity(run_context& cx, classifier_net& cls, affinity_net& net) const {
    if (cfg.backbone_weights.empty()) nn::load_state(net.backbone, nn::state_dict(cls.backbone));
    const auto& data = cx.train();
    train(net, data.size(), cfg.affinity, mix_seed(cfg.seed, 12), cx.net_io("affinity"),
          [&](ad::tape& t, std::span<const std::size_t> idx, rng& g) {
            const auto [imgs, tf] = augmented(data, idx, cfg.affinity_augment, g);
            std::vector<label_map> labels;  // on the stride grid: only the flip applies
            for (std::size_t j = 0; j < idx.size(); ++j) {
              const label_map l = cx.load_labels("affinity_labels", idx[j]);
              labels.push_back(tf[j].flip ? flip(l) : l);
            }
            const ad::var f = net(t, t.leaf(nn::normalize(std::span<const rgb_image>(imgs), cfg.cams.input)));
            // Eq. 3 on the slot's neighbourhood pairs (both orientations: every label mask is
            // symmetric, so the normalised loss is that of the unordered pairs), eq. 7-10 on
            // the pair labels of the confident regions. The pair list and the labels must
            // outlive backward: the step hands them back.
            struct pairs_and_labels {
              typename G::plan graph;
              losses::affinity_loss::plan labels;
            };
            const losses::affinity_loss loss_fn(cfg.affinity_loss);
            auto keep = std::make_shared<pairs_and_labels>();
            keep->graph = graph.prepare(policy_exec(graph, cx.ex()), batch{}, f.shape());
            keep->labels = loss_fn.prepare(cx.ex(), batch{.labels = labels}, keep->graph.pairs);
            const ad::var a = ad::apply(t, graph::affinity_op{&keep->graph.pairs, {graph.cfg.dist}}, f);
            return step_result{loss_fn.record(t, keep->labels, a), {}, keep};
          });
  }

  /// The segmentation network on the synthesised labels (CAM + RW + dCRF), pixel-wise
  /// cross-entropy at the image's resolution; backbone from the classifier.
  void train_segmentation(run_context& cx, classifier_net& cls, segmentation_net& net) const {
    if (cfg.backbone_weights.empty()) nn::load_state(net.backbone, nn::state_dict(cls.backbone));
    const auto& data = cx.train();
    train(net, data.size(), cfg.segmentation, mix_seed(cfg.seed, 13), cx.net_io("segmentation"),
          [&](ad::tape& t, std::span<const std::size_t> idx, rng& g) {
            const auto [imgs, tf] = augmented(data, idx, cfg.segmentation_augment, g);
            std::vector<label_map> labels;
            for (std::size_t j = 0; j < idx.size(); ++j) labels.push_back(tf[j].apply(cx.load_labels("rw_crf", idx[j])));
            const ad::var s = net(t, t.leaf(nn::normalize(std::span<const rgb_image>(imgs), cfg.cams.input)));
            const ad::var up = ad::resize_bilinear(s, imgs[0].height(), imgs[0].width());
            const losses::cross_entropy loss;  // pixel-wise, 255 (CRF-free pixels, padding) ignored
            auto pl = loss.prepare(cx.ex(), batch{.labels = labels}, up.shape());
            return step_result{loss.record(t, pl, up), {}};
          });
  }

  /// The configuration as text (one "key = value" per line): a rerun must find the same text
  /// in the work folder, so a resumed run never mixes artifacts of two configurations.
  std::string describe() const {
    std::ostringstream os;
    os.precision(9);
    auto schedule = [&](const char* k, const train_config& t) { describe_schedule(os, k, t); };
    auto augment = [&](const char* k, const data::augment_config& a) { describe_augment(os, k, a); };
    os << "slots = " << recorded_name<P>() << ", " << recorded_name<G>() << ", " << recorded_name<W>() << ", " << recorded_name<C>() << "\n"
       << "width = " << cfg.width << "\nseed = " << cfg.seed << "\ndropout = " << cfg.dropout << ", backbone "
       << cfg.backbone_dropout << "\nbackbone weights = " << cfg.backbone_weights.string() << "\n";
    schedule("classifier", cfg.classifier);
    augment("classifier augment", cfg.classifier_augment);
    os << "cam scales =";
    for (double sc : cfg.cams.scales) os << ' ' << sc;
    os << "\ncam flip = " << cfg.cams.flip << "\ncam background = " << cfg.cam_background << "\n"
       << "confident alphas = " << cfg.confident.low_alpha << ", " << cfg.confident.high_alpha << "\n";
    schedule("affinity", cfg.affinity);
    augment("affinity augment", cfg.affinity_augment);
    os << "affinity loss weights = " << cfg.affinity_loss.w_bg << ", " << cfg.affinity_loss.w_fg << ", "
       << cfg.affinity_loss.w_neg << "\n"
       << "walk alpha = " << cfg.walk_alpha << "\nbeta = " << cfg.beta << "\nstride = " << cfg.stride << "\n";
    schedule("segmentation", cfg.segmentation);
    augment("segmentation augment", cfg.segmentation_augment);
    os << "segmentation dilation = " << cfg.seg_dilation << "\n";
    return os.str();
  }

 private:
  /// Images per task of the label-synthesis stages: cfg.synthesis_batch on a device (0: 8
  /// where batches pay, a GPU, else 1), one on the host.
  template <class Tag>
  std::size_t synthesis_batch(const exec<Tag>& ex) const {
    if constexpr (on_device) {
      if (cfg.synthesis_batch > 0) return static_cast<std::size_t>(cfg.synthesis_batch);
      return backend::batch_pays<backend_of_t<W>>::on(policy_exec(walk, ex).tag) ? 8 : 1;
    } else {
      return 1;
    }
  }

  /// Label synthesis for the dataset images `items`: each image's affinity features and CAMs
  /// (cams_of(i, image)) made on the host, then synthesize over them in synthesis_order;
  /// emit(i, labels) for each.
  template <class Tag, class CamsOf, class Emit>
  void synthesize_items(const exec<Tag>& ex, const io::voc_dataset& data, std::span<const std::size_t> items,
                        affinity_net& aff, bool with_rw, CamsOf&& cams_of, Emit&& emit) const {
    std::vector<rgb_image> imgs;
    std::vector<tag_set> tags;
    for (std::size_t i : items) {
      imgs.push_back(data.image(i));
      tags.push_back(data.tags(i));
    }
    const std::vector<std::size_t> order = synthesis_order(imgs, tags);
    std::vector<rgb_image> by_order;
    std::vector<tag_set> tags_by_order;
    std::vector<tensor> features, cams;
    for (std::size_t k : order) {
      by_order.push_back(std::move(imgs[k]));
      tags_by_order.push_back(std::move(tags[k]));
      features.push_back(affinity_features(aff, by_order.back()));
      cams.push_back(cams_of(items[k], by_order.back()));
    }
    const auto labels = synthesize(ex, by_order, features, cams, tags_by_order, with_rw);
    for (std::size_t k = 0; k < order.size(); ++k) emit(items[order[k]], labels[k]);
  }

  /// Every slot on one device: the chain from the CAMs to the labels runs there.
  static constexpr bool on_device = walk::resident_inference<G, W> && crf::resident_unaries<C, backend_of_t<W>>;

  /// What the images of one device batch share: size and tag count (synthesis_order sorts by it).
  static auto run_key(const rgb_image& img, const tag_set& tags) {
    return std::tuple(img.height(), img.width(), tags.size());
  }
  static bool same_run(const rgb_image& a, const tag_set& ta, const rgb_image& b, const tag_set& tb) {
    return run_key(a, ta) == run_key(b, tb);
  }

  /// synthesize with every slot on device D, for images of one size and tag count: eq. 2 and
  /// the pooling on the tagged CAM planes (slot j + 1 = tag j), eq. 3's W and T = D^-1 W^beta
  /// there, the walk, then the upsampled scores straight into the walk's labels and the CRF's
  /// unaries (channel j = slot j). Image b's nodes, unaries and labels follow image b - 1's.
  template <class Tag>
  std::vector<pseudo_labels> synthesize_on_device(const exec<Tag>& ex, std::span<const rgb_image> imgs,
                                                  std::span<const tensor> features, std::span<const tensor> cams,
                                                  std::span<const tag_set> tags, bool with_rw) const {
    using D = backend_of_t<W>;
    const auto gex = policy_exec(graph, ex);
    const auto wex = policy_exec(walk, ex);
    const auto cex = policy_exec(crf, ex);
    const auto images = static_cast<index_t>(imgs.size());
    for (const tensor& c : cams) expect_rank(c, 3, name, "CAMs", "K x H x W");
    const index_t k = cams.front().dim(0), h = cams.front().dim(1), w = cams.front().dim(2);
    std::vector<std::vector<index_t>> planes;  // CAM channel of class c is c - 1
    for (std::size_t i = 0; i < imgs.size(); ++i) {
      validate_tags(tags[i], static_cast<int>(k) + 1, name);
      if (!same_run(imgs[i], tags[i], imgs[0], tags[0]) || features[i].shape() != features[0].shape())
        throw_shape(name, "a device batch shares one size, tag count and feature shape: image ", i, " is ", imgs[i].height(),
                    "x", imgs[i].width(), " with ", tags[i].size(), " tags and features ", features[i].shape(),
                    ", image 0 ", imgs[0].height(), "x", imgs[0].width(), " with ", tags[0].size(), " and ",
                    features[0].shape());
      planes.emplace_back();
      for (int c : tags[i]) planes.back().push_back(c - 1);
    }
    typename G::plan g_local;
    typename W::plan w_local;
    walk::device::inference_buffers<D> b_local;
    auto& gp = plan_for_shape(graph, gex, features.front().shape(), g_local);
    auto& wp = plan_for_shape(walk, wex, shape{k + 1, (h + cfg.stride - 1) / cfg.stride, (w + cfg.stride - 1) / cfg.stride},
                              w_local);
    auto& b = wex.scratch(b_local);
    const auto m = walk::make_device_walk_input(wex.tag, b, cams, planes, cfg.walk_alpha, cfg.stride);
    tensor stacked;  // a batch's features, N x F x H x W
    if (images > 1) stacked = graph::stack_features(features);
    const auto* weights = graph.weigh(gex, gp, images == 1 ? features.front() : stacked);
    const walk::transition_config tc{cfg.beta, walk::orientation::average};
    const walk::device_walked<D> s = walk.run(wex, wp, walk::resident_graph<D>{gp.graph, weights, tc, images}, m);
    std::vector<pseudo_labels> out(imgs.size());
    if (with_rw) {  // over all K + 1 channels, the untagged ones 0 (as the host's revised scores)
      std::vector<std::int32_t> slots(static_cast<std::size_t>(images * (k + 1)), -1);
      for (std::size_t i = 0; i < imgs.size(); ++i) {
        std::int32_t* row = slots.data() + static_cast<index_t>(i) * (k + 1);
        row[0] = 0;
        for (std::size_t j = 0; j < tags[i].size(); ++j) row[tags[i][j]] = static_cast<std::int32_t>(j + 1);
      }
      auto rw = walk::device_labels(wex.tag, b, s, h, w, cfg.stride, std::span<const std::int32_t>(slots));
      for (std::size_t i = 0; i < imgs.size(); ++i) out[i].rw = std::move(rw[i]);
    }
    const index_t classes = static_cast<index_t>(tags.front().size()) + 1;  // [background, tags]
    typename C::plan c_local;
    auto& cp = plan_in_workspace(crf, cex, images_only(imgs), shape{images, classes, h, w}, c_local);
    walk::device_unaries(cex.tag, s, h, w, cfg.stride, classes, cfg.crf_clip, cp.unary);
    auto crf_labels = crf.labels(cex, cp);
    for (std::size_t i = 0; i < imgs.size(); ++i) out[i].rw_crf = cam::expand_labels(crf_labels[i], tags[i]);
    return out;
  }

  static label_map flip(const label_map& l) {
    label_map out(l.height(), l.width());
    for (index_t y = 0; y < l.height(); ++y)
      for (index_t x = 0; x < l.width(); ++x) out(y, x) = l(y, l.width() - 1 - x);
    return out;
  }
};

/// AffinityNet with its label synthesis's heavy steps on backend Tag: the affinity graph's eq. 3
/// (graph::device_radius<Tag>), the random walk (walk::device_sparse_power<Tag>) and the dense
/// CRF of the confident regions and of the pseudo-labels (crf::device_mean_field<Tag>); the
/// networks stay on the host. Tag: cuda_t
/// (a .cu file with wsss/cuda.hpp), opencl_t (wsss/opencl.hpp), thrust_omp_t or a host tag.
/// Its configuration text is affinitynet<>'s (the device slots record the host policies they
/// reproduce), so a run made with one is resumed or labelled with the other.
template <class Tag>
using affinitynet_on =
    affinitynet<pool::gap, graph::device_radius<Tag>, walk::device_sparse_power<Tag>, crf::device_mean_field<Tag>>;

}  // namespace wsss::methods
