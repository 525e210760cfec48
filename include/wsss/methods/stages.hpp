// SPDX-License-Identifier: MIT
// wsss/methods/stages.hpp — stages more than one method runs: a classification network trained
// on image tags (AffinityNet's CAM network, SEC's localisation network), its top-1 accuracy on
// single-object images (the pretraining check), augmented mini-batches, and DeepLab's test
// time (SEC, EM): class probabilities upsampled to the image, then the dense CRF
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/ops/softmax.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/cam/background.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/data/augment.hpp"
#include "wsss/losses/constrain.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/losses/multilabel.hpp"
#include "wsss/methods/run.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/preprocess.hpp"
#include "wsss/nn/weights.hpp"

namespace wsss::methods {

/// A mini-batch's images, each through its own random transform (returned for the labels).
inline std::pair<std::vector<rgb_image>, std::vector<data::transform>> augmented(const io::voc_dataset& data,
                                                                                 std::span<const std::size_t> idx,
                                                                                 const data::augment_config& aug, rng& g) {
  std::pair<std::vector<rgb_image>, std::vector<data::transform>> out;
  for (std::size_t j : idx) {
    const rgb_image img = data.image(j);
    out.second.push_back(data::transform::draw(aug, img.height(), img.width(), g));
    out.first.push_back(out.second.back().apply(img));
  }
  return out;
}

/// How a tag classifier is trained: its schedule, augmentation and input normalisation.
struct tag_training {
  const train_config& schedule;
  const data::augment_config& augment;
  const nn::normalization& input;
  std::uint64_t seed;
};

/// Trains a classification network on the run's image tags with the multi-label soft-margin
/// loss (psa, SPN eq. 4) over the C - 1 foreground classes, in cx's folder nets/<net_name>.
/// scores(tape, x, batch) records the N x (C - 1) logits of the normalised images x; the batch
/// carries the images and tags (what a tag-dependent pooler's plan reads).
template <class Net, class Scores>
void train_on_tags(run_context& cx, Net& net, std::string_view net_name, const tag_training& how, Scores&& scores) {
  const auto& data = cx.train();
  const losses::multilabel loss({.classes = cx.classes() - 1});
  train(net, data.size(), how.schedule, how.seed, cx.net_io(net_name), [&](ad::tape& t, std::span<const std::size_t> idx, rng& g) {
    const auto batch_images = augmented(data, idx, how.augment, g);
    const std::vector<rgb_image>& imgs = batch_images.first;
    std::vector<tag_set> tags;
    for (std::size_t j : idx) tags.push_back(data.tags(j));
    const batch b{.images = imgs, .tags = tags};
    const ad::var s = scores(t, t.leaf(nn::normalize(std::span<const rgb_image>(imgs), how.input)), b);
    auto pl = loss.prepare(cx.ex(), b, s.shape());
    return step_result{loss.record(t, pl, s), {}};
  });
}

/// Top-1 accuracy of a tag classifier on the single-tag images of the run's val split (tags from
/// the masks): the class of the largest of the C - 1 scores against the one tag. scores(tape, x)
/// records the 1 x (C - 1) logits of one normalised image. -1 without a val split or without
/// single-tag images.
template <class Scores>
double single_tag_top1(const run_context& cx, const nn::normalization& input, Scores&& scores) {
  if (!cx.has_val()) return -1.0;
  const io::voc_dataset val(cx.options().data, cx.options().val_split, {.num_classes = cx.classes()});
  std::size_t right = 0, single = 0;
  for (std::size_t i = 0; i < val.size(); ++i) {
    const tag_set tags = val.tags(i);
    if (tags.size() != 1) continue;
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    const tensor s = scores(t, t.leaf(nn::normalize(val.image(i), input))).value();
    const auto best = std::max_element(s.begin(), s.end()) - s.begin();  // class best + 1
    right += static_cast<int>(best) + 1 == tags.front();
    ++single;
  }
  return single ? static_cast<double>(right) / static_cast<double>(single) : -1.0;
}

/// The dense CRF's MAP labelling (channel indices) of per-pixel scores p (K x H x W, each
/// pixel's scores normalised to a distribution here, then clipped at `clip` for the unary) on
/// the image; the CRF's plan is kept in ex's workspace, so the next image reuses its buffers.
template <crf::CrfEngine C, class Tag>
label_map crf_labels(const C& crf, const exec<Tag>& host, const rgb_image& img, tensor p, float clip) {
  const auto ex = policy_exec(crf, host);  // the CRF's backend (a device engine's, else host's)
  cam::normalise_pixels(p);
  const index_t k = p.dim(0), h = p.dim(1), w = p.dim(2);
  tensor u = crf::unary_from_probabilities(p, clip);
  u.reshape({1, k, h, w});
  typename C::plan local;
  auto& plan = plan_in_workspace(crf, ex, images_only(std::span<const rgb_image>(&img, 1)), u.shape(), local);
  // A device engine takes the argmax there (same first-maximum rule): a byte per pixel comes
  // back instead of K floats.
  if constexpr (requires { crf.labels(ex, plan, u); }) return std::move(crf.labels(ex, plan, u).front());
  tensor q;
  crf.run(ex, plan, u, q);
  q.reshape({k, h, w});
  return argmax_labels(q);
}

/// DeepLab-LargeFOV as the scenes presets of SEC, EM and attention + CRF-RNN use it: 1/8 width
/// with BatchNorm (from random weights the plain narrow VGG16 stays at the class prior), fc6
/// rate 3 for the 17 x 17 scores of 128 x 128 inputs, no dropout, unit-scaled RGB (our
/// backbone, `wsss pretrain sec`, is trained from scratch on those).
template <class Config>
void scenes_deeplab(Config& c) {
  c.net.width = 1.0 / 8;
  c.net.fc6_dilation = 3;
  c.net.dropout = 0.0f;
  c.net.batch_norm = true;
  c.input = nn::imagenet_rgb;
  c.input_size = 128;
}
/// The Adam schedule of those presets (SEC's networks, attention + CRF-RNN's model).
inline constexpr train_config scenes_adam{.epochs = 20, .batch_size = 8, .update = optimizer::adam, .lr = 1e-4f,
                                          .momentum = 0.0f, .weight_decay = 0.0f, .poly_power = 0.9f};

/// An image as DeepLab-LargeFOV sees it (SEC, EM): resized to size x size (order 1, corners
/// aligned, as the reference's scipy zoom; the aspect is not kept).
inline rgb_image square_input(const rgb_image& img, index_t size) {
  return img.height() == size && img.width() == size ? img : losses::downscale_image(img, size, size);
}

/// DeepLab-LargeFOV with `outputs` classes (SEC, EM), its VGG16 + fc6 + fc7 from `backbone`
/// when given (fc8, and the backbone's own fc8 if any, left as initialised).
inline nn::deeplab_largefov deeplab_from(nn::deeplab_largefov::config net, index_t outputs,
                                         const std::filesystem::path& backbone, rng& g) {
  net.classes = outputs;
  nn::deeplab_largefov out(net, g);
  if (!backbone.empty()) nn::load_weights(out, backbone, {.allow_missing = true, .allow_unexpected = true});
  return out;
}

/// A segmentation network's class probabilities on one image (C x H x W at the image's size):
/// the softmax of its scores on the square input, upsampled (order 1, corners aligned).
template <class Net>
tensor class_probabilities(Net& net, const rgb_image& img, index_t size, const nn::normalization& input) {
  ad::tape t;
  t.set_training(false);
  ad::no_grad ng(t);
  const tensor s = ad::softmax(net(t, t.leaf(nn::normalize(square_input(img, size), input))), 1).value();
  tensor p = resize_bilinear(s, img.height(), img.width(), resize_mode::align_corners);
  p.reshape({p.dim(1), p.dim(2), p.dim(3)});
  return p;
}

/// A training schedule and an augmentation as lines of a method's describe() text.
inline void describe_schedule(std::ostream& os, std::string_view key, const train_config& t) {
  os << key << " = " << (t.update == optimizer::adam ? "adam" : "sgd") << ", epochs " << t.epochs << ", batch "
     << t.batch_size << ", lr " << t.lr << ", momentum " << t.momentum << ", weight decay " << t.weight_decay
     << ", poly " << t.poly_power;
  if (t.step_every > 0) os << ", step " << t.step_every << " x" << t.step_gamma;  // absent for poly: old runs still match
  os << "\n";
}
inline void describe_augment(std::ostream& os, std::string_view key, const data::augment_config& a) {
  os << key << " = scale " << a.min_scale << ".." << a.max_scale << ", flip " << a.flip << ", crop " << a.crop << "\n";
}

}  // namespace wsss::methods
