// SPDX-License-Identifier: MIT
// wsss/pool/fcl.hpp — the learned fully connected aggregation (FCL) of Roy & Todorovic,
// CVPR 2017, sec. 3 "Aggregation" (and Table 5): each class heat map is fully connected to
// that class's output unit
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/config.hpp"
#include "wsss/nn/module.hpp"
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
WSSS_HD inline float fcl_dz(float g, float y, bool sigmoid) noexcept { return sigmoid ? g * y * (1.0f - y) : g; }

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

/// y = fcl(x; W, b), N x C, on `tag` (shapes checked by the caller).
template <class Tag>
void fcl_forward(const Tag& tag, const tensor& x, const tensor& w, const tensor& b, bool sigmoid, tensor& y) {
  const index_t N = x.dim(0), C = w.dim(0), hw = w.dim(1);
  ensure_shape(y, shape{N, C});
  launch(tag, N * C, x.numel(), fcl_forward_kernel{x.data(), w.data(), b.data(), y.data(), C, hw, sigmoid});
}

/// The FCL's backward on `tag`: gx (=|+=, `add`) dL/dx when gx is given; gw += dL/dW and
/// gb += dL/db where not null.
template <class Tag>
void fcl_backward(const Tag& tag, const tensor& x, const tensor& w, const tensor& y, const tensor& g, bool sigmoid,
                  float* gx, bool add, float* gw, float* gb) {
  const index_t N = x.dim(0), C = w.dim(0), hw = w.dim(1);
  if (gx) launch(tag, N * C, x.numel(), fcl_input_grad_kernel{g.data(), y.data(), w.data(), gx, C, hw, sigmoid, add});
  if (gw || gb) launch(tag, C, x.numel(), fcl_param_grad_kernel{g.data(), y.data(), x.data(), gw, gb, N, C, hw, sigmoid});
}

}  // namespace detail

/*  p(y|x) = sigmoid( sum_i W[y,i] f_i(y) + b[y] )  per class y: the paper's "each segmentation
    heat map {f_i(y) : i} is fully connected to the corresponding output unit", giving "K
    normalized object scores" that its eq. 14 uses as independent Bernoulli probabilities, so
    the normalisation is a per-class sigmoid (config.sigmoid = false returns the logit for a
    loss on logits). W is C x (H*W), b is C. The paper gives no initialisation: W starts at
    1/(H*W) (the FCL starts as GAP) and b at 0. The map size is fixed by the weights.
    Trainable: weight and bias are named "<prefix>.weight" / "<prefix>.bias" (prefix given at
    construction, "fcl" by default) and visited by visit_params like a layer's.            */
class fcl {
 public:
  static constexpr std::string_view name = "pool::fcl";
  struct config {
    index_t classes = 21;
    index_t height = 41;
    index_t width = 41;
    bool sigmoid = true;
  };
  struct plan : plan_base {
    const tensor* x = nullptr;  ///< the run's input: must stay alive and unchanged until backward
    tensor y;                   ///< the run's output
  };
  config cfg;
  ad::parameter weight;  ///< "<prefix>.weight", C x (H*W)
  ad::parameter bias;    ///< "<prefix>.bias", C

  fcl() : fcl(config{}) {}
  explicit fcl(const config& c, const std::string& prefix = "fcl") : cfg(c) {
    validate(c);
    const index_t hw = c.height * c.width;
    weight = ad::parameter(nn::join_name(prefix, "weight"), tensor({c.classes, hw}, 1.0f / static_cast<float>(hw)));
    bias = ad::parameter(nn::join_name(prefix, "bias"), tensor({c.classes}));
  }

  static void validate(const config& c) {
    if (c.classes <= 0 || c.height <= 0 || c.width <= 0)
      throw_value(name, "classes, height and width must be positive, got ", c.classes, ", ", c.height, ", ", c.width);
  }
  /// Throws unless s is N x classes x height x width.
  static void check_input(const config& c, const shape& s) {
    detail::check_scores(s, name);
    if (s[1] != c.classes || s[2] != c.height || s[3] != c.width)
      throw_shape(name, "scores must be N x ", c.classes, " x ", c.height, " x ", c.width, " (the weights' size), got ", s);
  }
  /// Throws unless W is classes x (height*width) and b is classes.
  static void check_params(const config& c, const tensor& w, const tensor& b) {
    expect_shape(w, shape{c.classes, c.height * c.width}, name, "weight");
    expect_shape(b, shape{c.classes}, name, "bias");
  }

  template <class F>
  void visit_params(F&& f) {
    f(weight);
    f(bias);
  }

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    validate(cfg);
    check_input(cfg, s);
    return detail::plan_for<plan>(s, name);
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& s, tensor& out) const {
    require_backend<fcl, Tag>();
    detail::begin_run(pl, s, out, name);
    check_params(cfg, weight.value, bias.value);
    detail::fcl_forward(ex.tag, s, weight.value, bias.value, cfg.sigmoid, out);
    pl.x = &s;
    pl.y = out;
  }

  /// Assigns g_in and ADDS dL/dW, dL/db into weight.grad and bias.grad (trainable ones).
  template <class Tag>
  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) {
    require_backend<fcl, Tag>();
    detail::begin_backward(pl, g, g_in, name);
    if (!pl.x || pl.x->shape() != pl.in) throw_value(name, "the forward input is gone or was reshaped before backward");
    check_params(cfg, weight.value, bias.value);
    detail::fcl_backward(ex.tag, *pl.x, weight.value, pl.y, g, cfg.sigmoid, g_in.data(), false, grad_of(weight),
                         grad_of(bias));
  }

  /// Records the FCL with its weight and bias as tape parameters (tape.backward adds their
  /// gradients into weight.grad and bias.grad). Defined after fcl_op.
  ad::var record(ad::tape& t, const plan& pl, const ad::var& s);

 private:
  /// p.grad sized to p.value (zeros when new), or null when p is frozen.
  static float* grad_of(ad::parameter& p) {
    if (!p.trainable) return nullptr;
    if (p.grad.shape() != p.value.shape()) p.grad = tensor(p.value.shape());
    return p.grad.data();
  }
};

/// The Op of pool::fcl: inputs (x, W, b), so that the tape routes dL/dW and dL/db into the
/// parameters through tape.param(). Runs on the default exec (omp).
struct fcl_op {
  static constexpr std::string_view name = "pool::fcl";
  struct saved {};
  fcl::config cfg;

  tensor forward(saved&, const tensor& x, const tensor& w, const tensor& b) const {
    fcl::check_input(cfg, x.shape());
    fcl::check_params(cfg, w, b);
    tensor y;
    detail::fcl_forward(omp, x, w, b, cfg.sigmoid, y);
    return y;
  }
  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    auto data = [](tensor* t) { return t ? t->data() : nullptr; };
    detail::fcl_backward(omp, *xs[0], *xs[1], y, gy, cfg.sigmoid, data(gxs[0]), true, data(gxs[1]), data(gxs[2]));
  }
};
static_assert(ad::Op<fcl_op>);

inline ad::var fcl::record(ad::tape& t, const plan& pl, const ad::var& s) {
  detail::check_prepared(pl, s.value().shape(), name);
  return ad::apply(t, fcl_op{cfg}, s, t.param(weight), t.param(bias));
}

static_assert(Pooler<fcl>);
static_assert(Trainable<fcl>);

}  // namespace wsss::pool
