// SPDX-License-Identifier: MIT
// wsss/pool/fcl.hpp — the learned fully connected aggregation (FCL) of Roy & Todorovic,
// CVPR 2017, sec. 3 "Aggregation" (and Table 5): each class heat map is fully connected to
// that class's output unit
#pragma once

#include <cmath>
#include <string>
#include <string_view>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"

namespace wsss::pool {

namespace detail {

/// z[n,c] = sum_i W[c,i] x[n,c,i] + b[c];  y = sigmoid(z) when `sigmoid`, else y = z.
struct fcl_forward_kernel {
  const float* x;
  const float* w;
  const float* b;
  float* y;
  index_t C, hw;
  bool sigmoid;
  WSSS_HD void operator()(index_t k) const {
    const index_t c = k % C;
    const float* xp = x + k * hw;
    const float* wp = w + c * hw;
    const float z = static_cast<float>(b[c] + detail::dot(wp, xp, hw));
    y[k] = sigmoid ? 1.0f / (1.0f + std::exp(-z)) : z;
  }
};

/// dL/dz from dL/dy (y the forward output).
inline float fcl_dz(float g, float y, bool sigmoid) noexcept { return sigmoid ? g * y * (1.0f - y) : g; }

/// g_x[n,c,i] (=|+=) dz[n,c] W[c,i].
struct fcl_input_grad_kernel {
  const float* g;
  const float* y;
  const float* w;
  float* gx;
  index_t C, hw;
  bool sigmoid, add;
  WSSS_HD void operator()(index_t k) const {
    const float dz = fcl_dz(g[k], y[k], sigmoid);
    const float* wp = w + (k % C) * hw;
    float* q = gx + k * hw;
    if (add)
      for (index_t i = 0; i < hw; ++i) q[i] += dz * wp[i];
    else
      for (index_t i = 0; i < hw; ++i) q[i] = dz * wp[i];
  }
};

/// g_W[c,i] += sum_n dz[n,c] x[n,c,i]; g_b[c] += sum_n dz[n,c]. One index per class.
struct fcl_param_grad_kernel {
  const float* g;
  const float* y;
  const float* x;
  float* gw;  // may be null
  float* gb;  // may be null
  index_t N, C, hw;
  bool sigmoid;
  WSSS_HD void operator()(index_t c) const {
    for (index_t n = 0; n < N; ++n) {
      const index_t k = n * C + c;
      const float dz = fcl_dz(g[k], y[k], sigmoid);
      if (gb) gb[c] += dz;
      if (gw) {
        const float* xp = x + k * hw;
        float* q = gw + c * hw;
        for (index_t i = 0; i < hw; ++i) q[i] += dz * xp[i];
      }
    }
  }
};

}  // namespace detail

/*  p(y|x) = sigmoid( sum_i W[y,i] f_i(y) + b[y] )  per class y: the paper's "each segmentation
    heat map {f_i(y) : i} is fully connected to the corresponding output unit", giving "K
    normalized object scores" that its eq. 14 uses as independent Bernoulli probabilities, so
    the normalisation is a per-class sigmoid (config.sigmoid = false returns the logit for a
    loss on logits). W is C x (H*W), b is C. The paper gives no initialisation: W starts at
    1/(H*W) (the FCL starts as GAP) and b at 0. The map size is fixed by the weights.        */
class fcl {
 public:
  static constexpr std::string_view name = "pool::fcl";
  struct config {
    index_t classes = 21;
    index_t height = 41;
    index_t width = 41;
    bool sigmoid = true;
  };
  struct cache {
    wsss::shape in;
    const tensor* x = nullptr;  ///< the forward input: must stay alive and unchanged until backward
    tensor y;                   ///< the forward output
  };

  ad::parameter weight;  ///< "fcl.weight", C x (H*W)
  ad::parameter bias;    ///< "fcl.bias", C

  fcl() : fcl(config{}) {}
  explicit fcl(const config& c) : cfg_(c) {
    if (c.classes <= 0 || c.height <= 0 || c.width <= 0)
      throw_value(name, "classes, height and width must be positive, got ", c.classes, ", ", c.height, ", ", c.width);
    const index_t hw = c.height * c.width;
    weight = ad::parameter("fcl.weight", tensor({c.classes, hw}, 1.0f / static_cast<float>(hw)));
    bias = ad::parameter("fcl.bias", tensor({c.classes}));
  }
  const config& cfg() const noexcept { return cfg_; }

  void forward(const tensor& s, tensor& out, cache& c) const {
    check_input(cfg_, s);
    check_params(cfg_, weight.value, bias.value);
    const index_t N = s.dim(0), C = cfg_.classes, hw = cfg_.height * cfg_.width;
    detail::ensure_shape(out, shape{N, C});
    detail::launch(N * C, s.numel(),
                   detail::fcl_forward_kernel{s.data(), weight.value.data(), bias.value.data(), out.data(), C, hw, cfg_.sigmoid});
    c.in = s.shape();
    c.x = &s;
    c.y = out;
  }

  /// Writes g_in and ADDS dL/dW, dL/db into weight.grad and bias.grad.
  void backward(const tensor& g, const cache& c, tensor& g_in) {
    detail::check_grad(g, c.in, name);
    if (!c.x || c.x->shape() != c.in) throw_value(name, "the forward input is gone or was reshaped before backward");
    const index_t N = c.in[0], C = cfg_.classes, hw = cfg_.height * cfg_.width;
    detail::ensure_shape(g_in, c.in);
    detail::launch(N * C, c.in.numel(),
                   detail::fcl_input_grad_kernel{g.data(), c.y.data(), weight.value.data(), g_in.data(), C, hw, cfg_.sigmoid, false});
    size_grad(weight);
    size_grad(bias);
    detail::launch(C, c.in.numel(),
                   detail::fcl_param_grad_kernel{g.data(), c.y.data(), c.x->data(), weight.trainable ? weight.grad.data() : nullptr,
                                                 bias.trainable ? bias.grad.data() : nullptr, N, C, hw, cfg_.sigmoid});
  }

  /// Throws unless s is N x classes x height x width.
  static void check_input(const config& cfg_, const tensor& s) {
    detail::check_scores(s, name);
    if (s.dim(1) != cfg_.classes || s.dim(2) != cfg_.height || s.dim(3) != cfg_.width)
      throw_shape(name, "scores must be N x ", cfg_.classes, " x ", cfg_.height, " x ", cfg_.width, " (the weights' size), got ",
                  s.shape());
  }
  /// Throws unless W is classes x (height*width) and b is classes.
  static void check_params(const config& cfg_, const tensor& w, const tensor& b) {
    expect_shape(w, shape{cfg_.classes, cfg_.height * cfg_.width}, name, "weight");
    expect_shape(b, shape{cfg_.classes}, name, "bias");
  }

 private:
  static void size_grad(ad::parameter& p) {
    if (p.trainable && p.grad.shape() != p.value.shape()) p.grad = tensor(p.value.shape());
  }
  config cfg_;
};
static_assert(Pooler<fcl>);

}  // namespace wsss::pool
