// SPDX-License-Identifier: MIT
// wsss/crf/device_crf_rnn.hpp — CRF-RNN (learned compatibility and kernel weights) with every
// mean-field iteration, forward and backward, on a device backend
#pragma once

#include <string_view>
#include <utility>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/crf_rnn.hpp"
#include "wsss/crf/device_mean_field.hpp"

namespace wsss::crf {

/// crf_rnn<> (a DifferentiableCrf and wsss::Trainable) on backend Tag: the same config,
/// parameters ("<prefix>.compat" mu, K x K, from -I; "<prefix>.kernel_weights") and results up
/// to float rounding, with device_mean_field<Tag>'s lattices and steps and the update
/// a = -U - mu (w_s F_s Q + w_a F_a Q) there. record's backward runs there too and adds into
/// compat.grad and kernel_weights.grad, so a network trains with its CRF-RNN on the device.
/// Transfers: prepare as device_mean_field's; run / record 2 uploads (U, mu) and 1 download;
/// backward 1 upload (g_Q) and 3 downloads (g_U, g_w, g_mu).
///   crf::device_crf_rnn<cuda_t> crf({.iterations = 5, .labels = 21});  // or opencl_t, thrust_omp_t
///   auto pl = crf.prepare(ex, batch, unary.shape());
///   ad::var q = crf.record(tape, pl, ad::scale(logits, -1.0f));
template <class Tag = omp_t>
class device_crf_rnn {
 public:
  static constexpr std::string_view name = "crf::device_crf_rnn";
  static constexpr std::string_view computes = crf_rnn<>::name;  ///< wsss::recorded_name
  using backend_type = Tag;
  using config = typename crf_rnn<>::config;
  using plan = typename device_mean_field<Tag>::plan;

  config cfg{};
  ad::parameter compat;
  ad::parameter kernel_weights;

  device_crf_rnn() : device_crf_rnn(config{}) {}
  explicit device_crf_rnn(config c, std::string_view prefix = "crf") : cfg(std::move(c)) {
    crf_rnn<> host(cfg, prefix);  // checks the config; its initial parameters
    compat = std::move(host.compat);
    kernel_weights = std::move(host.kernel_weights);
    engine_ = device_mean_field<Tag>(mean_field_config{cfg.kernels, cfg.iterations});
  }

  /// compat, then kernel_weights (crf_rnn's order).
  template <class F>
  void visit_params(F&& f) {
    f(compat);
    f(kernel_weights);
  }

  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const { return engine_.prepare(ex, b, s); }

  /// q = Q_T with the current parameters (no tape).
  void run(const exec<Tag>&, plan& pl, const tensor& unary, tensor& q) const {
    typename op::saved s;
    q = op{&engine_, &pl}.forward(s, unary, compat.value, kernel_weights.value);
  }

  /// Q_T on the tape from unary energies (a network's logits z give U = -z).
  ad::var record(ad::tape& t, plan& pl, ad::var unary) {
    return ad::apply(t, op{&engine_, &pl}, unary, t.param(compat), t.param(kernel_weights));
  }

 private:
  using op = device_mean_field_op<Tag>;
  device_mean_field<Tag> engine_;
};

static_assert(DifferentiableCrf<device_crf_rnn<cpu_t>>);
static_assert(Trainable<device_crf_rnn<cpu_t>>);

}  // namespace wsss::crf

namespace wsss {
/// device_crf_rnn runs where device_mean_field does.
template <class Tag>
struct supports<crf::device_crf_rnn<Tag>, Tag> : std::true_type {};
}  // namespace wsss
