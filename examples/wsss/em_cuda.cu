// SPDX-License-Identifier: MIT
// em_cuda.cu — `wsss run em --device cuda`: EM for DeepLab with the test-time dense CRF (its
// cross-validation on the held-out images and the val predictions') on the default CUDA stream,
// the network and the E-step on the CPU. Built by nvcc when CMake is configured with
// -DWSSS_CLI_CUDA=ON.
#include <variant>

#include "cuda_methods.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/cuda.hpp"

namespace wsss_cli {

wsss::methods::run_summary em_cuda::run(wsss::methods::run_context& cx) const {
  require_cuda_device();
  return std::visit(
      [&]<class E>(const E& e) {
        return wsss::methods::em_deeplab<E, wsss::crf::device_mean_field<wsss::cuda_t>>(cfg, e).run(cx);
      },
      estep);
}

}  // namespace wsss_cli
