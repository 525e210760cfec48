// SPDX-License-Identifier: MIT
// attention_cuda.cu — `wsss run attention --device cuda`: the attention + CRF-RNN method with the
// CRF-RNN's iterations on the default CUDA stream, the network and the attention QP on the CPU.
// Built by nvcc when CMake is configured with -DWSSS_CLI_CUDA=ON.
#include <type_traits>

#include "cuda_methods.hpp"
#include "wsss/attention/multiplicative.hpp"
#include "wsss/attention/projected_gradient.hpp"
#include "wsss/crf/device_crf_rnn.hpp"
#include "wsss/cuda.hpp"

namespace wsss_cli {

wsss::methods::run_summary attention_cuda::run(wsss::methods::run_context& cx) const {
  require_cuda_device();
  const auto with = [&]<class S>(std::type_identity<S>) {
    return wsss::methods::attention_crf<S, wsss::crf::device_crf_rnn<wsss::cuda_t>>(cfg).run(cx);
  };
  if (solver == "gradient") return with(std::type_identity<wsss::attention::projected_gradient>{});
  if (solver == "multiplicative") return with(std::type_identity<wsss::attention::multiplicative>{});
  if (solver == "coordinate") return with(std::type_identity<wsss::attention::coordinate_ascent>{});
  wsss::throw_value("wsss", "run attention --device cuda: unknown solver '", solver, "' (coordinate, gradient or multiplicative)");
}

}  // namespace wsss_cli
