// SPDX-License-Identifier: MIT
// wsss/attention/excitation.hpp — the parent-to-child transitions of the top-down pass (attention
// paper eq. 5-6, Excitation Backprop's rule, reference-semantics §4) for every layer type of our
// networks, and a network written as the chain of layers the pass walks down
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/core/view.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"

namespace wsss::attention {

/// A convolution (atrous, 1x1 and fully connected alike) with an optional ReLU after it. A
/// BatchNorm in evaluation mode is folded into weight and bias (it is a per-channel affine map,
/// so the folded convolution is the same function and eq. 6 sees its effective weights).
struct conv_layer {
  std::string name;
  tensor weight;  ///< O x C x KH x KW
  tensor bias;    ///< O (empty: none)
  ad::conv2d_config conv{};
  bool relu = false;
};
/// Max pooling: winner-take-all, the whole mass of a parent goes to its arg-max child.
struct max_pool_layer {
  std::string name;
  ad::pool2d_config pool{};
};
/// Average pooling: a linear map with positive weights 1/area, so eq. 6 splits a parent's mass in
/// proportion to its children's activations.
struct avg_pool_layer {
  std::string name;
  ad::pool2d_config pool{};
  bool count_include_pad = true;
};
using layer = std::variant<conv_layer, max_pool_layer, avg_pool_layer>;

inline const std::string& layer_name(const layer& l) {
  return std::visit([](const auto& v) -> const std::string& { return v.name; }, l);
}

/// A network from some layer up to its score maps, bottom to top. forward() gives every layer's
/// input, the child activations eq. 6 reads.
struct layer_chain {
  std::vector<layer> layers;
  std::string input = "input";  ///< the name of the bottom layer's input (its producer's)

  /// The chain's activations for one input x (1 x C x H x W, the bottom layer's input):
  /// acts[k] is layer k's input, acts.back() the top layer's output (the score maps).
  std::vector<tensor> forward(tensor x) const;
};

namespace detail {

/// W+ = max(W, 0) (eq. 6 counts only excitatory connections).
inline tensor positive_part(const tensor& w) {
  tensor p = w;
  for (index_t i = 0; i < p.numel(); ++i) p[i] = std::max(p[i], 0.0f);
  return p;
}

/// x repeated k times along the batch axis (pooling's routing is per image).
inline tensor repeat_batch(const tensor& x, index_t k) {
  shape s = x.shape();
  s[0] = k;
  tensor r(s);
  for (index_t i = 0; i < k; ++i) std::copy(x.data(), x.data() + x.numel(), r.data() + i * x.numel());
  return r;
}

/// P_in = x * L^T(P_out / Z), Z = L(x): eq. 6 for a linear map L with non-negative weights
/// (the conv with W+ and no bias, an average pool), every parent's mass split over its
/// children in proportion to w+ * a; a parent with Z = 0 passes nothing (EB's rule).
/// `adjoint(r, out)` adds L^T r into out, r being K x shape(Z).
template <class Adjoint>
tensor split_by_activation(const tensor& x, const tensor& z, const tensor& p_out, Adjoint&& adjoint) {
  const index_t k = p_out.dim(0), per = z.numel();
  if (p_out.numel() != k * per)
    throw_shape("attention::transition", "signal ", p_out.shape(), " does not match the layer's output ", z.shape());
  tensor r = p_out;
  for (index_t c = 0; c < k; ++c)
    for (index_t i = 0; i < per; ++i) {
      float& v = r[c * per + i];
      v = z[i] > 0.0f ? v / z[i] : 0.0f;
    }
  shape s = x.shape();
  s[0] = k;
  tensor in(s);
  adjoint(r, in);
  const index_t xn = x.numel();
  for (index_t c = 0; c < k; ++c)
    for (index_t i = 0; i < xn; ++i) in[c * xn + i] *= x[i];
  return in;
}

}  // namespace detail

/// A layer's output for input x.
inline tensor forward(const layer& l, const tensor& x) {
  return std::visit(
      [&](const auto& v) -> tensor {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, conv_layer>) {
          tensor y = ad::conv2d_forward(x, v.weight, v.bias.empty() ? nullptr : &v.bias, v.conv);
          if (v.relu)
            for (index_t i = 0; i < y.numel(); ++i) y[i] = std::max(y[i], 0.0f);
          return y;
        } else {
          ad::tape t;
          t.set_grad_enabled(false);
          if constexpr (std::is_same_v<T, max_pool_layer>) return ad::max_pool2d(t.leaf(x), v.pool).value();
          else return ad::avg_pool2d(t.leaf(x), v.pool, v.count_include_pad).value();
        }
      },
      l);
}

/// Eq. 5-6 for one layer: the top-down signal on the layer's output neurons (K x O x H' x W',
/// one slice per class) becomes the signal on its input neurons (K x C x H x W), given the
/// layer's input activations x (1 x C x H x W, non-negative: post-ReLU or pooled). Every parent
/// j passes its mass P(a_j) to its children i with probability w+_ij a_i / sum_i' w+_i'j a_i'
/// (conv, average pool), or all of it to the arg-max child (max pool); a ReLU after a conv
/// passes the signal through (its output neurons are the parents). Mass is conserved for every
/// parent with a positive denominator.
inline tensor transition(const layer& l, const tensor& x, const tensor& p_out) {
  expect_rank(x, 4, "attention::transition", "activations", "1 x C x H x W");
  if (x.dim(0) != 1) throw_shape("attention::transition", "activations must hold one image, got ", x.shape());
  expect_rank(p_out, 4, "attention::transition", "signal", "K x O x H x W");
  return std::visit(
      [&](const auto& v) -> tensor {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, conv_layer>) {
          const tensor wp = detail::positive_part(v.weight);
          const tensor z = ad::conv2d_forward(x, wp, nullptr, v.conv);
          return detail::split_by_activation(x, z, p_out, [&](const tensor& r, tensor& in) {
            const auto g = ad::detail::conv2d_geometry(x, wp, nullptr, v.conv, "attention::transition");
            ad::detail::conv_backward_data(g, wp.data(), wp.dim(0), r.data(), r.dim(0), in.data());
          });
        } else {
          // Pooling routes per image: run it on K copies of x and send the signal back through
          // its backward (max: to the switches; average: L^T).
          ad::tape t;
          const ad::var in = t.leaf(detail::repeat_batch(x, p_out.dim(0)), true);
          if constexpr (std::is_same_v<T, max_pool_layer>) {
            t.backward(ad::max_pool2d(in, v.pool), p_out);
            return *t.grad(in);
          } else {
            const ad::var y = ad::avg_pool2d(in, v.pool, v.count_include_pad);
            const tensor z = forward(l, x);
            return detail::split_by_activation(x, z, p_out, [&](const tensor& r, tensor& acc) {
              t.backward(y, r);
              as_array(acc) += as_array(*t.grad(in));
            });
          }
        }
      },
      l);
}

inline std::vector<tensor> layer_chain::forward(tensor x) const {
  std::vector<tensor> acts;
  acts.reserve(layers.size() + 1);
  acts.push_back(std::move(x));
  for (const layer& l : layers) acts.push_back(attention::forward(l, acts.back()));
  return acts;
}

/// A conv layer's effective weights: the conv's own, with an evaluation-mode BatchNorm after
/// it folded in (y = g (conv(x) + b - mean) / sqrt(var + eps) + beta).
inline conv_layer fold_conv(std::string name, const nn::conv2d& c, const nn::batch_norm2d* bn, bool relu) {
  conv_layer l{std::move(name), c.weight.value, c.cfg.bias ? c.bias.value : tensor{}, c.cfg.conv, relu};
  if (!bn) return l;
  const index_t o = l.weight.dim(0), per = l.weight.numel() / o;
  if (l.bias.empty()) l.bias = tensor({o});
  for (index_t k = 0; k < o; ++k) {
    const float s = bn->weight.value[k] / std::sqrt(bn->running_var.value[k] + bn->cfg.eps);
    for (index_t i = 0; i < per; ++i) l.weight[k * per + i] *= s;
    l.bias[k] = (l.bias[k] - bn->running_mean.value[k]) * s + bn->bias.value[k];
  }
  return l;
}

/// DeepLab-LargeFOV above layer `from` as a chain (evaluation mode: dropout is the identity,
/// BatchNorm uses running statistics): from "pool3" (the default input of the chain, output
/// stride 8), "pool4" or "pool5a" up to fc8's scores. All these layers share fc8's grid, so one
/// lateral matrix D serves the whole pass.
inline layer_chain deeplab_chain(const nn::deeplab_largefov& net, std::string_view from = "pool3") {
  using nn::deeplab_largefov;
  layer_chain ch;
  ch.input = "pool3";
  const auto& f = net.features;
  const std::vector<std::pair<const nn::conv2d*, std::string>> convs{
      {&f.conv4_1, "conv4_1"}, {&f.conv4_2, "conv4_2"}, {&f.conv4_3, "conv4_3"},
      {&f.conv5_1, "conv5_1"}, {&f.conv5_2, "conv5_2"}, {&f.conv5_3, "conv5_3"}};
  for (std::size_t k = 0; k < convs.size(); ++k) {
    const std::size_t bn_index = k + 7;  // conv4_1 is VGG16's eighth convolution
    ch.layers.emplace_back(fold_conv(convs[k].second, *convs[k].first, f.bn.empty() ? nullptr : &f.bn[bn_index], true));
    if (k == 2) ch.layers.emplace_back(max_pool_layer{"pool4", deeplab_largefov::keep_pool});
    if (k == 5) {
      ch.layers.emplace_back(max_pool_layer{"pool5", deeplab_largefov::keep_pool});
      ch.layers.emplace_back(avg_pool_layer{"pool5a", deeplab_largefov::keep_pool, true});
    }
  }
  ch.layers.emplace_back(fold_conv("fc6", net.fc6, nullptr, true));
  ch.layers.emplace_back(fold_conv("fc7", net.fc7, nullptr, true));
  ch.layers.emplace_back(fold_conv("fc8", net.fc8, nullptr, false));
  if (from != "pool3") {
    const auto it = std::find_if(ch.layers.begin(), ch.layers.end(), [&](const layer& l) { return layer_name(l) == from; });
    if (it == ch.layers.end() || it + 1 == ch.layers.end())
      throw_value("attention::deeplab_chain", "unknown layer '", from, "' (pool3, pool4, pool5, pool5a, conv4_* or conv5_*, fc6, fc7)");
    ch.input = std::string(from);
    ch.layers.erase(ch.layers.begin(), it + 1);
  }
  return ch;
}

}  // namespace wsss::attention
